#!/usr/bin/env bats
# Scenario: cluster-specs/lab-redis-12.cfg on 5 lab hosts over 3 racks:
# 12 nodes = 4 masters with 2 replicas each, every replica on another host
# than its master (read from CLUSTER NODES), all slots served.

load 'up_helpers'

setup_file() {
	up_setup 5 cluster-specs/lab-redis-12.cfg
}

teardown_file() {
	up_teardown
}

@test "up forms 4 masters + 8 replicas apart from their masters" {
	run "$SHOAL" up --accept-new-host-keys "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	redis_auth
	seed=$("$SHOAL" status --json "$SPEC" | jq -r '.nodes[0] | "\(.address) \(.port)"')
	cluster_nodes_check $seed 4 8
}

@test "status agrees and a second up changes nothing" {
	run "$SHOAL" status "$SPEC"
	echo "$output"
	[[ "$output" == *"cluster_state:ok, slots served 16384/16384, 12/12 nodes answer"* ]]
	[[ "$output" == *"replicas apart from masters: yes"* ]]
	run "$SHOAL" up "$SPEC"
	[[ "$output" == *"0 changes"* ]]
}
