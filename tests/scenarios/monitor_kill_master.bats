#!/usr/bin/env bats
# Scenario: with `shoal monitor` watching lab-redis, kill -9 of a master's
# process: its agent restarts it, the monitor logs the exit and sees it
# answer again, and Redis itself reports the same node id and
# cluster_state:ok with every slot served; keys written before read back.

load 'monitor_helpers'

setup_file() {
	monitor_setup_file
}

teardown_file() {
	monitor_teardown_file
}

@test "kill -9 of a master: back with the same node id, cluster ok, logged" {
	redis_auth
	read -r node host addr port < <(first_master)
	[ -n "$node" ]
	keys_write "$addr" "$port" 1000
	id_before=$(rcli "$addr" "$port" cluster myid)
	[ -n "$id_before" ]
	pid=$(node_pid "$node" "$host")
	lab_exec "$host" kill -9 "$pid"
	wait_for 60 has_event node-back "$node"
	[ "$(events_count node-exited "$node")" -ge 1 ]
	wait_for 60 rcli "$addr" "$port" ping
	[ "$(rcli "$addr" "$port" cluster myid)" = "$id_before" ]
	wait_for 60 cluster_ok "$addr" "$port"
	[ "$(keys_read "$addr" "$port" 1000)" -eq 1000 ]
	# the monitor did not kill anything itself
	[ "$(events_count node-hung)" -eq 0 ]
	run "$SHOAL" events "$SPEC"
	[[ "$output" == *"node-exited"*"$node"*"exited on signal 9"* ]]
}
