#!/usr/bin/env bats
# Scenario: `shoal down --purge` while a host is powered off removes every
# node it can reach, keeps the record (and secrets) of the nodes it cannot,
# fails naming them, and finishes the job once the host is back.

load 'up_helpers'

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg
}

teardown_file() {
	lab poweron h2 >/dev/null 2>&1
	up_teardown
}

# nodes_on H: the node folders on host H's /var/lib/shoal.
nodes_on() {
	lab_exec "$1" sh -c 'ls /var/lib/shoal/nodes/lab-redis 2>/dev/null' || true
}

@test "down with a host off: the rest goes, the host's nodes stay recorded" {
	run "$SHOAL" up --accept-new-host-keys "$SPEC"
	[ "$status" -eq 0 ]
	lab poweroff h2
	run "$SHOAL" down --purge "$SPEC"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"h2 ("*"connect"* ]]
	[[ "$output" == *"4 nodes removed with their data; 2 left on hosts that could not be reached"* ]]
	[[ "$output" == *"2 nodes not removed, on hosts that could not be reached: cache-"*" on h2, cache-"*" on h2;"* ]]
	[ -z "$(nodes_on h1)" ]
	[ -z "$(nodes_on h3)" ]
	state="$SHOAL_STATE_DIR/lab-redis/state.json"
	[ "$(jq -r '[.nodes[].host] | unique | join(",")' "$state")" = h2 ]
	[ "$(jq '.nodes | length' "$state")" -eq 2 ]
	[ "$(jq '.secrets | length' "$state")" -ge 1 ]
}

@test "down again once the host is back: nothing left anywhere" {
	lab poweron h2
	[ -n "$(nodes_on h2)" ]
	run "$SHOAL" down --purge "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"is down: 2 nodes removed, data and state purged"* ]]
	for h in h1 h2 h3; do
		[ -z "$(nodes_on "$h")" ]
	done
	[ ! -e "$SHOAL_STATE_DIR/lab-redis/state.json" ]
}
