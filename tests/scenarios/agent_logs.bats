#!/usr/bin/env bats
# Node logs: stdout and stderr land in logs/current, rotate by size, and
# can be followed as they are written.

load agent_helpers

setup_file() {
	agent_setup_file
}

teardown_file() {
	agent_stop
}

@test "stdout and stderr are logged and rotated past log_max" {
	agent_node_create lg n1 "$IMG" '{"restart":"never","log_max":4096,
		"argv":["sh","-c","seq 1 3000; echo to-stderr >&2; sleep 600"]}' | agent_ok
	for _ in $(seq 300); do
		agent_call '{"op":"logs","cluster":"lg","node":"n1","tail":1}' |
			jq -r .data | grep -q to-stderr && break
		sleep 0.1
	done
	out=$(agent_call '{"op":"logs","cluster":"lg","node":"n1","tail":3}' | jq -r .data)
	[ "$(echo "$out" | head -2 | tr '\n' ' ')" = "2999 3000 " ]
	[ "$(echo "$out" | tail -1)" = to-stderr ]
	# 3000 lines are ~14 KiB: the log was rotated, no file grew past the limit
	# by more than one read.
	[ -f "$AGENT_ROOT/nodes/lg/n1/logs/current.1" ]
	[ "$(stat -c %s "$AGENT_ROOT/nodes/lg/n1/logs/current.1")" -lt $((4096 + 65536)) ]
}

@test "logs --follow streams new output until the session ends" {
	agent_node_create lg n2 "$IMG" '{"restart":"never",
		"argv":["sh","-c","i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done"]}' | agent_ok
	(echo '{"id":7,"op":"logs","cluster":"lg","node":"n2","tail":0,"follow":true}'; sleep 1.5) |
		timeout 5 "$AGENT_BIN" connect --root "$AGENT_ROOT" --run-dir "$AGENT_RUN" >"$AGENT_TMP/follow" || true
	n=$(jq -r 'select(.id == 7 and .stream == "log") | .data' "$AGENT_TMP/follow" | grep -c tick-)
	[ "$n" -ge 3 ]
	# The daemon dropped the follower with the session and still answers.
	agent_call '{"op":"hello"}' | agent_ok
}
