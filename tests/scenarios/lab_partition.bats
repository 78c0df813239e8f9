#!/usr/bin/env bats
# `lab partition h1 / h3` cuts h1 and h3 apart in both directions while both
# still reach h2 and the operator; `lab heal` restores it; `--isolate` also
# cuts the operator off.

load '../lab/helpers'

setup_file() { lab_setup 3; }
teardown_file() { lab_teardown; }

# reach FROM TO [SECONDS]: can FROM open a TCP connection to TO's sshd within
# SECONDS (default 5)?  FROM "op" is the operator side (the root namespace).
reach() {
	local cmd
	cmd=": </dev/tcp/$(lab_addr "$2")/22"
	if [ "$1" = op ]; then
		timeout "${3:-5}" bash -c "$cmd" 2>/dev/null
	else
		lab_exec "$1" timeout "${3:-5}" bash -c "$cmd" 2>/dev/null
	fi
}

# cut_off FROM TO: FROM cannot reach TO (dropped packets: no answer in 2 s).
cut_off() {
	if reach "$1" "$2" 2; then
		echo "$1 still reaches $2" >&2
		return 1
	fi
}

@test "partition blocks h1<->h3 only, heal restores, --isolate cuts the operator" {
	reach h1 h3
	reach h3 h1

	run lab partition h1 / h3
	[ "$status" -eq 0 ]
	cut_off h1 h3
	cut_off h3 h1
	reach h1 h2
	reach h3 h2
	reach h2 h1
	reach op h1
	reach op h3
	run lab status
	[[ "$output" == *partitioned* ]]

	run lab heal
	[ "$status" -eq 0 ]
	reach h1 h3
	reach h3 h1

	run lab partition h1,h2 / h3 --isolate
	[ "$status" -eq 0 ]
	cut_off op h1
	cut_off op h3
	cut_off h2 h3
	reach h1 h2
	lab heal
	reach op h1
	reach op h3
	reach h2 h3
}

@test "partition refuses bad sides" {
	run lab partition h1 / h1
	[ "$status" -ne 0 ]
	[[ "$output" == *"both sides"* ]]
	run lab partition h1 h3
	[ "$status" -ne 0 ]
	run lab partition h1 / h9
	[ "$status" -ne 0 ]
	[[ "$output" == *"h9 is not in lab"* ]]
}
