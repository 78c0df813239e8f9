#!/usr/bin/env bats
# Scenario: cluster-specs/lab-two-redis.cfg, two Redis Clusters (cache and
# sessions) on the same 3 lab hosts: formed at once, each its own cluster with
# its own password (CLUSTER NODES of each lists only its 6 nodes), and a
# setting changed in one service restarts that service's nodes only.

load 'up_helpers'

setup_file() {
	up_setup 3 cluster-specs/lab-two-redis.cfg
}

teardown_file() {
	up_teardown
}

# auth_for SERVICE: REDISCLI_AUTH of that service, from shoal env.
auth_for() {
	eval "$("$SHOAL" env "$SPEC" "$1")"
	export REDISCLI_AUTH
}

@test "two services on the same hosts: two clusters, formed at once" {
	run "$SHOAL" up --accept-new-host-keys "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"is up: 12 nodes"* ]]
	run "$SHOAL" status "$SPEC"
	echo "$output"
	[[ "$output" == *"service cache: cluster_state:ok, slots served 16384/16384, 6/6 nodes answer"* ]]
	[[ "$output" == *"service sessions: cluster_state:ok, slots served 16384/16384, 6/6 nodes answer"* ]]
	auth_for cache
	cluster_nodes_check "$(lab_addr h1)" 7000 3 3
	[ "$(rcli "$(lab_addr h1)" 7000 cluster nodes | grep -c ':710[0-9]@')" -eq 0 ]
	cache_pw=$REDISCLI_AUTH
	auth_for sessions
	[ "$REDISCLI_AUTH" != "$cache_pw" ]
	cluster_nodes_check "$(lab_addr h1)" 7100 3 3
	[ "$(rcli "$(lab_addr h1)" 7100 cluster nodes | grep -c ':700[0-9]@')" -eq 0 ]
}

@test "a setting of one service restarts that service's nodes only" {
	changed="$BATS_FILE_TMPDIR/lab-two-redis-lfu.cfg"
	sed 's/maxmemory_policy = "allkeys-lru";/maxmemory_policy = "allkeys-lfu";/' "$SPEC" >"$changed"
	grep -q allkeys-lfu "$changed"
	run "$SHOAL" up "$changed"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c '^sessions-[0-9] on h[0-9]: restarting')" -eq 6 ]
	[ "$(echo "$output" | grep -c '^cache-[0-9] on h[0-9]: restarting')" -eq 0 ]
	auth_for sessions
	[ "$(rcli "$(lab_addr h2)" 7100 config get maxmemory-policy | tail -1)" = allkeys-lfu ]
	auth_for cache
	[ "$(rcli "$(lab_addr h2)" 7000 config get maxmemory-policy | tail -1)" = noeviction ]
	run "$SHOAL" up "$changed"
	[[ "$output" == *"0 changes"* ]]
}
