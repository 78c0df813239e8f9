#!/usr/bin/env bats
# A node that cannot start (here: a typo in a setting, which redis-server
# rejects at start-up) fails `shoal up` within seconds, naming the node, its
# host, its last exit and the database's own complaint, instead of waiting
# out the readiness deadline.

load '../lab/helpers'
load 'up_helpers'

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg
}

teardown_file() {
	up_teardown
}

@test "a node that exits at start fails up at once, with its last log lines" {
	sed 's/settings = { /settings = { maxmemory_policy = "allkeys-lruu"; /' \
		"$SPEC" >"$BATS_FILE_TMPDIR/typo.cfg"
	grep -q allkeys-lruu "$BATS_FILE_TMPDIR/typo.cfg"
	run "$SHOAL" up "$BATS_FILE_TMPDIR/typo.cfg"
	echo "$output"
	[ "$status" -eq 1 ]
	# not the readiness deadline's "N nodes not ready after 60000 ms"
	[[ "$output" != *"not ready after"* ]]
	[[ "$output" == *"cache-"*" on h"*" exits instead of starting (exit code 1, restarted "* ]]
	[[ "$output" == *"maxmemory-policy"* ]]
	# the record still names every node made, so down removes them all
	run "$SHOAL" down --purge "$BATS_FILE_TMPDIR/typo.cfg"
	[ "$status" -eq 0 ]
	for h in h1 h2 h3; do
		[ "$(lab_exec "$h" sh -c 'ls /var/lib/shoal/nodes/lab-redis 2>/dev/null | wc -l')" = 0 ]
	done
}
