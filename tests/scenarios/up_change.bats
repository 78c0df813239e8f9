#!/usr/bin/env bats
# Scenario: changing a running Redis cluster's spec with `shoal up`.  A new
# setting restarts every node where it is, one at a time, replicas first,
# with its data; so does a new image; a master's replica takes its slots
# while it restarts, so no acknowledged write is lost; new ports move every
# node on its host and the cluster learns the new addresses; a setting Redis
# rejects stops at the first node, and the fixed spec repairs it.  Checked
# from what Redis reports.

load 'up_helpers'

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg
	export SPEC_T="$BATS_FILE_TMPDIR/lab-redis-timeout.cfg"
	export SPEC_P="$BATS_FILE_TMPDIR/lab-redis-ports.cfg"
	sed 's/cluster_node_timeout = 2000;/cluster_node_timeout = 2500;/' "$SPEC" >"$SPEC_T"
	sed 's/base = 7000;/base = 7300;/' "$SPEC_T" >"$SPEC_P"
	grep -q 'cluster_node_timeout = 2500;' "$SPEC_T"
	grep -q 'base = 7300;' "$SPEC_P"
}

teardown_file() {
	up_teardown
}

# every node of SPEC: "addr port" lines, from status --json
endpoints() {
	"$SHOAL" status --json "$1" | jq -r '.nodes[] | "\(.address) \(.port)"'
}

@test "a changed setting restarts each node in place, replicas first, keeping the data" {
	run "$SHOAL" up --accept-new-host-keys "$SPEC"
	[ "$status" -eq 0 ]
	redis_auth
	keys_write "$(lab_addr h1)" 7000
	# the plan names the setting, its old and new value (the state keeps
	# what each node's config was made from)
	run "$SHOAL" plan "$SPEC_T"
	echo "$output"
	[ "$(echo "$output" | grep -c '^~ change cache-[0-9] on h[0-9] (.*): settings.cluster_node_timeout: 2000 -> 2500; restart$')" -eq 6 ]
	[[ "$output" == *"Plan: 0 to create, 6 to change, 0 to remove."* ]]
	[[ "$output" != *"+ push"* ]]
	run "$SHOAL" plan --json "$SPEC_T"
	[ "$(echo "$output" | jq -c '[.actions[] | select(.action == "change") | .attributes[] | select(.name | startswith("settings.")) | [.name, .from, .to]] | unique')" = '[["settings.cluster_node_timeout","2000","2500"]]' ]
	# a state an older shoal wrote (format 1, no attributes) still plans
	# the change, saying only that the config changed
	state="$SHOAL_STATE_DIR/lab-redis/state.json"
	jq '.format = 1 | del(.nodes[].attrs)' "$state" >"$state.old"
	cp "$state" "$state.new"
	mv "$state.old" "$state"
	run "$SHOAL" plan "$SPEC_T"
	echo "$output"
	mv "$state.new" "$state"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c ': config changed (settings, resources or template)$')" -eq 6 ]
	run "$SHOAL" up "$SPEC_T"
	echo "$output"
	[ "$status" -eq 0 ]
	# one at a time: each restart is followed by its node's return
	order=$(echo "$output" | sed -n 's/^\(cache-[0-9]\) on h[0-9]: \(restarting\|back\)[:, ].*/\1 \2/p')
	echo "$order"
	[ "$(echo "$order" | wc -l)" -eq 12 ]
	[ "$(echo "$order" | awk 'NR % 2 == 1 && $2 != "restarting"' | wc -l)" -eq 0 ]
	[ "$(echo "$order" | awk 'NR % 2 == 0 && $2 != "back"' | wc -l)" -eq 0 ]
	# the replicas (cache-1, -3, -5) before the masters
	[ "$(echo "$order" | awk '$2 == "restarting" {print $1}' | head -3 | sort | tr '\n' ' ')" = "cache-1 cache-3 cache-5 " ]
	while read -r a p; do
		[ "$(rcli "$a" "$p" config get cluster-node-timeout | tail -1)" = 2500 ]
	done < <(endpoints "$SPEC_T")
	cluster_nodes_check "$(lab_addr h1)" 7000 3 3
	got=$(keys_read "$(lab_addr h2)" 7000)
	[ "$got" -eq 1000 ]
	run "$SHOAL" up "$SPEC_T"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 changes"* ]]
	jq -e '.format == 2 and ([.nodes[].attrs["settings.cluster_node_timeout"]] | unique) == ["2500"]' "$state"
}

