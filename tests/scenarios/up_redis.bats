#!/usr/bin/env bats
# Scenario: `shoal up` of cluster-specs/lab-redis.cfg on a 3-host lab gives a
# healthy Redis Cluster (3 masters + 3 replicas, replicas apart from their
# masters, all slots covered), keys written through it read back, a second
# `up` changes nothing, status reports it, and `down` leaves nothing behind.

load 'up_helpers'

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg
}

teardown_file() {
	up_teardown
}

@test "up forms 3 masters + 3 replicas as planned" {
	run "$SHOAL" up --accept-new-host-keys "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"is up: 6 nodes"* ]]
	redis_auth
	for h in h1 h2 h3; do
		a=$(lab_addr "$h")
		run rcli "$a" 7000 cluster info
		[[ "$output" == *"cluster_state:ok"* ]] || run rcli "$a" 7001 cluster info
		[[ "$output" == *"cluster_state:ok"* ]]
		[[ "$output" == *"cluster_slots_assigned:16384"* ]]
		[[ "$output" == *"cluster_slots_ok:16384"* ]]
	done
	cluster_nodes_check "$(lab_addr h1)" 7000 3 3
}

@test "10,000 keys written with redis-cli -c read back" {
	redis_auth
	a=$(lab_addr h2)
	keys_write "$a" 7000 10000
	got=$(keys_read "$a" 7000 10000)
	[ "$got" -eq 10000 ]
}

@test "a second up reports 0 changes" {
	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 changes"* ]]
}

@test "status shows every node running and the cluster ok" {
	run "$SHOAL" status "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c ' running ')" -eq 6 ]
	[[ "$output" == *"cluster_state:ok, slots served 16384/16384"* ]]
	[[ "$output" == *"replicas apart from masters: yes"* ]]
	run "$SHOAL" status --json "$SPEC"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.services[0].cluster_state')" = ok ]
	[ "$(echo "$output" | jq '[.nodes[] | select(.role == "master")] | length')" -eq 3 ]
	[[ "$output" != *'"secrets"'* ]]
}

@test "exec and logs reach a node" {
	redis_auth
	run "$SHOAL" exec "$SPEC" cache-0 -- /usr/bin/redis-cli -h "$(lab_addr h1)" -p 7000 \
		--no-auth-warning -a "$REDISCLI_AUTH" ping
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *PONG* ]]
	run "$SHOAL" logs "$SPEC" cache-0 --tail 50   # the order docs/state.md shows
	[ "$status" -eq 0 ]
	[[ "$output" == *"Ready to accept connections"* ]]
}

@test "down keeps the data, and the next up brings it back" {
	redis_auth
	rcli "$(lab_addr h1)" 7000 -c set kept-across-down yes
	run "$SHOAL" down "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"data kept"* ]]
	run lab_exec h1 pgrep -x redis-server
	[ "$status" -ne 0 ]
	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	run rcli "$(lab_addr h2)" 7000 -c get kept-across-down
	[ "$output" = yes ]
}

@test "down leaves no container, process or mount on any host" {
	run "$SHOAL" down "$SPEC" --purge   # options after the spec, too
	echo "$output"
	[ "$status" -eq 0 ]
	for h in h1 h2 h3; do
		run lab_exec "$h" sh -c 'pgrep -x redis-server; ls /var/lib/shoal/nodes/lab-redis 2>/dev/null; grep -c "/var/lib/shoal/nodes" /proc/self/mountinfo'
		echo "$h: $output"
		[ "$output" = "0" ]
	done
	[ ! -e "$SHOAL_STATE_DIR/lab-redis/state.json" ]
}
