#!/usr/bin/env bats
# The Riak KV 3.2.1 node image (node-images/riak.cfg), built from the source
# archives by `shoal image build` (cached across runs in the build cache), run
# by the agent on three lab hosts: the nodes start with nothing of Erlang on
# the hosts, form a ring by hand (riak admin cluster join / plan / commit
# inside the nodes), and a key PUT over HTTP on one node reads back from
# every node.  Distributed Erlang and epmd stay on each node's address; epmd
# does not linger as a zombie (tini is pid 1).
#
# Skipped, with the reason, only when the Riak sources are absent
# ($SHOAL_RIAK_SOURCES, else shared/vendor/riak beside the checkout).

load '../lab/helpers'
load agent_helpers

TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

riak_sources() {
	local d
	for d in "${SHOAL_RIAK_SOURCES:-}" "$TOP/../shared/vendor/riak" "$TOP/../../shared/vendor/riak"; do
		[ -n "$d" ] && [ -f "$d/MANIFEST.tsv" ] && { echo "$d"; return 0; }
	done
	return 1
}

# One SSH session per request, to host $H, as the operator does.
agent_call_all() {
	printf '%s\n' "$(jq -c '. + {id: 1}' <<<"$1")" | lab_ssh "$H" "$AGENT_BIN" connect
}

commit_to() {   # HOST FILE: drop FILE into HOST's blobs/tmp and commit it
	local hex
	hex=$(sha256sum "$2" | cut -d' ' -f1)
	cp "$2" "$LAB_DIR/hosts/$1/var-lib-shoal/blobs/tmp/up-$hex"
	H=$1 agent_call "{\"op\":\"blob.commit\",\"digest\":\"sha256:$hex\",\"tmp\":\"up-$hex\"}" | agent_ok
}

riak_conf() {   # ADDR: riak.conf as templates/riak renders it (every {{ }} filled)
	sed -e "s/{{ node.address }}/$1/g" -e "s/{{ node.id }}/riak/" \
		-e "s/{{ cluster.name }}/rk/" -e "s/{{ secret.cookie }}/$COOKIE/" \
		-e "s/{{ settings.ring_size }}/16/" -e "s/{{ settings.storage_backend }}/leveled/" \
		-e "s/{{ settings.transfer_limit }}/2/" -e "s/{{ settings.vnode_management_timer }}/10s/" \
		-e "s|{{ node.data_dir }}|/var/lib/riak|" -e "s/{{ node.port }}/8087/" \
		"$TOP/templates/riak/riak.conf.tmpl"
}

riak_node() {   # HOST: create and start the node riak-HOST on HOST
	local addr conf req
	addr=$(lab_addr "$1")
	conf=$(riak_conf "$addr")
	# a template variable riak_conf does not fill stops riak at boot
	if grep -o '{{[^}]*}}' <<<"$conf" >&2; then
		echo "riak_conf leaves the variables above unfilled" >&2
		return 1
	fi
	req=$(jq -cn --arg i "$RIAK_IMG" --arg n "riak-$1" --arg a "$addr" --arg conf "$conf" '{
		op: "node.create", cluster: "rk", node: $n, image: $i, start: true,
		memory: "1G", nofile: 65536, restart: "always", data_path: "/var/lib/riak",
		files: [{path: "/etc/riak/riak.conf", mode: 416, content: $conf}],
		argv: ["/usr/bin/tini", "-g", "--", "/usr/bin/env", ("ERL_EPMD_ADDRESS=" + $a),
		       "ERL_EPMD_PORT=4369", "/usr/sbin/riak", "foreground"]}')
	H=$1 agent_call "$req"
}

rexec() {   # HOST ARG...: run ARG... inside riak-HOST
	local h=$1
	shift
	H=$h agent_exec rk "riak-$h" "$@"
}

# riak admin exits 0 even when it failed: callers check its output.
wait_kv() {   # HOST
	local out
	for _ in $(seq 90); do
		out=$(rexec "$1" /usr/sbin/riak admin wait-for-service riak_kv 2>&1) &&
			grep -q 'riak_kv is up' <<<"$out" && return 0
		sleep 2
	done
	echo "riak-$1: riak_kv not up: $out" >&2
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
	COOKIE=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	STORE=$(mktemp -d /tmp/shoal-riak-store.XXXXXX)
	export COOKIE STORE
	# the source build is cached (SHOAL_BUILD_CACHE or ~/.cache/shoal/builds)
	SHOAL_HOME="$STORE" "$SHOAL_BUILD/shoal" --json image build "$TOP/node-images/riak.cfg" \
		>"$STORE/build.json"
	RIAK_IMG=$(jq -r .manifest "$STORE/build.json")
	export RIAK_IMG
	lab_setup 3
	local blobs="$STORE/oci/blobs/sha256" h d
	for h in h1 h2 h3; do
		H=$h agent_call '{"op":"hello"}' | agent_ok
		for d in $(jq -r '.config.digest, .layers[].digest' "$blobs/${RIAK_IMG#sha256:}") "$RIAK_IMG"; do
			commit_to "$h" "$blobs/${d#sha256:}"
		done
	done
}