@test "new ports: every node moves on its host, keeps its data, and the cluster follows" {
	run "$SHOAL" up "$SPEC_P"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c ': port 700[01] -> 730[01]$')" -eq 6 ]
	redis_auth
	out=$(rcli "$(lab_addr h3)" 7300 cluster nodes)
	echo "$out"
	[ "$(echo "$out" | grep -c ':730[01]@1730[01] ')" -eq 6 ]
	[ "$(echo "$out" | grep -c 'fail')" -eq 0 ]
	while read -r a p; do
		[[ "$(rcli "$a" "$p" cluster info)" == *"cluster_state:ok"* ]]
	done < <(endpoints "$SPEC_P")
	cluster_nodes_check "$(lab_addr h1)" 7300 3 3
	got=$(keys_read "$(lab_addr h2)" 7300)
	[ "$got" -eq 1000 ]
}

@test "a new image: each node restarts on it in place, one at a time, with its data" {
	spec_i="$BATS_FILE_TMPDIR/lab-redis-image.cfg"
	recipe="$BATS_FILE_TMPDIR/redis-rebuilt.cfg"
	sed 's/Debian redis-server 7.0 for shoal/Debian redis-server 7.0 for shoal, rebuilt/' \
		"$BATS_TEST_DIRNAME/../../node-images/redis.cfg" >"$recipe"
	sed "s|template = \"redis\";|template = \"redis\"; image = \"$recipe\";|" "$SPEC_P" >"$spec_i"
	grep -q "image = \"$recipe\"" "$spec_i"
	state="$SHOAL_STATE_DIR/lab-redis/state.json"
	old=$(jq -r '[.nodes[].image] | unique | .[]' "$state")
	[ "$(echo "$old" | wc -l)" -eq 1 ]
	# plan builds the recipe in the local store to know the digest
	run "$SHOAL" plan "$spec_i"
	echo "$output"
	[ "$(echo "$output" | grep -c ": image ${old:0:19} -> sha256:")" -eq 6 ]
	run "$SHOAL" up "$spec_i"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c '^~ change .*: image sha256:[0-9a-f]* -> sha256:[0-9a-f]*$')" -eq 6 ]
	[ "$(echo "$output" | grep -c '^cache-[0-9] on h[0-9]: restarting')" -eq 6 ]
	[ "$(echo "$output" | grep '^cache-[0-9] on h[0-9]: restarting' | head -3 | cut -d' ' -f1 | sort | tr '\n' ' ')" = "cache-1 cache-3 cache-5 " ]
	new=$(jq -r '[.nodes[].image] | unique | .[]' "$state")
	[ "$(echo "$new" | wc -l)" -eq 1 ]
	[ "$new" != "$old" ]
	redis_auth
	cluster_nodes_check "$(lab_addr h1)" 7300 3 3
	got=$(keys_read "$(lab_addr h2)" 7300)
	[ "$got" -eq 1000 ]
	run "$SHOAL" up "$spec_i"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 changes"* ]]
}

