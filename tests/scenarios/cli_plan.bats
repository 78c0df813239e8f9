#!/usr/bin/env bats
# Scenario: a reviewed apply.  `plan --out PLANFILE` saves the plan; `up
# PLANFILE` applies exactly it and is refused once the spec, the record or
# what the hosts run changed.  On a terminal `up` shows the plan and asks;
# only 'yes' goes on; --auto-approve and scripts (no terminal) never ask.

bats_require_minimum_version 1.5.0

load 'up_helpers'

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg
}

teardown_file() {
	up_teardown
}

# on_tty INPUT CMD...: run CMD with a pseudo-terminal as stdin, INPUT typed.
on_tty() {
	local input=$1
	shift
	printf '%s\n' "$input" | script -qec "$(printf '%q ' "$@")" /dev/null
}

@test "on a terminal up asks; anything but yes changes nothing" {
	run "$SHOAL" hosts --accept-new-host-keys "$SPEC"
	[ "$status" -eq 0 ]
	# push lines name the image and abbreviate its digest (12 hex digits)
	run --separate-stderr "$SHOAL" plan "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -Eq '^\+ push [a-z0-9._/-]+:[^ ]+ \(sha256:[0-9a-f]{12}\) to h1$' <<<"$output"
	[[ ! "$output" =~ sha256:[0-9a-f]{13} ]]
	run on_tty no "$SHOAL" up "$SPEC"
	echo "$output"
	[[ "$output" == *"+ form cache, 3 masters, 3 replicas"* ]]
	[[ "$output" == *"Do these actions? Only 'yes' is taken"* ]]
	[[ "$output" == *"Nothing changed."* ]]
	run "$SHOAL" status --json "$SPEC"
	[ "$(jq '.nodes | length' <<<"$output")" -eq 0 ]
}

@test "plan --out, then up PLANFILE applies it; a second up PLANFILE is refused" {
	pf=$BATS_FILE_TMPDIR/plan.json
	run "$SHOAL" plan --out "$pf" "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Saved the plan to $pf"* ]]
	jq -e '.format == "shoal-plan/1" and .cluster == "lab-redis" and (.plan.actions | length) > 6' "$pf"
	run "$SHOAL" up "$pf"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"is up: 6 nodes"* ]]
	# applied: the record changed, so the same plan is stale
	run "$SHOAL" up "$pf"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"the cluster changed since the plan was saved"* ]]
}

@test "a saved plan is refused once the spec changed" {
	pf=$BATS_FILE_TMPDIR/plan2.json
	run "$SHOAL" plan --out "$pf" "$SPEC"
	[ "$status" -eq 0 ]
	echo "# a comment changes the file" >>"$SPEC"
	run "$SHOAL" up "$pf"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *"the spec "*" changed since the plan was saved"* ]]
}

@test "--auto-approve on a terminal does not ask; nothing to do does not ask" {
	run on_tty "" "$SHOAL" up --auto-approve "$SPEC"
	echo "$output"
	[[ "$output" != *"Do these actions?"* ]]
	[[ "$output" == *"0 changes"* ]]
	run on_tty "" "$SHOAL" up "$SPEC"
	[[ "$output" != *"Do these actions?"* ]]
	[[ "$output" == *"0 changes"* ]]
}
