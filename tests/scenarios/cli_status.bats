#!/usr/bin/env bats
# Scenario: `shoal status` gates scripts: exit 0 on a healthy cluster, 1 when
# a node is not running (or the cluster not ok), 2 on bad usage; and
# `status --wait-healthy [--timeout T]` waits for health, giving up at T.

bats_require_minimum_version 1.5.0

load 'up_helpers'

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg
}

teardown_file() {
	up_teardown
}

@test "bad usage of status exits 2" {
	run "$SHOAL" status --timeout 5s "$SPEC"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--timeout goes with --wait-healthy"* ]]
	run "$SHOAL" status --wait-healthy --timeout soon "$SPEC"
	[ "$status" -eq 2 ]
	run "$SHOAL" up --wait-healthy "$SPEC"
	[ "$status" -eq 2 ]
	run "$SHOAL" status --wait-helthy "$SPEC"
	[ "$status" -eq 2 ]
	[[ "$output" == *"did you mean '--wait-healthy'?"* ]]
}

@test "no recorded node is not healthy: exit 1" {
	run --separate-stderr "$SHOAL" status "$SPEC"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not healthy: no recorded nodes"* ]]
}

@test "a healthy cluster exits 0, and --wait-healthy returns at once" {
	run "$SHOAL" up --accept-new-host-keys "$SPEC"
	[ "$status" -eq 0 ]
	run --separate-stderr "$SHOAL" status "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(tail -n 1 <<<"$output")" = "cluster lab-redis: healthy" ]
	run --separate-stderr "$SHOAL" status --json "$SPEC"
	[ "$status" -eq 0 ]
	jq -e '.healthy == true and (has("unhealthy") | not)' <<<"$output"
	run --separate-stderr "$SHOAL" status --wait-healthy --timeout 60s "$SPEC"
	[ "$status" -eq 0 ]
	[[ "$stderr" != *"waiting for"* ]]
}

@test "-q up prints no plan lines: only errors and the final one-line result" {
	run --separate-stderr "$SHOAL" up "$SPEC"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 changes"* ]]
	for q in "-q up" "up -q" "--quiet up"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$SHOAL" $q "$SPEC"
		echo "$q: $output | $stderr"
		[ "$status" -eq 0 ]
		[ "$stderr" = "" ]
		[ "$(wc -l <<<"$output")" -eq 1 ]
		[[ "$output" == "cluster lab-redis is up: "*" nodes ("*" ms)" ]]
	done
	# with something to do: the plan line ("~ start") is not printed either
	node=$("$SHOAL" status --json "$SPEC" | jq -r '.nodes[] | select(.host == "h3") | .node' | head -n 1)
	run "$SHOAL" node --host "$SPEC:h3" stop lab-redis "$node"
	[ "$status" -eq 0 ]
	run --separate-stderr "$SHOAL" plan "$SPEC"
	echo "$output"
	[[ "$output" == *"start $node on h3"* ]]
	run --separate-stderr "$SHOAL" -q up "$SPEC"
	echo "$output | $stderr"
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	[ "$(wc -l <<<"$output")" -eq 1 ]
	[[ "$output" == "cluster lab-redis is up: "* ]]
	run "$SHOAL" status --wait-healthy --timeout 120s "$SPEC"
	[ "$status" -eq 0 ]
}

@test "-o json|text|wide and --json: one schema per command" {
	# up --json: plan's schema (actions is an array), plus ms
	run --separate-stderr "$SHOAL" up --json "$SPEC"
	[ "$status" -eq 0 ]
	jq -e '.ok == true and .cluster == "lab-redis" and (.actions | type) == "array"
		and .changes == false and .create == 0 and (.ms | type) == "number"' <<<"$output"
	run --separate-stderr "$SHOAL" plan --json "$SPEC"
	[ "$status" -eq 0 ]
	jq -e '(.actions | type) == "array" and .changes == false' <<<"$output"
	# -o json is --json
	a=$("$SHOAL" -o json status "$SPEC" | jq -c '[.cluster, .healthy, (.nodes | length)]')
	b=$("$SHOAL" status --output=json "$SPEC" | jq -c '[.cluster, .healthy, (.nodes | length)]')
	[ "$a" = '["lab-redis",true,6]' ]
	[ "$a" = "$b" ]
	# env: JSON with --json, export lines without
	run --separate-stderr "$SHOAL" env --json "$SPEC"
	[ "$status" -eq 0 ]
	jq -e '(.SHOAL_HOST | length) > 0 and (.SHOAL_PORT | tonumber) > 0
		and (.SHOAL_SEEDS | split(",") | length) == 6 and (.REDISCLI_AUTH | length) > 0' <<<"$output"
	[[ "$output" != *export* ]]
	run --separate-stderr "$SHOAL" env "$SPEC"
	[[ "$output" == "export SHOAL_SEEDS="* ]]
	# wide: more columns
	run --separate-stderr "$SHOAL" status -o wide "$SPEC"
	[ "$status" -eq 0 ]
	[[ "$(head -n 1 <<<"$output")" == *" RST  SERVICE    BUS    DETAIL" ]]
	[ "$(grep -cE ' running .* cache +1700[01] ' <<<"$output")" -eq 6 ]
	run "$SHOAL" -o yaml status "$SPEC"
	[ "$status" -eq 2 ]
}

