#!/usr/bin/env bats
# Scenario: the monitor killed with kill -9 and started again takes its lock
# back, resumes, and repeats no repair: no node is killed or restarted, and
# the events log gains only the new monitor-start.

load 'monitor_helpers'

setup_file() {
	monitor_setup_file
}

teardown_file() {
	monitor_teardown_file
}

@test "kill -9 of the monitor, restart: resumes, repeats nothing" {
	pid=$(cat "$BATS_FILE_TMPDIR/monitor.pid")
	"$SHOAL" status --json "$SPEC" | jq -c '[.nodes[] | {node, restarts}]' >"$BATS_TEST_TMPDIR/before"
	kill -9 "$pid"
	wait_for 30 sh -c "! kill -0 $pid"
	lines=$("$SHOAL" --json events "$SPEC" | wc -l)
	monitor_start
	[ "$(cat "$BATS_FILE_TMPDIR/monitor.pid")" != "$pid" ]
	# a few probe rounds (the monitor's own count, not a clock)
	wait_for 60 sh -c "curl -sf '$MON_URL/metrics' | grep -q '^shoal_node_probe_seconds_count{cluster=\"lab-redis\",node=\"cache-0\",host=\"h1\"} \([5-9]\|[1-9][0-9]\)'"
	# one new event: the new monitor's start, naming the dead one
	"$SHOAL" --json events "$SPEC" >"$BATS_TEST_TMPDIR/events"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/events")" -eq $((lines + 1)) ]
	tail -1 "$BATS_TEST_TMPDIR/events" | jq -e --arg p "$pid" \
		'.event == "monitor-start" and (.seen | contains("pid " + $p))'
	[ "$(events_count node-hung)" -eq 0 ]
	[ "$(events_count node-exited)" -eq 0 ]
	"$SHOAL" status --json "$SPEC" | jq -c '[.nodes[] | {node, restarts}]' >"$BATS_TEST_TMPDIR/after"
	diff "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
}
