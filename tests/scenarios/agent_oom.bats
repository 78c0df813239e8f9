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

@test "runc: a memory hog is OOM-killed and reported as oom too" {
	command -v runc >/dev/null || skip "runc is not installed"
	(echo '{"id":1,"op":"events.subscribe"}'; sleep 5) |
		timeout 9 "$AGENT_BIN" connect --root "$AGENT_ROOT" --run-dir "$AGENT_RUN" \
		>"$AGENT_TMP/events-runc" &
	sleep 0.3
	agent_node_create mem rhog "$IMG" '{"runtime":"runc","memory":"16M","restart":"never",
		"argv":["sh","-c","sleep 0.5; exec dd if=/dev/zero of=/dev/null bs=64M count=1"]}' | agent_ok
	wait
	grep -q '"event":"oom".*"node":"rhog"' "$AGENT_TMP/events-runc"
	# runc reports the SIGKILL as exit status 137.
	grep -q '"event":"exited".*"oom":true.*"node":"rhog"' "$AGENT_TMP/events-runc"
	[ "$(agent_inspect mem rhog | jq -r .state)" = exited ]
}

@test "an OOM kill of a child process is reported while the node keeps running" {
	(echo '{"id":1,"op":"events.subscribe"}'; sleep 3) |
		timeout 7 "$AGENT_BIN" connect --root "$AGENT_ROOT" --run-dir "$AGENT_RUN" \
		>"$AGENT_TMP/events-child" &
	sleep 0.3
	agent_node_create mem parent "$IMG" '{"memory":"16M","restart":"never",
		"argv":["sh","-c","sleep 0.5; dd if=/dev/zero of=/dev/null bs=64M count=1; exec sleep 600"]}' | agent_ok
	wait
	grep -q '"event":"oom".*"node":"parent"' "$AGENT_TMP/events-child"
	if grep -q '"event":"exited".*"node":"parent"' "$AGENT_TMP/events-child"; then false; fi
	[ "$(agent_inspect mem parent | jq -r .state)" = running ]
}
