#!/usr/bin/env bats
# A stalled runtime holds only its own start (docs/agent-protocol.md, "A
# start never holds the agent"): a fake `runc` first on the daemon's PATH
# never writes its pid file.  While that start hangs, other sessions are
# answered and a running node's exit is seen and handled; the start fails at
# its deadline with an error naming the node, and the stuck runtime is
# killed.  node.stop and a forced node.remove of a starting node end it too.

load agent_helpers

setup_file() {
	FAKEBIN=$(mktemp -d /tmp/shoal-fakerunc.XXXXXX)
	export FAKEBIN
	# `runc run` records its pid and hangs; anything else (delete) succeeds.
	cat >"$FAKEBIN/runc" <<EOF
#!/bin/sh
for a in "\$@"; do
	if [ "\$a" = run ]; then
		echo \$\$ >"$FAKEBIN/run.pid"
		exec sleep 3600
	fi
done
exit 0
EOF
	chmod 755 "$FAKEBIN/runc"
	# The daemon that the first call starts inherits this PATH.
	export PATH="$FAKEBIN:$PATH"
	agent_setup_file
	agent_node_create stall live "$IMG" '{"restart":"always"}' | agent_ok
}

teardown_file() {
	agent_stop
	[ -f "$FAKEBIN/run.pid" ] && kill -9 "$(cat "$FAKEBIN/run.pid")" 2>/dev/null
	rm -rf "$FAKEBIN"
}

# start_stuck NODE TIMEOUT-MS: create NODE with the fake runc, start it in
# the background (answer in $FAKEBIN/NODE.out, the caller's pid in
# START_PID) and return once the fake runtime runs.
start_stuck() {
	rm -f "$FAKEBIN/run.pid"
	agent_call "$(jq -cn --arg n "$1" --arg i "$IMG" --argjson t "$2" \
		'{op:"node.create",cluster:"stall",node:$n,image:$i,runtime:"runc",start_timeout_ms:$t}')" | agent_ok
	agent_call "{\"op\":\"node.start\",\"cluster\":\"stall\",\"node\":\"$1\"}" \
		>"$FAKEBIN/$1.out" &
	START_PID=$!
	for _ in $(seq 300); do
		[ -s "$FAKEBIN/run.pid" ] && return 0
		kill -0 "$START_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "the fake runc never ran; node.start said: $(cat "$FAKEBIN/$1.out")" >&2
	return 1
}

# gone PID: the process ends (killed, reaped) within 10 s.
gone() {
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "process $1 still runs" >&2
	return 1
}

@test "a stalled runtime: node.list answers and a node's exit is handled while the start hangs; the start fails at its deadline naming the node" {
	start_stuck stuck 15000
	run agent_call '{"op":"node.list","cluster":"stall"}'
	[ "$status" -eq 0 ]
	jq -e '.ok == true' <<<"$output"
	[ "$(jq -r '.nodes[] | select(.node == "stuck") | .state' <<<"$output")" = starting ]
	# Still pending: node.list was answered during the start, not after it.
	kill -0 "$START_PID"
	[ ! -s "$FAKEBIN/stuck.out" ]

	# A running node's exit is seen and the node restarted meanwhile.
	old=$(agent_inspect stall live | jq -r .pid)
	kill -9 "$old"
	agent_wait_restart stall live "$old"
	kill -0 "$START_PID"
	[ ! -s "$FAKEBIN/stuck.out" ]

	wait "$START_PID"
	out=$(cat "$FAKEBIN/stuck.out")
	jq -e '.ok == false' <<<"$out"
	msg=$(jq -r .error.message <<<"$out")
	echo "$msg" | grep -q '^start stall/stuck: runtime runc did not start the node within 15000 ms (killed)'
	# The stuck runtime is gone and the node is back where it was.
	gone "$(cat "$FAKEBIN/run.pid")"
	[ "$(agent_inspect stall stuck | jq -r .state)" = created ]
}

@test "node.stop of a starting node kills the start and answers at once" {
	start_stuck stopme 600000
	run agent_call '{"op":"node.stop","cluster":"stall","node":"stopme"}'
	jq -e '.ok == true and .state == "stopped"' <<<"$output"
	wait "$START_PID"
	jq -e '.ok == false' "$FAKEBIN/stopme.out"
	jq -r .error.message "$FAKEBIN/stopme.out" | grep -q '^start stall/stopme: stopped while starting'
	gone "$(cat "$FAKEBIN/run.pid")"
}

@test "a forced node.remove of a starting node kills the start and removes it" {
	start_stuck removeme 600000
	run agent_call '{"op":"node.remove","cluster":"stall","node":"removeme"}'
	jq -e '.ok == false' <<<"$output"
	jq -r .error.message <<<"$output" | grep -q 'is starting (stop it, or force)'
	run agent_call '{"op":"node.remove","cluster":"stall","node":"removeme","force":true}'
	jq -e '.ok == true' <<<"$output"
	wait "$START_PID"
	jq -r .error.message "$FAKEBIN/removeme.out" | grep -q '^start stall/removeme: removed while starting'
	gone "$(cat "$FAKEBIN/run.pid")"
	run agent_call '{"op":"node.list","cluster":"stall"}'
	[ "$(jq '[.nodes[] | select(.node == "removeme")] | length' <<<"$output")" -eq 0 ]
}