@test "a setting Redis rejects stops the roll at the first node; the fixed spec repairs it" {
	spec_i="$BATS_FILE_TMPDIR/lab-redis-image.cfg"   # written by the test before
	spec_bad="$BATS_FILE_TMPDIR/lab-redis-bad.cfg"
	[ -f "$spec_i" ]
	sed 's/cluster_node_timeout = 2500;/cluster_node_timeout = 2500; maxmemory_policy = "bogus";/' \
		"$spec_i" >"$spec_bad"
	grep -q bogus "$spec_bad"
	run "$SHOAL" up "$spec_bad"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"exits instead of starting"* ]]
	[[ "$output" == *"maxmemory-policy bogus"* ]]
	[ "$(echo "$output" | grep -c ': restarting')" -eq 1 ]
	run "$SHOAL" status "$spec_i"
	echo "$output"
	[[ "$output" == *"cluster_state:degraded, slots served 16384/16384, 5/6 nodes answer"* ]]
	# the node that exits gets the fixed config first, then the cluster forms
	run "$SHOAL" up "$spec_i"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c ': restarting')" -eq 1 ]
	run "$SHOAL" status "$spec_i"
	[[ "$output" == *"cluster_state:ok, slots served 16384/16384, 6/6 nodes answer"* ]]
	redis_auth
	got=$(keys_read "$(lab_addr h2)" 7300)
	[ "$got" -eq 1000 ]
}

@test "a roll killed at random moments, back and forth between two settings, converges" {
	spec_i="$BATS_FILE_TMPDIR/lab-redis-image.cfg"
	spec_j="$BATS_FILE_TMPDIR/lab-redis-image-3000.cfg"
	sed 's/cluster_node_timeout = 2500;/cluster_node_timeout = 3000;/' "$spec_i" >"$spec_j"
	RANDOM=$$
	for round in 1 2 3 4; do
		target=$spec_j
		[ $((round % 2)) -eq 0 ] && target=$spec_i
		"$SHOAL" -q up "$target" >/dev/null 2>&1 &
		pid=$!
		# a roll of 6 nodes takes about 7 s: die anywhere in it
		sleep "$((RANDOM % 6)).$((RANDOM % 10))"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	run "$SHOAL" up "$spec_j"
	echo "$output"
	[ "$status" -eq 0 ]
	run "$SHOAL" up "$spec_j"
	[[ "$output" == *"0 changes"* ]]
	redis_auth
	while read -r a p; do
		[ "$(rcli "$a" "$p" config get cluster-node-timeout | tail -1)" = 3000 ]
	done < <(endpoints "$spec_j")
	cluster_nodes_check "$(lab_addr h1)" 7300 3 3
	for h in h1 h2 h3; do
		[ "$(lab_exec "$h" pgrep -xc redis-server)" -eq 2 ]
	done
	got=$(keys_read "$(lab_addr h2)" 7300)
	[ "$got" -eq 1000 ]
}

@test "during a roll every slot stays served: no acknowledged write is lost" {
	spec_i="$BATS_FILE_TMPDIR/lab-redis-image.cfg"   # timeout 2500; the cluster runs 3000
	driver="${SHOAL_BUILD:-$BATS_TEST_DIRNAME/../../build/asan}/bench/redis_form_driver"
	[ -x "$driver" ]
	redis_auth
	seeds=$(endpoints "$spec_i" | tr ' ' ':')
	stop="$BATS_TEST_TMPDIR/stop"
	# write and read back batches through the cluster, seeded at every node
	# in turn, for as long as the roll lasts (rc_write_read_check)
	(
		while [ ! -f "$stop" ]; do
			for s in $seeds; do
				"$driver" keys 200 "$s" >>"$BATS_TEST_TMPDIR/keys" 2>>"$BATS_TEST_TMPDIR/keys.err" || true
			done
		done
	) &
	writer=$!
	run "$SHOAL" up "$spec_i"
	touch "$stop"
	wait "$writer"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c 'takes over first$')" -eq 3 ]
	# (Redis may abandon a failover; shoal asks again, and says so again)
	[ "$(echo "$output" | sed -n 's/^\(cache-[0-9]\) (.*: master again (CLUSTER FAILOVER: .*/\1/p' | sort -u | wc -l)" -eq 3 ]
	totals=$(awk '{ a += $2; k += $4; l += $8; e += $14 } END { print a, k, l, e }' "$BATS_TEST_TMPDIR/keys")
	echo "attempted acknowledged lost errors: $totals"
	read -r attempted acked lost errors <<<"$totals"
	[ "$attempted" -gt 0 ]
	[ "$acked" -gt 0 ]
	[ "$lost" -eq 0 ]
}
