#!/usr/bin/env bats
# Scenario: `shoal agent status|stop`: the host agents outlive `down --purge`
# by design; status shows them, stop ends them, refusing a host that still
# has nodes unless --force.

bats_require_minimum_version 1.5.0

load 'up_helpers'

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg
}

teardown_file() {
	up_teardown
}

@test "status shows the daemons, stop ends them, one host or all" {
	run "$SHOAL" hosts --accept-new-host-keys "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	run --separate-stderr "$SHOAL" agent status "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c 'agent runs: pid [0-9]*' <<<"$output")" -eq 3 ]
	run --separate-stderr "$SHOAL" agent status --json "$SPEC"
	jq -e '[.hosts[] | select(.running and .pid > 0)] | length == 3' <<<"$output"
	run --separate-stderr "$SHOAL" agent stop --host h2 "$SPEC"
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == "h2"*"agent pid "*" stopped" ]]
	run --separate-stderr "$SHOAL" agent status --json "$SPEC"
	[ "$(jq -c '[.hosts[] | .running]' <<<"$output")" = '[true,false,true]' ]
	run --separate-stderr "$SHOAL" agent stop "$SPEC"
	[ "$status" -eq 0 ]
	run --separate-stderr "$SHOAL" agent status "$SPEC"
	[ "$(grep -c 'no agent runs' <<<"$output")" -eq 3 ]
}

@test "stop is refused on a host with nodes, unless --force" {
	run "$SHOAL" hosts "$SPEC"
	[ "$status" -eq 0 ]
	lab_exec h1 mkdir -p /var/lib/shoal/nodes/other/web-0
	run --separate-stderr "$SHOAL" agent stop --host h1 "$SPEC"
	echo "$stderr"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"h1: 1 node(s) on this host (other/web-0)"*"--force"* ]]
	run --separate-stderr "$SHOAL" agent status --host h1 --json "$SPEC"
	jq -e '.hosts[0].running and .hosts[0].nodes == 1' <<<"$output"
	run --separate-stderr "$SHOAL" agent stop --force --host h1 "$SPEC"
	[ "$status" -eq 0 ]
	lab_exec h1 rmdir /var/lib/shoal/nodes/other/web-0
	run "$SHOAL" agent status --host h1 "$SPEC"
	[[ "$output" == *"no agent runs"* ]]
	run "$SHOAL" agent frobnicate "$SPEC"
	[ "$status" -eq 2 ]
	run "$SHOAL" agent stop --host nosuch "$SPEC"
	[ "$status" -eq 2 ]
}
