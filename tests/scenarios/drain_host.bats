#!/usr/bin/env bats
# Scenario: `shoal drain SPEC h1` on a 4-host Redis cluster with keys in it.
# Every node of the cluster leaves h1, new node first (each new node joins
# as a replica and syncs, a master's new copy takes over by failover, then
# the old one leaves), no key is lost, the slots stay balanced, `shoal plan` shows h1 as
# drained and places nothing there; `shoal undrain` lets it take nodes
# again without moving any back.

load 'up_helpers'

setup_file() {
	up_setup 4 cluster-specs/lab-redis.cfg
	h4="  { name = \"h4\"; address = \"$(lab_addr h4)\"; rack = \"r4\"; cpus = 2; memory = \"2G\"; }"
	awk -v h4="$h4" '/name = "h3"/ { sub(/ }$/, " },"); print; print h4; next } { print }' \
		"$SPEC" >"$SPEC.4" && mv "$SPEC.4" "$SPEC"
	grep -q 'name = "h4"' "$SPEC"
}

teardown_file() {
	up_teardown
}

# hosts_of: "node host role" of every node, from status --json.
hosts_of() {
	"$SHOAL" status --json "$SPEC" | jq -r '.nodes[] | "\(.node) \(.host) \(.role)"'
}

@test "drain h1: every node leaves h1 with its data, nothing lost, plan shows it" {
	run "$SHOAL" up --accept-new-host-keys "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	echo "$(hosts_of)"
	[ "$(hosts_of | grep -c ' h1 ')" -ge 1 ]
	redis_auth
	keys_write "$(lab_addr h2)" 7000 5000

	run "$SHOAL" drain "$SPEC" h1
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"h1: drained: its nodes move to the other hosts"* ]]
	[[ "$output" == *"each new node first"* ]]
	[[ "$output" != *"moving the data of the leaving nodes"* ]]
	[[ "$output" == *"is up: 6 nodes"* ]]
	echo "$(hosts_of)"
	[ "$(hosts_of | grep -c ' h1 ')" -eq 0 ]
	[ "$(hosts_of | wc -l)" -eq 6 ]
	# nothing of the cluster runs on h1 any more
	run lab_exec h1 sh -c 'ls /var/lib/shoal/nodes/lab-redis 2>/dev/null'
	echo "$output"
	[ -z "$output" ]
	a2=$(lab_addr h2)
	[ "$(keys_read "$a2" 7000 5000)" -eq 5000 ]
	run cluster_nodes_check "$a2" 7000 3 3
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(rcli "$a2" 7000 cluster nodes | grep -c .)" -eq 6 ]
	run "$SHOAL" status "$SPEC"
	echo "$output"
	[[ "$output" == *"cluster_state:ok, slots served 16384/16384"* ]]
	# plan: h1 drained, nothing to do
	run "$SHOAL" plan "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"h1: drained: no node is placed there"* ]]
	[[ "$output" == *"No changes"* ]]
}

@test "a drained host takes no new node; undrain moves nothing back" {
	run "$SHOAL" drain "$SPEC" nohost
	[ "$status" -eq 2 ]
	[[ "$output" == *"no host named nohost"* ]]
	run "$SHOAL" undrain "$SPEC" h1
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"h1: schedulable again"* ]]
	run "$SHOAL" plan "$SPEC"
	echo "$output"
	[[ "$output" != *"drained"* ]]
	[[ "$output" == *"No changes"* ]]
	[ "$(hosts_of | grep -c ' h1 ')" -eq 0 ]
}
