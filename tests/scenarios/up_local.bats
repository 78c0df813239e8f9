#!/usr/bin/env bats
# Scenario: cluster-specs/local-redis.cfg on this machine alone (transport
# "local": the agent runs as a child process, no sshd, no lab): up forms 3
# masters, keys go through, a second up changes nothing, down removes it all.

SHOAL="${SHOAL_BUILD:-$BATS_TEST_DIRNAME/../../build/asan}/shoal"
SPEC="$BATS_TEST_DIRNAME/../../cluster-specs/local-redis.cfg"

setup_file() {
	export SHOAL_STATE_DIR="$BATS_FILE_TMPDIR/state"
	export SHOAL_HOME="${SHOAL_TEST_HOME:-$BATS_FILE_TMPDIR/home}"
}

teardown_file() {
	timeout 60 "$SHOAL" down --purge "$SPEC" >/dev/null 2>&1
	# The local agent daemon outlives shoal, as on any host; stop it here.
	pids=$(fuser /run/shoal/agent.lock 2>/dev/null)
	[ -z "$pids" ] || kill $pids
}

@test "up on one machine forms 3 masters" {
	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	eval "$("$SHOAL" env "$SPEC" cache)"
	export REDISCLI_AUTH
	run redis-cli --no-auth-warning -p 7100 cluster info
	[[ "$output" == *"cluster_state:ok"* ]]
	[[ "$output" == *"cluster_known_nodes:3"* ]]
	seq 1 1000 | sed 's/.*/SET k& v&/' | redis-cli --no-auth-warning -c -p 7101 >/dev/null
	[ "$(seq 1 1000 | sed 's/.*/GET k&/' | redis-cli --no-auth-warning -c -p 7102 | grep -c '^v')" -eq 1000 ]
}

@test "a second up changes nothing" {
	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 changes"* ]]
}

@test "down removes every node" {
	run "$SHOAL" down --purge "$SPEC"
	[ "$status" -eq 0 ]
	run redis-cli -p 7100 ping
	[ "$status" -ne 0 ]
	[ ! -e /var/lib/shoal/nodes/local-redis ]
}
