#!/usr/bin/env bats
# Scenario: a second `shoal monitor` of the same cluster is refused, naming
# the first (pid, host); `shoal status` shows the running monitor.

load 'monitor_helpers'

setup_file() {
	monitor_setup_file
}

teardown_file() {
	monitor_teardown_file
}

@test "a second monitor refuses and names the holder" {
	first=$(cat "$BATS_FILE_TMPDIR/monitor.pid")
	run timeout 60 "$SHOAL" monitor --foreground --listen "127.0.0.1:$((MON_PORT + 10))" "$SPEC"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"monitor lock is held by pid $first on $(hostname)"* ]]
	# the first one still serves
	s=$(curl -sf "$MON_URL/status")
	jq -e ".monitor.pid == $first" <<<"$s"
}

@test "status shows the running monitor" {
	first=$(cat "$BATS_FILE_TMPDIR/monitor.pid")
	run "$SHOAL" status "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"monitor: pid $first on $(hostname), since "* ]]
	[ "$("$SHOAL" status --json "$SPEC" | jq .monitor.pid)" -eq "$first" ]
}

@test "after the monitor stops, status says so and another may start" {
	monitor_stop
	run "$SHOAL" status "$SPEC"
	[[ "$output" == *"monitor: none"* ]]
	monitor_start
}
