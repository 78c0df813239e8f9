#!/usr/bin/env bats
# Scenario: `shoal up` killed with SIGKILL at random moments, ten times, then
# run to the end: the cluster converges with exactly the planned nodes — no
# duplicate, no orphan container on any host, Redis reports a healthy cluster.

load 'up_helpers'

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg
}

teardown_file() {
	up_teardown
}

@test "ten SIGKILLs of up at random moments, then up converges" {
	RANDOM=$$
	for round in $(seq 1 10); do
		"$SHOAL" -q up --accept-new-host-keys "$SPEC" >/dev/null 2>&1 &
		pid=$!
		# between 0.1 and 6 s: image build, bootstrap, push, create, form
		sleep "$((RANDOM % 60 / 10)).$((RANDOM % 10))"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	run "$SHOAL" up --accept-new-host-keys "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	run "$SHOAL" up "$SPEC"
	[[ "$output" == *"0 changes"* ]]
}

@test "every host runs exactly its two planned nodes" {
	for h in h1 h2 h3; do
		run lab_exec "$h" sh -c 'ls /var/lib/shoal/nodes/lab-redis; pgrep -xc redis-server'
		echo "$h: $output"
		[ "$(echo "$output" | grep -c '^cache-')" -eq 2 ]
		[ "$(echo "$output" | tail -n 1)" -eq 2 ]
	done
}

@test "Redis reports 3 masters and 3 replicas, all slots served" {
	redis_auth
	cluster_nodes_check "$(lab_addr h1)" 7000 3 3
	run rcli "$(lab_addr h3)" 7000 cluster info
	[[ "$output" == *"cluster_state:ok"* ]]
	[[ "$output" == *"cluster_slots_ok:16384"* ]]
}

@test "nodes created but never recorded (killed in between) are recorded by the next up" {
	st="$SHOAL_STATE_DIR/lab-redis/state.json"
	jq '.nodes = []' "$st" >"$st.new" && mv "$st.new" "$st"
	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"+ create"* ]]
	[ "$(jq '.nodes | length' "$st")" -eq 6 ]
	run "$SHOAL" up "$SPEC"
	[[ "$output" == *"0 changes"* ]]
}
