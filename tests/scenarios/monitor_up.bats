#!/usr/bin/env bats
# Scenario: `shoal up --monitor` converges, then starts the cluster's
# monitor detached (status names it, /status answers); a second
# `up --monitor` leaves that monitor running and has it read the state
# again (SIGHUP: a monitor-reload event, every node up again).

load 'monitor_helpers'

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg || return
	# monitor.listen on a port of this lab id
	export MON_URL="http://127.0.0.1:$((7960 + LAB_ID))"
	sed -i "s|127.0.0.1:7900|${MON_URL#http://}|" "$SPEC"
}

teardown_file() {
	local pid
	pid=$("$SHOAL" status --json "$SPEC" 2>/dev/null | jq -r '.monitor.pid // empty')
	[ -n "$pid" ] && kill "$pid"
	up_teardown
}

@test "up --monitor starts a detached monitor" {
	run "$SHOAL" up --accept-new-host-keys --monitor "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"is up: 6 nodes"* ]]
	[[ "$output" == *"monitor of pid "*" started"* ]]
	pid=$("$SHOAL" status --json "$SPEC" | jq -r .monitor.pid)
	kill -0 "$pid"
	wait_for 60 monitor_all_up
	grep -q 'monitor-start' "$SHOAL_STATE_DIR/lab-redis/monitor.log"
	# printed once, by the operator's process, not again by the monitor
	! grep -q 'is up: 6 nodes' "$SHOAL_STATE_DIR/lab-redis/monitor.log"
}

@test "a second up --monitor tells the running monitor to read the state again" {
	pid=$("$SHOAL" status --json "$SPEC" | jq -r .monitor.pid)
	run "$SHOAL" up --monitor "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"monitor of pid $pid runs already: told to read the state again"* ]]
	wait_for 60 has_event monitor-reload
	[ "$("$SHOAL" status --json "$SPEC" | jq -r .monitor.pid)" = "$pid" ]
	wait_for 60 monitor_all_up
	[ "$(events_count node-hung)" -eq 0 ]
}
