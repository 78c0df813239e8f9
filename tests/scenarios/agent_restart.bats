#!/usr/bin/env bats
# Supervision: a node killed with -9 is restarted by the agent with its data
# dir intact; a crash loop backs off instead of spinning; stop is final.

load agent_helpers

setup_file() {
	agent_setup_file
}

teardown_file() {
	agent_stop
}

@test "kill -9 of a node: restarted at once, data dir intact" {
	agent_node_create rs n1 "$IMG" '{"restart":"always"}' | agent_ok
	agent_exec rs n1 sh -c 'echo precious > /data/p'
	pid=$(agent_inspect rs n1 | jq -r .pid)
	kill -9 "$pid"
	agent_wait_restart rs n1 "$pid"
	[ "$(agent_inspect rs n1 | jq -r .restarts)" -eq 1 ]
	[ "$(agent_inspect rs n1 | jq -r .signal)" -eq 9 ]
	run agent_exec rs n1 cat /data/p
	[ "$output" = precious ]
}

@test "a child left behind by the node dies with it (pid namespace)" {
	agent_node_create rs n2 "$IMG" \
		'{"restart":"never","argv":["sh","-c","sleep 1000 & exec sleep 2000"]}' | agent_ok
	pid=$(agent_inspect rs n2 | jq -r .pid)
	# The node's shell has started its child and become `sleep 2000` (30 s).
	for _ in $(seq 300); do
		child=$(pgrep -P "$pid" sleep) && [ "$(cat "/proc/$pid/comm")" = sleep ] && break
		sleep 0.1
	done
	[ -n "$child" ]
	kill -9 "$pid"
	agent_wait_state rs n2 exited
	for _ in $(seq 300); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$child" 2>/dev/null; then false; fi
}

@test "a crash loop backs off exponentially, never a busy loop" {
	agent_events_start "$AGENT_TMP/events"
	agent_node_create rs crash "$IMG" '{"restart":"on-failure","argv":["false"]}' | agent_ok
	agent_events_wait '"event":"restarting".*"delay_ms":4000.*"node":"crash"|"event":"restarting".*"node":"crash".*"delay_ms":4000'
	agent_events_stop
	delays=$(jq -r 'select(.event == "restarting" and .node == "crash") | .delay_ms' "$AGENT_TMP/events" | tr '\n' ' ')
	# 0 1000 2000 4000 within 9 s: never a busy loop.
	[[ "$delays" == "0 1000 2000 4000 "* ]]
	n=$(grep -c '"event":"started".*"node":"crash"' "$AGENT_TMP/events")
	[ "$n" -le 6 ]
	grep -q '"event":"exited".*"exit_code":1.*"node":"crash"' "$AGENT_TMP/events"
}

@test "an entrypoint that does not exist is reported at start" {
	run agent_node_create rs bad "$IMG" '{"argv":["/no/such/program"]}'
	jq -e '.ok == false' <<<"$output"
	jq -r .error.message <<<"$output" | grep -q 'exec /no/such/program'
}

@test "stop sends the stop signal, then SIGKILL after the grace; no restart follows" {
	agent_node_create rs n3 "$IMG" '{"restart":"always","stop_grace_ms":300}' | agent_ok
	out=$(agent_call '{"op":"node.stop","cluster":"rs","node":"n3"}')
	jq -e '.ok and .state == "stopped"' <<<"$out"
	# sleep as pid 1 ignores SIGTERM: the grace ran out and SIGKILL ended it.
	jq -e '.signal == 9' <<<"$out"
	sleep 1.5
	[ "$(agent_inspect rs n3 | jq -r .state)" = stopped ]
}
