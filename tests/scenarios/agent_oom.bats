#!/usr/bin/env bats
# A node over its memory limit is OOM-killed by its cgroup, the agent says
# "oom", and the restart policy applies.

load agent_helpers

setup_file() {
	agent_setup_file
}

teardown_file() {
	agent_stop
}

@test "a memory hog is OOM-killed, reported as oom, and restarted" {
	(echo '{"id":1,"op":"events.subscribe"}'; sleep 4) |
		timeout 8 "$AGENT_BIN" connect --root "$AGENT_ROOT" --run-dir "$AGENT_RUN" \
		>"$AGENT_TMP/events" &
	sleep 0.3
	agent_node_create mem hog "$IMG" '{"memory":"16M","restart":"on-failure",
		"argv":["sh","-c","sleep 0.5; exec dd if=/dev/zero of=/dev/null bs=64M count=1"]}' | agent_ok
	wait
	grep -q '"event":"oom".*"node":"hog"' "$AGENT_TMP/events"
	grep -q '"event":"exited".*"oom":true.*"signal":9.*"node":"hog"' "$AGENT_TMP/events"
	grep -q '"event":"restarting".*"node":"hog"' "$AGENT_TMP/events"
	agent_inspect mem hog | jq -e '.restarts >= 1'
}
