#!/usr/bin/env bats
# Scenario: a node that runs but does not answer (SIGSTOP) is detected after
# monitor.fail_after failed probes, killed through its agent, restarted by
# it, and back in the cluster (Redis: PONG, cluster_state:ok).

load 'monitor_helpers'

setup_file() {
	monitor_setup_file
}

teardown_file() {
	# a node left stopped would hold `down` until its grace ends
	[ -n "${STOPPED:-}" ] && lab_exec $STOPPED 2>/dev/null
	monitor_teardown_file
}

@test "SIGSTOP: detected, killed, respawned, back in the cluster" {
	redis_auth
	read -r node host addr port < <(first_master)
	[ -n "$node" ]
	pid=$(node_pid "$node" "$host")
	restarts=$(node_field "$node" restarts)
	export STOPPED="$host kill -CONT $pid"
	lab_exec "$host" kill -STOP "$pid"
	wait_for 60 has_event node-hung "$node"
	wait_for 60 has_event node-back "$node"
	unset STOPPED
	[ "$(node_pid "$node" "$host")" != "$pid" ]
	[ "$(node_field "$node" restarts)" -gt "$restarts" ]
	wait_for 60 rcli "$addr" "$port" ping
	wait_for 60 cluster_ok "$addr" "$port"
	cluster_nodes_check "$addr" "$port" 3 3
	run "$SHOAL" events "$SPEC"
	[[ "$output" == *"node-hung"*"$node on $host: running but 3 probes in a row failed"*"killed"* ]]
}
