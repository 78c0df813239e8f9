#!/usr/bin/env bats
# Scenario: a host that holds only replicas leaves the spec.  `up` moves its
# replicas to the remaining hosts; the cluster forgets their old identities
# (CLUSTER NODES lists exactly the six planned nodes), keeps every key, and
# says that the old containers are left on the host it can no longer reach.

load 'up_helpers'

setup_file() {
	up_setup 4 cluster-specs/lab-redis.cfg
	export SPEC4="$BATS_FILE_TMPDIR/lab-redis-4.cfg"
	h4="  { name = \"h4\"; address = \"$(lab_addr h4)\"; rack = \"r4\"; cpus = 2; memory = \"2G\"; }"
	awk -v h4="$h4" '/name = "h3"/ { sub(/ }$/, " },"); print; print h4; next } { print }' \
		"$SPEC" >"$SPEC4"
}

teardown_file() {
	[ -n "${SPEC4:-}" ] && timeout 60 "$SHOAL" down --purge "$SPEC4" >/dev/null 2>&1
	up_teardown
}

@test "a host with only replicas leaves the spec: they move, the cluster forgets the old ones" {
	run "$SHOAL" up --accept-new-host-keys "$SPEC4"
	echo "$output"
	[ "$status" -eq 0 ]
	roles=$("$SHOAL" status --json "$SPEC4" | jq -r '.nodes[] | "\(.host) \(.role)"')
	echo "$roles"
	# the planner gives h4 (rack r4) replicas only; the test needs that
	[ "$(echo "$roles" | grep -c '^h4 replica$')" -ge 1 ]
	[ "$(echo "$roles" | grep -c '^h4 master$')" -eq 0 ]
	moved=$(echo "$roles" | grep -c '^h4 ')
	redis_auth
	keys_write "$(lab_addr h1)" 7000

	run "$SHOAL" up "$SPEC"              # h1-h3 only
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c ': host h4 -> h[123]$')" -eq "$moved" ]
	[ "$(echo "$output" | grep -c 'old container on h4 is left running there')" -eq "$moved" ]
	[ "$(rcli "$(lab_addr h1)" 7000 cluster nodes | grep -c .)" -eq 6 ]
	[ "$(rcli "$(lab_addr h1)" 7000 cluster nodes | grep -c "$(lab_addr h4)")" -eq 0 ]
	cluster_nodes_check "$(lab_addr h1)" 7000 3 3
	got=$(keys_read "$(lab_addr h2)" 7000)
	[ "$got" -eq 1000 ]
	run "$SHOAL" up "$SPEC"
	[[ "$output" == *"0 changes"* ]]
	# with h4 back in the spec, down removes the old containers there too
	run "$SHOAL" down --purge "$SPEC4"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$(lab_exec h4 sh -c 'ls /var/lib/shoal/nodes/lab-redis 2>/dev/null' || true)" ]
}
