#!/usr/bin/env bats
# Each lab host has its own /var/lib/shoal (its disk): a file written on h2 is
# not on h1 or h3, and nothing of it shows in the machine's own /var/lib/shoal.

load '../lab/helpers'

setup_file() { lab_setup 3; }
teardown_file() { lab_teardown; }

@test "a file written on h2's /var/lib/shoal is on h2 only" {
	name="lab-disk-$LAB_ID-$$"
	run lab_ssh h2 "echo written-on-h2 >/var/lib/shoal/$name && cat /var/lib/shoal/$name"
	[ "$status" -eq 0 ]
	[ "$output" = written-on-h2 ]
	run lab_ssh h1 "test -e /var/lib/shoal/$name"
	[ "$status" -eq 1 ]
	run lab_exec h3 test -e "/var/lib/shoal/$name"
	[ "$status" -eq 1 ]
	[ ! -e "/var/lib/shoal/$name" ]
	# The disk is the host's folder in the lab state.
	[ "$(cat "$LAB_DIR/hosts/h2/var-lib-shoal/$name")" = written-on-h2 ]
}
