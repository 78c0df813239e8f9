#!/usr/bin/env bats
# Scenario: `shoal up` of cluster-specs/lab-riak.cfg on a 5-host lab forms a
# Riak KV ring with the Riak driver (riak admin cluster join / plan / commit
# inside the nodes): every member valid in Riak's own member-status and
# transfers settled; a second `up` changes nothing and joins nothing again;
# 1,000 keys PUT with w=quorum on one node read back from every node; env
# and status show the endpoints and the ring; `scale kv=4` takes a node out
# with hand-off and every key stays, `scale kv=5` joins a fresh one;
# `down --purge` leaves no Erlang process, epmd or port of the cluster on
# any host.  The image comes from the build cache (one cold
# build per machine, docs/riak.md).
#
# Skipped, with the reason, only when the Riak sources are absent
# ($SHOAL_RIAK_SOURCES, else shared/vendor/riak beside the checkout).

load 'up_helpers'

TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

riak_sources() {
	local d
	for d in "${SHOAL_RIAK_SOURCES:-}" "$TOP/../shared/vendor/riak" "$TOP/../../shared/vendor/riak"; do
		[ -n "$d" ] && [ -f "$d/MANIFEST.tsv" ] && { echo "$d"; return 0; }
	done
	return 1
}

setup_file() {
	export SHOAL_LAB_ID=${SHOAL_LAB_ID:-5}
	if ! SRC=$(riak_sources); then
		# bats 1.8 cannot skip from setup_file: each test skips in setup()
		export RIAK_ABSENT="outside input absent: the Riak sources (set SHOAL_RIAK_SOURCES to the archives of shared/vendor/riak/MANIFEST.tsv)"
		return 0
	fi
	export SHOAL_RIAK_SOURCES=$SRC
	up_setup 5 cluster-specs/lab-riak.cfg
}

setup() {
	[ -z "${RIAK_ABSENT:-}" ] || skip "$RIAK_ABSENT"
}

teardown_file() {
	[ -n "${RIAK_ABSENT:-}" ] && return 0
	up_teardown
}

# member-status as node $1 prints it (riak admin, inside the node).
member_status() {
	"$SHOAL" exec "$SPEC" "$1" -- /usr/sbin/riak admin member-status
}

# keys_put ADDR N: PUT key k1..kN = v1..vN with w=quorum through ADDR's HTTP
# (one curl for all); prints the HTTP codes, one a line.
keys_put() {
	local i cfg="$BATS_FILE_TMPDIR/put.curl"
	: >"$cfg"
	for i in $(seq 1 "$2"); do
		# `next` between entries only: after the last, curl wants one more URL
		[ "$i" -eq 1 ] || echo next >>"$cfg"
		printf 'url = "http://%s:8098/types/default/buckets/shoal/keys/k%d?w=quorum"\nrequest = "PUT"\nheader = "Content-Type: text/plain"\ndata-binary = "v%d"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
			"$1" "$i" "$i" >>"$cfg"
	done
	curl -s -m 600 -K "$cfg"
}

# keys_get ADDR N: how many of k1..kN read back through ADDR as v1..vN.
keys_get() {
	local i cfg="$BATS_FILE_TMPDIR/get.curl"
	: >"$cfg"
	for i in $(seq 1 "$2"); do
		[ "$i" -eq 1 ] || echo next >>"$cfg"
		printf 'url = "http://%s:8098/types/default/buckets/shoal/keys/k%d"\nwrite-out = "\\n"\n' \
			"$1" "$i" >>"$cfg"
	done
	curl -s -m 600 -K "$cfg" | grep -cxE 'v[0-9]+' | tr -d ' '
	# the values, not only their shape
	[ "$(curl -s -m 600 -K "$cfg" | head -n "$2" | paste -sd' ')" = "$(seq -f 'v%g' -s' ' 1 "$2")" ]
}

@test "up forms a ring of 5: every member valid and settled in Riak's own member-status" {
	run "$SHOAL" up --accept-new-host-keys "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"is up: 5 nodes"* ]]
	for n in kv-0 kv-3; do
		run member_status "$n"
		echo "$output"
		[ "$status" -eq 0 ]
		[ "$(grep -cE '^valid +[0-9.]+% +-- +riak@' <<<"$output")" -eq 5 ]
		[[ "$output" == *"Valid:5 / Leaving:0 / Exiting:0 / Joining:0 / Down:0"* ]]
		for h in h1 h2 h3 h4 h5; do
			grep -q "riak@$(lab_addr "$h")\$" <<<"$output"
		done
	done
}

