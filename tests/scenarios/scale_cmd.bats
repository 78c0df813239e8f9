#!/usr/bin/env bats
# Scenario: `shoal scale SPEC SERVICE=N` sets the service's node count in the
# spec file and runs up.  --dry-run changes nothing and shows the plan; a
# count up refuses (exit 2) leaves the file as it was.

load 'up_helpers'

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg
}

teardown_file() {
	up_teardown
}

@test "scale --dry-run: the file and the cluster stay at 6, the plan shows the new shard" {
	run "$SHOAL" up --accept-new-host-keys "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	cp "$SPEC" "$BATS_FILE_TMPDIR/before.cfg"
	run "$SHOAL" scale --dry-run "$SPEC" cache=8
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"cache nodes = 6 -> 8 (dry run: the file is not changed)"* ]]
	[[ "$output" == *"+ create cache-6 on "* ]]
	[[ "$output" == *"+ create cache-7 on "* ]]
	cmp "$SPEC" "$BATS_FILE_TMPDIR/before.cfg"
	[ -z "$(find "$(dirname "$SPEC")" -name '.cache.scale-*')" ]
	run "$SHOAL" status "$SPEC"
	[ "$(echo "$output" | grep -c ' running ')" -eq 6 ]
}

@test "scale cache=8: the file says 8, the cluster has 8 nodes, plan has nothing left" {
	run "$SHOAL" scale "$SPEC" cache=8
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^ *nodes = 8;' "$SPEC"
	# only that line changed
	[ "$(diff "$SPEC" "$BATS_FILE_TMPDIR/before.cfg" | grep -c '^[<>]')" -eq 2 ]
	run "$SHOAL" status "$SPEC"
	echo "$output"
	[ "$(echo "$output" | grep -c ' running ')" -eq 8 ]
	run "$SHOAL" plan "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"No changes"* ]]
}

@test "a count the hosts cannot hold: exit 2, the file keeps 8, nothing changed" {
	run "$SHOAL" scale "$SPEC" cache=200
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"not enough memory for this service"* ]]
	[[ "$output" == *"cache nodes = 8 again (up refused 200)"* ]]
	grep -q '^ *nodes = 8;' "$SPEC"
	run "$SHOAL" status "$SPEC"
	[ "$(echo "$output" | grep -c ' running ')" -eq 8 ]
	run "$SHOAL" scale "$SPEC" nope=3
	[ "$status" -eq 2 ]
	[[ "$output" == *"no service named nope"* ]]
}

@test "8 -> 9 nodes with replicas 1 -> 2 regroups a master: plan shows the role change, up refuses it (exit 2), nothing changes" {
	# 3 shards of 3: cache-0, -2, -4 stay masters, cache-6 cannot
	sed -e 's/replicas = 1;/replicas = 2;/' -e 's/nodes = 8;/nodes = 9;/' "$SPEC" >"$BATS_FILE_TMPDIR/r2.cfg"
	grep -q 'replicas = 2;' "$BATS_FILE_TMPDIR/r2.cfg"
	grep -q 'nodes = 9;' "$BATS_FILE_TMPDIR/r2.cfg"
	run "$SHOAL" plan "$BATS_FILE_TMPDIR/r2.cfg"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"~ role cache-6 on "*": master -> replica of cache-"* ]]
	run "$SHOAL" up "$BATS_FILE_TMPDIR/r2.cfg"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"cache-6 on "*": role change master -> replica of cache-"*" is not supported by up yet"* ]]
	[[ "$output" == *"nothing was changed"* ]]
	run "$SHOAL" status "$SPEC"
	echo "$output"
	[ "$(echo "$output" | grep -c ' running ')" -eq 8 ]
	run "$SHOAL" plan "$SPEC"
	[[ "$output" == *"No changes"* ]]
}
