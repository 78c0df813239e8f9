#!/usr/bin/env bats
# Ports in use: another program listening on h2:7000 (where the plan would
# put a node) is seen through the agent's host.ports; `plan` and `up` place
# that host's nodes on the next free ports, the cluster forms, and the next
# `up` changes nothing.

load '../lab/helpers'
load 'up_helpers'

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg
	# a program of the host's own (not a shoal node) holding h2:7000
	lab_exec h2 redis-server --port 7000 --bind "$(lab_addr h2)" --save '' \
		--daemonize yes --pidfile /var/lib/shoal/squatter.pid --logfile /dev/null
	for _ in $(seq 1 300); do
		lab_exec h2 sh -c "ss -ltn | grep -q ':7000 '" && return 0
		sleep 0.1
	done
	echo "the squatter never listened" >&2
	return 1
}

squatter_alive() {
	lab_exec h2 sh -c 'kill -0 "$(cat /var/lib/shoal/squatter.pid)"'
}

teardown_file() {
	lab_exec h2 sh -c 'kill "$(cat /var/lib/shoal/squatter.pid)"' || true
	up_teardown
}

@test "plan and up place no node on a port another program holds" {
	h2=$(lab_addr h2)
	run "$SHOAL" plan "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"($h2:70"* ]]
	[[ "$output" != *"($h2:7000)"* ]]

	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"port 7000 is in use on h2 by another program"* ]]
	redis_auth
	cluster_nodes_check "$(lab_addr h1)" 7000 3 3
	# Redis itself: no node announces h2:7000, and the squatter still holds it
	run rcli "$(lab_addr h1)" 7000 cluster nodes
	[[ "$output" != *"$h2:7000@"* ]]
	squatter_alive
}

@test "the next up keeps the ports and changes nothing" {
	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 changes"* ]]
}