@test "a second up reports 0 changes and stages nothing" {
	run "$SHOAL" -v up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 changes"* ]]
	# the driver only looked: one command in one node (member-status;
	# -v logs each exec), no join, plan or commit
	[ "$(grep -c 'exec_in_node: kv-' <<<"$output")" -eq 1 ]
	run member_status kv-4
	[[ "$output" == *"Valid:5 / Leaving:0 / Exiting:0 / Joining:0 / Down:0"* ]]
}

@test "1,000 keys PUT with w=quorum on one node read back from every node" {
	run keys_put "$(lab_addr h2)" 1000
	[ "$status" -eq 0 ]
	[ "$(grep -cxE '20[04]' <<<"$output")" -eq 1000 ]
	for h in h1 h2 h3 h4 h5; do
		run keys_get "$(lab_addr "$h")" 1000
		echo "$h: $output"
		[ "$status" -eq 0 ]
		[ "$output" = 1000 ]
	done
}

@test "env gives the protocol-buffers and HTTP endpoints" {
	run "$SHOAL" env "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	eval "$output"
	[ "$SHOAL_PORT" = 8087 ]
	[ "$SHOAL_HTTP" = "http://$(lab_addr h1):8098" ]
	[ "$(tr ',' '\n' <<<"$SHOAL_HTTP_SEEDS" | wc -l)" -eq 5 ]
	[ "$(curl -s -m 10 "$SHOAL_HTTP/ping")" = OK ]
}

@test "status shows the ring: 5 valid members, ownership balanced, transfers settled" {
	run "$SHOAL" status "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -cE ' running +ok +member .* valid [0-9.]+%')" -eq 5 ]
	[[ "$output" == *"service kv: cluster_state:ok, 5/5 nodes answer, ring_members 5, valid 5"*"all_members_valid yes, transfers_settled yes, ownership_balanced yes"* ]]
	run "$SHOAL" status --json "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	svc=$(jq -c '.services[0]' <<<"$output")
	[ "$(jq -r .cluster_state <<<"$svc")" = ok ]
	[ "$(jq -r .ring_members <<<"$svc")" -eq 5 ]
	[ "$(jq -r .valid <<<"$svc")" -eq 5 ]
	[ "$(jq -r .all_members_valid <<<"$svc")" = true ]
	[ "$(jq -r .transfers_settled <<<"$svc")" = true ]
	[ "$(jq -r .ownership_balanced <<<"$svc")" = true ]
	[ "$(jq '[.nodes[] | select(.health == "ok")] | length' <<<"$output")" -eq 5 ]
	[[ "$output" != *'"secrets"'* ]]
}

@test "scale kv=4: kv-4 leaves with hand-off, every key still reads back from the four" {
	run "$SHOAL" scale "$SPEC" kv=4
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"is up: 4 nodes"* ]]
	run member_status kv-1
	echo "$output"
	[[ "$output" == *"Valid:4 / Leaving:0 / Exiting:0 / Joining:0 / Down:0"* ]]
	! grep -q "riak@$(lab_addr h5)" <<<"$output"
	for h in h1 h3; do
		run keys_get "$(lab_addr "$h")" 1000
		echo "$h: $output"
		[ "$output" = 1000 ]
	done
	run lab_exec h5 pgrep -x beam.smp
	[ "$status" -ne 0 ]
}

@test "scale kv=5: a fresh kv-4 joins the ring of four; its keys read back there" {
	run "$SHOAL" scale "$SPEC" kv=5
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"is up: 5 nodes"* ]]
	run member_status kv-4
	echo "$output"
	[[ "$output" == *"Valid:5 / Leaving:0 / Exiting:0 / Joining:0 / Down:0"* ]]
	[ "$(grep -cE '^valid +[0-9.]+% +-- +riak@' <<<"$output")" -eq 5 ]
	run keys_get "$(lab_addr h5)" 1000
	echo "h5: $output"
	[ "$output" = 1000 ]
}

@test "down --purge leaves no Erlang process, epmd or port of the cluster on any host" {
	run "$SHOAL" down --purge "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	for h in h1 h2 h3 h4 h5; do
		run lab_exec "$h" sh -c 'pgrep -x beam.smp; pgrep -x epmd; ss -Hltn | grep -E ":(4369|8087|8098|8099|60[01][0-9]) "; ls /var/lib/shoal/nodes/lab-riak 2>/dev/null; true'
		echo "$h: $output"
		[ -z "$output" ]
	done
	[ ! -e "$SHOAL_STATE_DIR/lab-riak/state.json" ]
}