@test "shoal cli: redis-cli -c on a node, the password in the environment only" {
	run --separate-stderr "$SHOAL" cli "$SPEC" -- ping
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = PONG ]
	# -c follows MOVED: a key set through one node reads back through another
	run "$SHOAL" cli "$SPEC" cache-1 -- set hello world
	[ "$output" = OK ]
	run "$SHOAL" cli "$SPEC" cache-4 -- get hello
	[ "$output" = world ]
	run "$SHOAL" cli "$SPEC" cache-3 -- cluster info
	[[ "$output" == *"cluster_state:ok"* ]]
	# what runs: the node's own address and port; the password only in
	# REDISCLI_AUTH (a stand-in redis-cli prints its argv and env)
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	printf '#!/bin/sh\necho "argv: $*"\necho "auth: ${REDISCLI_AUTH:+set}"\n' >"$BATS_TEST_TMPDIR/bin/redis-cli"
	chmod +x "$BATS_TEST_TMPDIR/bin/redis-cli"
	want=$("$SHOAL" status --json "$SPEC" | jq -r '.nodes[] | select(.node == "cache-2") | "-c -h \(.address) -p \(.port) dbsize"')
	PATH="$BATS_TEST_TMPDIR/bin:$PATH" run "$SHOAL" cli "$SPEC" cache-2 -- dbsize
	echo "$output"
	[ "$output" = "argv: $want
auth: set" ]
	redis_auth
	[[ "$output" != *"$REDISCLI_AUTH"* ]]
	# usage and unknown nodes
	run "$SHOAL" cli "$SPEC" nosuch
	[ "$status" -eq 2 ]
	[[ "$output" == *"no node or service 'nosuch'"* ]]
	run "$SHOAL" cli "$SPEC" cache-0 ping
	[ "$status" -eq 2 ]
	[[ "$output" == *"go after '--'"* ]]
	# exec of the node's client inside its container needs no flags: the
	# node's address, port and password come from the state (the password
	# in the request's environment, never on a command line)
	run --separate-stderr "$SHOAL" exec "$SPEC" cache-0 -- redis-cli ping
	echo "$output | $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = PONG ]
	run --separate-stderr "$SHOAL" exec "$SPEC" cache-3 -- redis-cli cluster info
	[ "$status" -eq 0 ]
	[[ "$output" == *"cluster_state:ok"* ]]
	# flags the user gives win: another port is not replaced
	run --separate-stderr "$SHOAL" exec "$SPEC" cache-0 -- redis-cli -p 1 ping
	[ "$status" -ne 0 ]
	run --separate-stderr "$SHOAL" exec "$SPEC" cache-0 -- redis-cli --version
	[ "$status" -eq 0 ]
	# no client installed: 127, naming it
	PATH=/nonexistent run -127 "$SHOAL" cli "$SPEC" -- ping
	[ "$status" -eq 127 ]
	[[ "$output" == *"redis-cli"*"is it installed"* ]]
}

@test "a stopped node: exit 1 naming it; --wait-healthy gives up at --timeout, then waits for the restart" {
	node=$("$SHOAL" status --json "$SPEC" | jq -r '.nodes[] | select(.host == "h2") | .node' | head -n 1)
	[ -n "$node" ]
	run "$SHOAL" node --host "$SPEC:h2" stop lab-redis "$node"
	echo "$output"
	[ "$status" -eq 0 ]
	run --separate-stderr "$SHOAL" status "$SPEC"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$(tail -n 1 <<<"$output")" == "cluster lab-redis: not healthy: $node is stopped" ]]
	run --separate-stderr "$SHOAL" status --json "$SPEC"
	[ "$status" -eq 1 ]
	jq -e --arg n "$node" '.healthy == false and .unhealthy == "\($n) is stopped"' <<<"$output"
	run --separate-stderr "$SHOAL" status --wait-healthy --timeout 2s "$SPEC"
	echo "$stderr"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"waiting for lab-redis to be healthy: $node is stopped"* ]]
	run "$SHOAL" node --host "$SPEC:h2" start lab-redis "$node"
	[ "$status" -eq 0 ]
	run --separate-stderr "$SHOAL" status --wait-healthy --timeout 120s "$SPEC"
	echo "$output"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$(tail -n 1 <<<"$output")" = "cluster lab-redis: healthy" ]
}
