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
	agent_events_start "$AGENT_TMP/events"
	agent_node_create mem hog "$IMG" '{"memory":"16M","restart":"on-failure",
		"argv":["sh","-c","sleep 0.5; exec dd if=/dev/zero of=/dev/null bs=64M count=1"]}' | agent_ok
	agent_events_wait '"event":"restarting".*"node":"hog"'
	agent_events_stop
	grep -q '"event":"oom".*"node":"hog"' "$AGENT_TMP/events"
	grep -q '"event":"exited".*"oom":true.*"signal":9.*"node":"hog"' "$AGENT_TMP/events"
	grep -q '"event":"restarting".*"node":"hog"' "$AGENT_TMP/events"
	agent_inspect mem hog | jq -e '.restarts >= 1'
}

@test "runc: a memory hog is OOM-killed and reported as oom too" {
	command -v runc >/dev/null || skip "runc is not installed"
	agent_events_start "$AGENT_TMP/events-runc"
	agent_node_create mem rhog "$IMG" '{"runtime":"runc","memory":"16M","restart":"never",
		"argv":["sh","-c","sleep 0.5; exec dd if=/dev/zero of=/dev/null bs=64M count=1"]}' | agent_ok
	agent_events_wait '"event":"exited".*"node":"rhog"'
	agent_events_stop
	grep -q '"event":"oom".*"node":"rhog"' "$AGENT_TMP/events-runc"
	# runc reports the SIGKILL as exit status 137.
	grep -q '"event":"exited".*"oom":true.*"node":"rhog"' "$AGENT_TMP/events-runc"
	[ "$(agent_inspect mem rhog | jq -r .state)" = exited ]
}

@test "an OOM kill of a child process is reported while the node keeps running" {
	agent_events_start "$AGENT_TMP/events-child"
	agent_node_create mem parent "$IMG" '{"memory":"16M","restart":"never",
		"argv":["sh","-c","sleep 0.5; dd if=/dev/zero of=/dev/null bs=64M count=1; exec sleep 600"]}' | agent_ok
	agent_events_wait '"event":"oom".*"node":"parent"'
	# dd killed, the node's shell goes on to exec sleep (30 s at most).
	pid=$(agent_inspect mem parent | jq -r .pid)
	for _ in $(seq 300); do
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ] && break
		sleep 0.1
	done
	[ "$(cat "/proc/$pid/comm")" = sleep ]
	agent_events_stop
	grep -q '"event":"oom".*"node":"parent"' "$AGENT_TMP/events-child"
	if grep -q '"event":"exited".*"node":"parent"' "$AGENT_TMP/events-child"; then false; fi
	[ "$(agent_inspect mem parent | jq -r .state)" = running ]
}
