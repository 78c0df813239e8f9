#!/usr/bin/env bats
# The agent daemon: nodes outlive the operator's session and the agent
# itself (kill -9: the restarted agent adopts them); only one daemon runs;
# after a "power cycle" (every process gone) the next contact restarts the
# daemon and it starts the nodes its node.json says should run.  Slow work
# (hashing an upload) runs beside its loop.

load agent_helpers

setup_file() {
	agent_setup_file
}

teardown_file() {
	agent_stop
}

@test "closing the operator's session leaves nodes running" {
	agent_node_create d n1 "$IMG" '{"restart":"always"}' | agent_ok
	pid=$(agent_inspect d n1 | jq -r .pid)
	# Each agent_call was its own `connect` session, now closed.
	kill -0 "$pid"
	[ "$(agent_inspect d n1 | jq -r .pid)" = "$pid" ]
}

@test "an upload is hashed beside the loop: a hello sent after its commit is answered first" {
	head -c 67108864 /dev/urandom >"$AGENT_ROOT/blobs/tmp/big"
	d=sha256:$(sha256sum "$AGENT_ROOT/blobs/tmp/big" | cut -c1-64)
	out=$(printf '{"id":1,"op":"blob.commit","digest":"%s","tmp":"big"}\n{"id":2,"op":"hello"}\n' "$d" |
		timeout 60 "$AGENT_BIN" connect --root "$AGENT_ROOT" --run-dir "$AGENT_RUN")
	echo "$out"
	[ "$(echo "$out" | jq -r .id | tr '\n' ' ')" = "2 1 " ]
	echo "$out" | jq -e 'select(.id == 1) | .ok and .size == 67108864'
	[ -f "$AGENT_ROOT/blobs/sha256/${d#sha256:}" ]
	[ ! -e "$AGENT_ROOT/blobs/tmp/big" ]
	rm -f "$AGENT_ROOT/blobs/sha256/${d#sha256:}"
}

@test "a second daemon refuses to start while one runs" {
	run timeout 10 "$AGENT_BIN" daemon --root "$AGENT_ROOT" --run-dir "$AGENT_RUN"
	[ "$status" -ne 0 ]
	echo "$output" | grep -q 'another agent runs'
	[ "$(stat -c %a "$AGENT_RUN/agent.sock")" = 600 ]
}

@test "agent killed with -9: nodes keep running and the next agent adopts them" {
	pid=$(agent_inspect d n1 | jq -r .pid)
	old=$(agent_daemon_pid)
	kill -9 "$old"
	for _ in $(seq 300); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid"
	# The next contact starts a new daemon, which adopts the live node.
	out=$(agent_inspect d n1)
	[ "$(agent_daemon_pid)" != "$old" ]
	jq -e ".state == \"running\" and .pid == $pid" <<<"$out"
	grep -q "adopted pid $pid" "$AGENT_ROOT/agent.log"
	# Supervision works on the adopted node: kill it, it comes back.
	kill -9 "$pid"
	agent_wait_restart d n1 "$pid"
	# Logs written while no agent ran are not lost (the FIFO kept them).
	agent_exec d n1 sh -c 'echo after-adoption > /proc/1/fd/1'
	for _ in $(seq 300); do
		agent_call '{"op":"logs","cluster":"d","node":"n1"}' | jq -r .data | grep -q after-adoption && break
		sleep 0.1
	done
	agent_call '{"op":"logs","cluster":"d","node":"n1"}' | jq -r .data | grep -q after-adoption
}

@test "power cycle: with every process gone, the next contact brings the daemon and the nodes back" {
	agent_node_create d n2 "$IMG" '{"restart":"never"}' | agent_ok
	agent_node_create d n3 "$IMG" '{"restart":"always"}' | agent_ok
	agent_call '{"op":"node.stop","cluster":"d","node":"n3","grace_ms":0}' | agent_ok
	p1=$(agent_inspect d n1 | jq -r .pid)
	p2=$(agent_inspect d n2 | jq -r .pid)
	d=$(agent_daemon_pid)
	kill -9 "$d" "$p1" "$p2"
	# Every one of them gone (30 s at most) before the next contact.
	for _ in $(seq 300); do
		kill -0 "$d" 2>/dev/null || kill -0 "$p1" 2>/dev/null || kill -0 "$p2" 2>/dev/null || break
		sleep 0.1
	done
	out=$(agent_call '{"op":"node.list","cluster":"d"}')
	# n1 (always) is started again; n2 (never) stays down; n3 stays stopped.
	for _ in $(seq 300); do
		[ "$(agent_inspect d n1 | jq -r .state)" = running ] && break
		sleep 0.1
	done
	[ "$(agent_inspect d n1 | jq -r .state)" = running ]
	[ "$(agent_inspect d n1 | jq -r .pid)" != "$p1" ]
	[ "$(agent_inspect d n2 | jq -r .state)" = exited ]
	[ "$(agent_inspect d n3 | jq -r .state)" = stopped ]
}
