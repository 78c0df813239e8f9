#!/usr/bin/env bats
# Scenario: changing a Redis service's node count with `shoal up`.  A new
# shard joins the formed cluster (and gets its share of the slots); a shard
# that leaves gives its slots to the remaining masters first, is forgotten by
# every remaining node (checked in CLUSTER NODES) and its data is purged;
# `down --purge` also removes data that an earlier `down` kept; every node
# moving to other hosts at once moves online, each new node joining and
# taking over before its old one leaves, with no key lost.

load 'up_helpers'

setup_file() {
	up_setup 4 cluster-specs/lab-redis.cfg
	export SPEC8="$BATS_FILE_TMPDIR/lab-redis-8.cfg"
	sed 's/nodes = 6;/nodes = 8;/' "$SPEC" >"$SPEC8"
	grep -q 'nodes = 8;' "$SPEC8"
}

teardown_file() {
	[ -n "${SPEC8:-}" ] && timeout 60 "$SHOAL" down --purge "$SPEC8" >/dev/null 2>&1
	up_teardown
}

# node_where NODE SPEC: "host addr port" of a node, from status --json.
node_where() {
	"$SHOAL" status --json "$2" |
		jq -r --arg n "$1" '.nodes[] | select(.node == $n) | "\(.host) \(.address) \(.port)"'
}

# every_node_knows N SPEC: each node of SPEC lists exactly N nodes.
every_node_knows() {
	local n=$1 spec=$2 a p got
	while read -r a p; do
		got=$(rcli "$a" "$p" cluster nodes | grep -c .)
		[ "$got" -eq "$n" ] || { echo "$a:$p knows $got nodes, want $n"; return 1; }
	done < <("$SHOAL" status --json "$spec" | jq -r '.nodes[] | "\(.address) \(.port)"')
}

@test "6 -> 8 nodes: the new shard joins the formed cluster" {
	run "$SHOAL" up --accept-new-host-keys "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	redis_auth
	keys_write "$(lab_addr h1)" 7000
	run "$SHOAL" up "$SPEC8"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"join cache-6 to cache, master of shard 3"* ]]
	[[ "$output" == *"is up: 8 nodes"* ]]
	cluster_nodes_check "$(lab_addr h1)" 7000 4 4
	every_node_knows 8 "$SPEC8"
}

@test "8 -> 6 nodes: the new shard leaves, is forgotten, and its data goes" {
	read -r h6 _ _ < <(node_where cache-6 "$SPEC8")
	read -r h7 _ _ < <(node_where cache-7 "$SPEC8")
	lab_exec "$h6" test -d /var/lib/shoal/nodes/lab-redis/cache-6
	run "$SHOAL" plan "$SPEC"
	echo "$output"
	[[ "$output" == *"- leave cache-6 from cache"* ]]
	[[ "$output" == *"- leave cache-7 from cache"* ]]
	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"2 nodes leaving the cluster"* ]]
	[[ "$output" == *"is up: 6 nodes"* ]]
	redis_auth
	cluster_nodes_check "$(lab_addr h1)" 7000 3 3
	every_node_knows 6 "$SPEC"
	got=$(keys_read "$(lab_addr h2)" 7000)
	[ "$got" -eq 1000 ]
	run lab_exec "$h6" test -e /var/lib/shoal/nodes/lab-redis/cache-6
	[ "$status" -ne 0 ]
	run lab_exec "$h7" test -e /var/lib/shoal/nodes/lab-redis/cache-7
	[ "$status" -ne 0 ]
	run "$SHOAL" up "$SPEC"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 changes"* ]]
	# and back: the shard joins again, from scratch
	run "$SHOAL" up "$SPEC8"
	echo "$output"
	[ "$status" -eq 0 ]
	every_node_knows 8 "$SPEC8"
}

@test "a shard that serves slots leaves after its slots move to the remaining masters" {
	run "$SHOAL" down --purge "$SPEC8"
	[ "$status" -eq 0 ]
	run "$SHOAL" up "$SPEC8"       # formed fresh: 4 masters share the slots
	echo "$output"
	[ "$status" -eq 0 ]
	redis_auth
	keys_write "$(lab_addr h1)" 7000
	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"moving the data of the leaving nodes to the 3 remaining masters"* ]]
	[[ "$output" == *"4096 slots moved"* ]]
	[[ "$output" == *"2 nodes leaving the cluster"* ]]
	every_node_knows 6 "$SPEC"
	run "$SHOAL" status "$SPEC"
	echo "$output"
	[ "$(echo "$output" | grep -c ' running ')" -eq 6 ]
	[[ "$output" == *"cluster_state:ok, slots served 16384/16384"* ]]
	[ "$(keys_read "$(lab_addr h2)" 7000)" -eq 1000 ]
	run "$SHOAL" up "$SPEC8"       # and back, for the next test
	[ "$status" -eq 0 ]
}

@test "down --purge also removes the data an earlier down kept" {
	run "$SHOAL" down "$SPEC8"
	[ "$status" -eq 0 ]
	lab_exec h1 test -d /var/lib/shoal/nodes/lab-redis
	run "$SHOAL" down --purge "$SPEC8"
	echo "$output"
	[ "$status" -eq 0 ]
	for h in h1 h2 h3; do
		run lab_exec "$h" test -e /var/lib/shoal/nodes/lab-redis
		[ "$status" -ne 0 ]
	done
}

