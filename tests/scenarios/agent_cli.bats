#!/usr/bin/env bats
# `shoal node` against the local agent: the operator-side client
# (agent_client.c) and CLI over the same daemon the other scenarios use.

load agent_helpers

setup_file() {
	agent_setup_file
}

teardown_file() {
	agent_stop
}

shoal_node() {
	"$SHOAL_BUILD/shoal" node --root "$AGENT_ROOT" --run-dir "$AGENT_RUN" "$@"
}

@test "shoal node: create, ls, exec with exit status, logs, kill, rm" {
	run shoal_node create cli web "$IMG" --start --memory 64M --cap CAP_NET_BIND_SERVICE \
		-- sh -c 'echo started; exec sleep 600'
	[ "$status" -eq 0 ]
	echo "$output" | grep -qE '^cli +web +running +builtin'
	run shoal_node ls cli
	[ "$(echo "$output" | wc -l)" -eq 2 ]
	run shoal_node exec cli web -- sh -c 'echo out; echo err >&2; exit 7'
	[ "$status" -eq 7 ]
	echo "$output" | grep -q '^out$'
	echo "$output" | grep -q '^err$'
	run shoal_node logs -n 1 cli web
	[ "$output" = started ]
	pid=$(shoal_node --json inspect cli web | jq -r .pid)
	run shoal_node inspect cli web
	echo "$output" | grep -qE "^cli +web +running +builtin +$pid "
	run shoal_node kill cli web KILL
	[ "$status" -eq 0 ]
	agent_wait_restart cli web "$pid" >/dev/null
	run shoal_node rm cli web
	[ "$status" -ne 0 ]
	echo "$output" | grep -q 'is running'
	run shoal_node rm cli web --force
	[ "$status" -eq 0 ]
	[ ! -e "$AGENT_ROOT/nodes/cli/web" ]
}

@test "shoal node: errors name the node and exit 1; bad usage exits 2" {
	run shoal_node inspect cli nope
	[ "$status" -eq 1 ]
	echo "$output" | grep -q 'node cli/nope not found'
	run shoal_node inspect .. x
	[ "$status" -eq 2 ]
	run shoal_node frobnicate
	[ "$status" -eq 2 ]
	run shoal_node --json facts
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.runtimes | length >= 1'
	# without --json: KEY VALUE lines, not JSON
	run shoal_node facts
	[ "$status" -eq 0 ]
	echo "$output" | grep -qE '^runtimes +\['
	! echo "$output" | jq -e . >/dev/null 2>&1
}
