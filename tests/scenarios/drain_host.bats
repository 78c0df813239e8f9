#!/usr/bin/env bats
# Scenario: a 4th host added to a 3-host Redis cluster moves nothing the
# spread does not require: nothing when every rule holds, one node of each
# pair inside one rack when the new host brings a new rack.  Then `shoal drain SPEC h1` on the
# 4-host Redis cluster with keys in it.
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

@test "a 4th host added: up moves only what the spread requires (here nothing), no key lost" {
	spec3="$BATS_FILE_TMPDIR/lab-redis-h123.cfg"
	awk '!/name = "h4"/' "$SPEC" | sed 's/rack = "r3"; cpus = 2; memory = "2G"; },/rack = "r3"; cpus = 2; memory = "2G"; }/' >"$spec3"
	run "$SHOAL" check "$spec3"
	echo "$output"
	[ "$status" -eq 0 ]
	run "$SHOAL" up --accept-new-host-keys "$spec3"
	echo "$output"
	[ "$status" -eq 0 ]
	before=$(hosts_of | sort)
	redis_auth
	keys_write "$(lab_addr h2)" 7000 5000
	# every rule still holds with h4 added (one rack per host, no master
	# beside its replica): the plan moves nothing, h4 stays empty
	run "$SHOAL" --json plan --accept-new-host-keys "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '[.actions[] | select(.action != "push")] | length == 0'
	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 changes"* ]]
	[ "$(hosts_of | sort)" = "$before" ]
	[ "$(hosts_of | grep -c ' h4 ')" -eq 0 ]
	[ "$(keys_read "$(lab_addr h3)" 7000 5000)" -eq 5000 ]
}

# rack_clashes SPEC: how many replicas run in the rack of their master.
rack_clashes() {
	local racks
	racks=$(sed -nE 's/.*name = "(h[0-9])".*rack = "(r[0-9])".*/\1 \2/p' "$1")
	"$SHOAL" status --json "$1" | jq -r '.nodes as $n | $n[] | select(.role == "replica") |
		. as $r | ($n[] | select(.node == $r.master)) | "\($r.host) \(.host)"' |
		while read -r a b; do
			[ "$(awk -v h="$a" '$1 == h { print $2 }' <<<"$racks")" = \
			  "$(awk -v h="$b" '$1 == h { print $2 }' <<<"$racks")" ] && echo clash
		done | grep -c clash
}

@test "a 4th host in a new rack: only the nodes that share a rack with their pair move" {
	run "$SHOAL" down --purge "$SPEC"
	[ "$status" -eq 0 ]
	# h1, h2 in rack r1, h3 (room for one node) in r2: the best spread
	# leaves pairs inside r1; h4 in r3 lets each such pair part, by one move
	spec3="$BATS_FILE_TMPDIR/lab-redis-r1r1r2.cfg"
	spec4="$BATS_FILE_TMPDIR/lab-redis-r1r1r2r3.cfg"
	sed -e '/name = "h2"/s/rack = "r2"/rack = "r1"/' \
	    -e '/name = "h3"/s/rack = "r3"; cpus = 2; memory = "2G";/rack = "r2"; cpus = 2; memory = "160M";/' \
	    -e '/name = "h4"/s/rack = "r4"/rack = "r3"/' "$SPEC" >"$spec4"
	awk '!/name = "h4"/' "$spec4" | sed '/name = "h3"/s/ },$/ }/' >"$spec3"
	run "$SHOAL" up "$spec3"
	echo "$output"
	[ "$status" -eq 0 ]
	redis_auth
	keys_write "$(lab_addr h1)" 7000 5000
	clashes=$(rack_clashes "$spec3")
	echo "pairs inside one rack: $clashes"
	[ "$clashes" -ge 1 ]
	run "$SHOAL" --json plan "$spec4"
	echo "$output"
	[ "$status" -eq 0 ]
	moves=$(echo "$output" | jq '[.actions[] | select((.detail // "") | startswith("host "))] | length')
	echo "moves planned: $moves"
	[ "$moves" -eq "$clashes" ]
	run "$SHOAL" up "$spec4"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(rack_clashes "$spec4")" -eq 0 ]
	[ "$(keys_read "$(lab_addr h2)" 7000 5000)" -eq 5000 ]
	run "$SHOAL" down --purge "$spec4"
	[ "$status" -eq 0 ]
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