@test "every node moving to other hosts moves online, the new node first, no key lost" {
	spec_a="$BATS_FILE_TMPDIR/lab-redis-h12.cfg"
	spec_b="$BATS_FILE_TMPDIR/lab-redis-h34.cfg"
	h4="  { name = \"h4\"; address = \"$(lab_addr h4)\"; rack = \"r4\"; cpus = 2; memory = \"2G\"; }"
	# hosts h1, h2 (racks r1, r2); then h1 .. h4 with only h3, h4 allowed
	# (placement.require): every node moves while h1, h2 still run them
	awk '!/name = "h3"/' "$SPEC" | sed 's/rack = "r2"; cpus = 2; memory = "2G"; },/rack = "r2"; cpus = 2; memory = "2G"; }/' >"$spec_a"
	awk -v h4="$h4" '/name = "h3"/ { sub(/ }$/, " },"); print; print h4; next } { print }' "$SPEC" |
		sed -e '/name = "h[34]"/s/memory = "2G";/memory = "2G"; labels = { pool = "b"; };/' \
		    -e 's/placement = { spread = "rack"; };/placement = { spread = "rack"; require = { pool = "b"; }; };/' >"$spec_b"
	grep -q 'require = { pool = "b"; }' "$spec_b"
	run "$SHOAL" check "$spec_a" "$spec_b"
	echo "$output"
	[ "$status" -eq 0 ]
	run "$SHOAL" up "$spec_a"
	echo "$output"
	[ "$status" -eq 0 ]
	redis_auth
	keys_write "$(lab_addr h1)" 7000 5000
	ids_before=$(rcli "$(lab_addr h1)" 7000 cluster nodes | awk '{ print $1 }' | sort)
	run "$SHOAL" up "$spec_b"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"cache: moving 6 nodes, each new node first"* ]]
	[[ "$output" == *"takes over from the one on"* ]]
	[[ "$output" != *"moving the data of the leaving nodes"* ]]
	[[ "$output" == *"is up: 6 nodes"* ]]
	a3=$(lab_addr h3)
	every_node_knows 6 "$spec_b"
	cluster_nodes_check "$a3" 7000 3 3
	# the old nodes are forgotten: no id of before is left in the cluster
	ids_after=$(rcli "$a3" 7000 cluster nodes | awk '{ print $1 }' | sort)
	[ -z "$(comm -12 <(echo "$ids_before") <(echo "$ids_after"))" ]
	[ "$(keys_read "$a3" 7000 5000)" -eq 5000 ]
	for h in h1 h2; do
		run lab_exec "$h" sh -c 'ls /var/lib/shoal/nodes/lab-redis 2>/dev/null'
		[ -z "$output" ]
	done
	run "$SHOAL" status "$spec_b"
	echo "$output"
	[ "$(echo "$output" | grep -c ' running ')" -eq 6 ]
	[[ "$output" == *"cluster_state:ok, slots served 16384/16384"* ]]
	run "$SHOAL" up "$spec_b"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 changes"* ]]
	run "$SHOAL" down --purge "$spec_b"
	[ "$status" -eq 0 ]
}

@test "replicas 1 -> 2 -> 1 (6 -> 9 -> 6 nodes): masters stay masters, data intact" {
	spec9="$BATS_FILE_TMPDIR/lab-redis-r2.cfg"
	sed -e 's/nodes = 6;/nodes = 9;/' -e 's/replicas = 1;/replicas = 2;/' "$SPEC" >"$spec9"
	grep -q 'replicas = 2;' "$spec9"
	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	redis_auth
	a1=$(lab_addr h1)
	keys_write "$a1" 7000 5000
	masters_before=$(rcli "$a1" 7000 cluster nodes | awk '$3 ~ /master/ { print $1 }' | sort)
	run "$SHOAL" up "$spec9"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"is up: 9 nodes"* ]]
	[[ "$output" != *"slots moved"* ]]
	cluster_nodes_check "$a1" 7000 3 6
	# every master has two replicas, and the masters are those of before
	[ "$(rcli "$a1" 7000 cluster nodes | awk '$3 ~ /slave/ { print $4 }' | sort | uniq -c |
		awk '$1 == 2' | wc -l)" -eq 3 ]
	[ "$(rcli "$a1" 7000 cluster nodes | awk '$3 ~ /master/ { print $1 }' | sort)" == "$masters_before" ]
	[ "$(keys_read "$a1" 7000 5000)" -eq 5000 ]
	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"3 nodes leaving the cluster"* ]]
	[[ "$output" == *"is up: 6 nodes"* ]]
	cluster_nodes_check "$a1" 7000 3 3
	every_node_knows 6 "$SPEC"
	[ "$(rcli "$a1" 7000 cluster nodes | awk '$3 ~ /master/ { print $1 }' | sort)" == "$masters_before" ]
	[ "$(keys_read "$a1" 7000 5000)" -eq 5000 ]
	run "$SHOAL" down --purge "$SPEC"
	[ "$status" -eq 0 ]
}
