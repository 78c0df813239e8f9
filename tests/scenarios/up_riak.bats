#!/usr/bin/env bats
# Scenario: `shoal up` of cluster-specs/lab-riak.cfg (its 5 hosts of a
# 7-host lab) forms a Riak KV ring with the Riak driver (riak admin cluster
# join / plan / commit inside the nodes): every member valid in Riak's own
# member-status and transfers settled; a second `up` changes nothing and
# joins nothing again; 1,000 keys PUT with w=quorum on one node read back
# from every node; env and status show the endpoints and the ring; with a
# writer running (PUT w=quorum through three nodes), `scale kv=7` joins two
# nodes on the lab's spare hosts h6 and h7 and `scale kv=5` takes them out
# with hand-off: no member left leaving, every acknowledged key and the
# 1,000 read back; `down --purge` leaves no Erlang process, epmd or port of
# the cluster on any host.  The image comes from the build cache (one cold
# build per machine, docs/riak.md).
#
# Skipped, with the reason, only when the Riak sources are absent
# ($SHOAL_RIAK_SOURCES, else shared/vendor/riak beside the checkout).

load 'riak_helpers'

setup_file() {
	# h6 and h7 join the spec for the scale to 7
	riak_setup_file 7 cluster-specs/lab-riak.cfg
}

setup() {
	[ -z "${RIAK_ABSENT:-}" ] || skip "$RIAK_ABSENT"
}

teardown_file() {
	[ -n "${RIAK_ABSENT:-}" ] && return 0
	up_teardown
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

@test "scale kv=7 with a writer running: kv-5 and kv-6 join on h6 and h7, the ring of 7 settles, every acknowledged key reads back" {
	spec_add_hosts h6 h7
	writer_start a "$(lab_addr h1)" "$(lab_addr h2)" "$(lab_addr h3)"
	run "$SHOAL" scale --accept-new-host-keys "$SPEC" kv=7
	writer_stop
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"is up: 7 nodes"* ]]
	run member_status kv-6
	echo "$output"
	[[ "$output" == *"Valid:7 / Leaving:0 / Exiting:0 / Joining:0 / Down:0"* ]]
	[ "$(grep -cE '^valid +[0-9.]+% +-- +riak@' <<<"$output")" -eq 7 ]
	grep -q "riak@$(lab_addr h7)\$" <<<"$output"
	acked=$(grep -c . "$BATS_FILE_TMPDIR/acked")
	echo "acknowledged during the scale: $acked"
	[ "$acked" -gt 0 ]
	run keys_read_list "$(lab_addr h7)" "$BATS_FILE_TMPDIR/acked"
	[ "$output" = "$acked" ]
	run keys_get "$(lab_addr h6)" 1000
	echo "h6: $output"
	[ "$output" = 1000 ]
}

@test "scale kv=5 with a writer running: kv-5 and kv-6 leave with hand-off, no member left leaving, every acknowledged key reads back" {
	before=$(grep -c . "$BATS_FILE_TMPDIR/acked")
	writer_start b "$(lab_addr h1)" "$(lab_addr h2)" "$(lab_addr h3)"
	run "$SHOAL" scale "$SPEC" kv=5
	writer_stop
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"is up: 5 nodes"* ]]
	run member_status kv-1
	echo "$output"
	[[ "$output" == *"Valid:5 / Leaving:0 / Exiting:0 / Joining:0 / Down:0"* ]]
	! grep -qE "riak@($(lab_addr h6)|$(lab_addr h7))\$" <<<"$output"
	acked=$(grep -c . "$BATS_FILE_TMPDIR/acked")
	echo "acknowledged: $before before, $acked in all"
	[ "$acked" -gt "$before" ]
	for h in h1 h4; do
		run keys_read_list "$(lab_addr "$h")" "$BATS_FILE_TMPDIR/acked"
		echo "$h: $output"
		[ "$output" = "$acked" ]
		run keys_get "$(lab_addr "$h")" 1000
		[ "$output" = 1000 ]
	done
	for h in h6 h7; do
		run lab_exec "$h" pgrep -x beam.smp
		[ "$status" -ne 0 ]
	done
}

@test "down --purge leaves no Erlang process, epmd or port of the cluster on any host" {
	run "$SHOAL" down --purge "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	for h in h1 h2 h3 h4 h5 h6 h7; do
		run lab_exec "$h" sh -c 'pgrep -x beam.smp; pgrep -x epmd; ss -Hltn | grep -E ":(4369|8087|8098|8099|60[01][0-9]) "; ls /var/lib/shoal/nodes/lab-riak 2>/dev/null; true'
		echo "$h: $output"
		[ -z "$output" ]
	done
	[ ! -e "$SHOAL_STATE_DIR/lab-riak/state.json" ]
}
