#!/usr/bin/env bats
# The Redis node image (node-images/redis.cfg, built by `shoal image build`)
# run by the agent: as the image's redis user with no capabilities, answering
# PING on the host's loopback (host networking), its data surviving kill -9
# and restart; the same with runc.

load agent_helpers

setup_file() {
	command -v redis-cli >/dev/null || skip "redis-cli is not installed"
	agent_start
	RIMG=$(agent_redis_image)
	PORT_A=$((21000 + RANDOM % 10000))
	PORT_B=$((PORT_A + 1))
	export RIMG PORT_A PORT_B
}

teardown_file() {
	agent_stop
}

# The configuration arrives as a create-time file, mode 0640 as the redis
# template writes it: the redis user must be able to read it.
redis_node() {   # NODE PORT RUNTIME
	local conf extra
	conf=$(printf 'bind 127.0.0.1\nport %s\ndir /data\nappendonly yes\nappendfsync always\nsave ""\n' "$2")
	extra=$(jq -cn --arg rt "$3" --arg conf "$conf" '{runtime: $rt, memory: "128M",
		files: [{path: "/etc/redis/redis.conf", mode: 416, content: $conf}],
		argv: ["/usr/bin/redis-server", "/etc/redis/redis.conf"]}')
	agent_node_create rd "$1" "$RIMG" "$extra"
}

wait_pong() {   # PORT
	for _ in $(seq 300); do
		[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	return 1
}

@test "redis: the unpack runs beside the agent's loop: a hello sent after it is answered first" {
	# both requests reach the agent in one write; the unpack goes to a
	# helper process, so the hello is answered while it runs
	out=$(printf '{"id":1,"op":"image.unpack","digest":"%s"}\n{"id":2,"op":"hello"}\n' "$RIMG" |
		timeout 60 "$AGENT_BIN" connect --root "$AGENT_ROOT" --run-dir "$AGENT_RUN")
	echo "$out"
	[ "$(echo "$out" | jq -r .id | tr '\n' ' ')" = "2 1 " ]
	echo "$out" | jq -e 'select(.id == 1) | .ok and .cached == false'
	run agent_call "{\"op\":\"image.unpack\",\"digest\":\"$RIMG\"}"
	echo "$output" | jq -e '.ok and .cached == true'
	# no helper is left behind
	[ -z "$(pgrep -P "$(agent_daemon_pid)" -x shoal-agent)" ]
}

@test "redis: the node answers PING, runs as the image user with no capabilities" {
	redis_node r1 "$PORT_A" builtin | agent_ok
	wait_pong "$PORT_A"
	run agent_exec rd r1 redis-cli -p "$PORT_A" ping
	[ "$output" = PONG ]
	pid=$(agent_inspect rd r1 | jq -r .pid)
	[ "$(stat -c %u "/proc/$pid")" = 999 ]
	# Its 0640 configuration is the redis user's.
	[ "$(stat -c '%a %u' "$AGENT_ROOT/nodes/rd/r1/upper/etc/redis/redis.conf")" = "640 999" ]
	grep -q '^CapEff:.0000000000000000$' "/proc/$pid/status"
	grep -q '^NoNewPrivs:.1$' "/proc/$pid/status"
}

@test "redis: kill -9, restarted by the agent, the data written before is there" {
	redis-cli -h 127.0.0.1 -p "$PORT_A" set survivor yes | grep -q OK
	pid=$(agent_inspect rd r1 | jq -r .pid)
	kill -9 "$pid"
	agent_wait_restart rd r1 "$pid" >/dev/null
	wait_pong "$PORT_A"
	[ "$(redis-cli -h 127.0.0.1 -p "$PORT_A" get survivor)" = yes ]
	# The append-only file lives in the node's data folder on the host.
	[ -d "$AGENT_ROOT/nodes/rd/r1/data/appendonlydir" ]
}

@test "redis: the same node under runc" {
	command -v runc >/dev/null || skip "runc is not installed"
	redis_node r2 "$PORT_B" runc | agent_ok
	wait_pong "$PORT_B"
	[ "$(agent_inspect rd r2 | jq -r .runtime)" = runc ]
	redis-cli -h 127.0.0.1 -p "$PORT_B" set k v | grep -q OK
	agent_call '{"op":"node.stop","cluster":"rd","node":"r2","grace_ms":5000}' |
		jq -e '.ok and .state == "stopped"'
	# redis-server handles SIGTERM: it ended within the grace, not by SIGKILL.
	[ "$(agent_inspect rd r2 | jq -r .signal)" = null ]
	if redis-cli -h 127.0.0.1 -p "$PORT_B" ping 2>/dev/null | grep -q PONG; then false; fi
}