setup() {
	[ -z "${RIAK_ABSENT:-}" ] || skip "$RIAK_ABSENT"
}

teardown_file() {
	[ -n "${RIAK_ABSENT:-}" ] && return 0
	lab_teardown
	rm -rf "$STORE"
}

@test "riak image: built from verified sources, reproducible, ERTS inside, no Erlang needed on hosts" {
	jq -e '.name == "riak" and .tag == "3.2.1"' "$STORE/build.json"
	# the second build takes the cached source build and gives the same image
	again=$(SHOAL_HOME="$STORE" "$SHOAL_BUILD/shoal" --json image build \
		"$TOP/node-images/riak.cfg" | jq -r .manifest)
	[ "$again" = "$RIAK_IMG" ]
	root="$STORE/rootfs"
	SHOAL_HOME="$STORE" "$SHOAL_BUILD/shoal" image unpack riak:3.2.1 "$root"
	ls -d "$root"/usr/lib/riak/erts-*/bin/beam.smp
	[ -x "$root/usr/sbin/riak" ]
	[ -f "$root/usr/lib/riak/lib/riak_kv-"*/ebin/riak_kv.app ] || ls "$root"/usr/lib/riak/lib/ | grep -q '^riak_kv-'
	# the hosts have no Erlang: every lab host sees the root's /usr, so
	# check the image does not reach for it
	! grep -rlq /usr/lib/erlang "$root/usr/lib/riak/bin" "$root/usr/lib/riak/releases"
}

@test "riak image: three nodes start through the agent and answer /ping on their own addresses" {
	for h in h1 h2 h3; do riak_node "$h" | agent_ok; done
	for h in h1 h2 h3; do
		addr=$(lab_addr "$h")
		for _ in $(seq 120); do
			[ "$(curl -s -m 2 "http://$addr:8098/ping")" = OK ] && break
			sleep 1
		done
		[ "$(curl -s -m 2 "http://$addr:8098/ping")" = OK ]
		run rexec "$h" /usr/sbin/riak ping
		[ "$output" = pong ]
	done
}

@test "riak image: epmd and distribution listen on the node's address only" {
	addr=$(lab_addr h2)
	run lab_exec h2 ss -Hltn
	echo "$output"
	echo "$output" | grep -q "$addr:4369"
	! echo "$output" | grep -qE '(0\.0\.0\.0|\*|\[::\]):(4369|8098|8087)\b'
}

@test "riak image: a ring of three formed by hand; a PUT on h1 reads back on every node" {
	for h in h1 h2 h3; do wait_kv "$h"; done
	a1=$(lab_addr h1)
	for h in h2 h3; do
		run rexec "$h" /usr/sbin/riak admin cluster join "riak@$a1"
		echo "$output"
		echo "$output" | grep -q 'Success: staged join request'
	done
	run rexec h1 /usr/sbin/riak admin cluster plan
	echo "$output"
	echo "$output" | grep -q 'join'
	run rexec h1 /usr/sbin/riak admin cluster commit
	echo "$output"
	echo "$output" | grep -q 'Cluster changes committed'
	for _ in $(seq 60); do
		out=$(rexec h1 /usr/sbin/riak admin member-status 2>&1)
		[ "$(grep -c '^valid' <<<"$out")" -eq 3 ] && break
		sleep 2
	done
	echo "$out"
	[ "$(grep -c '^valid' <<<"$out")" -eq 3 ]
	code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 -X PUT -H 'Content-Type: text/plain' \
		--data-binary 'from shoal' "http://$a1:8098/types/default/buckets/b/keys/k1?w=quorum")
	[ "$code" = 204 ] || [ "$code" = 200 ]
	for h in h1 h2 h3; do
		[ "$(curl -s -m 10 "http://$(lab_addr "$h"):8098/types/default/buckets/b/keys/k1")" = 'from shoal' ]
	done
}

@test "riak image: no zombie processes in a node (tini reaps what beam leaves)" {
	for h in h1 h2 h3; do
		run rexec "$h" ps -o pid,stat,comm
		echo "$output"
		echo "$output" | grep -qE '^ *1 .*tini'
		! echo "$output" | awk '$2 ~ /^Z/' | grep -q .
	done
}
