#!/usr/bin/env bats
# `shoal plan` and `shoal status` change nothing on the hosts: they neither
# install the agent nor start its daemon (a starting daemon starts the nodes
# its host should run).  A host where no agent runs counts as running
# nothing: the plan shows what `up` would do there, status says agent-down.

load '../lab/helpers'
load 'up_helpers'

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg
}

teardown_file() {
	up_teardown
}

nothing_of_shoal_runs() {   # HOST
	run lab_exec "$1" pgrep -f 'shoal-agent|redis-server'
	echo "$1: $output"
	[ "$status" -ne 0 ]
}

@test "plan on bare hosts installs no agent and starts nothing" {
	run "$SHOAL" plan --detailed-exitcode "$SPEC"
	echo "$output"
	[ "$status" -eq 3 ]
	[[ "$output" == *"Plan: 6 to create, 0 to change, 0 to remove."* ]]
	plan=$output
	for h in h1 h2 h3; do
		[[ "$plan" == *"$h: no shoal agent runs there"* ]]
		run lab_exec "$h" test -e /var/lib/shoal/agent
		[ "$status" -ne 0 ]
		nothing_of_shoal_runs "$h"
	done
}

@test "after a power cycle plan and status show the nodes down, and bring back none" {
	run "$SHOAL" up "$SPEC"
	[ "$status" -eq 0 ]
	lab poweroff h1
	lab poweron h1
	nothing_of_shoal_runs h1
	run "$SHOAL" plan --detailed-exitcode "$SPEC"
	echo "$output"
	[ "$status" -eq 3 ]
	[[ "$output" == *"h1: no shoal agent runs there"* ]]
	[[ "$output" == *"cache-0"* && "$output" == *"cache-5"* ]]
	nothing_of_shoal_runs h1
	run "$SHOAL" status --json "$SPEC"
	echo "$output"
	[ "$(echo "$output" | jq -r '.nodes[] | select(.host == "h1") | .state' | sort -u)" = agent-down ]
	[ "$(echo "$output" | jq -r '.nodes[] | select(.host == "h2") | .state' | sort -u)" = running ]
	nothing_of_shoal_runs h1
	# up brings them back; Redis says the cluster is whole again
	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	redis_auth
	cluster_nodes_check "$(lab_addr h2)" 7000 3 3
}

@test "a daemon of another shoal build is talked to, not taken for none" {
	# another build: the same agent with one byte more (another digest)
	agent="$(dirname "$SHOAL")/shoal-agent"
	lab_exec h3 sh -c "cat '$agent' > /var/lib/shoal/other-agent && printf x >> /var/lib/shoal/other-agent && chmod 755 /var/lib/shoal/other-agent"
	lab_exec h3 sh -c '/var/lib/shoal/other-agent connect </dev/null >/dev/null'
	other() { lab_exec h3 sh -c 'readlink /proc/$(cat /run/shoal/agent.lock)/exe'; }
	[ "$(other)" = /var/lib/shoal/other-agent ]
	# and this build's agent is not on h3
	lab_exec h3 sh -c 'rm -rf /var/lib/shoal/agent'
	run "$SHOAL" plan "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"h3: no shoal agent runs there"* ]]
	# it was replaced by this build's agent, which adopted h3's nodes
	[ "$(other)" != /var/lib/shoal/other-agent ]
	run "$SHOAL" status --json "$SPEC"
	[ "$(echo "$output" | jq -r '.nodes[] | select(.host == "h3") | .state' | sort -u)" = running ]
}
