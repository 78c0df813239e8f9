#!/usr/bin/env bats
# `lab poweron h2` after a power-off brings h2's sshd back (same host key) with
# its disk as it was, and starts nothing else.

load '../lab/helpers'

setup_file() { lab_setup 2; }
teardown_file() { lab_teardown; }

@test "poweron brings sshd back with the disk intact and nothing else running" {
	lab_ssh h2 'echo kept >/var/lib/shoal/kept; echo gone >/run/gone; (sleep 1000 >/dev/null 2>&1 &)'
	lab poweroff h2
	run lab_ssh h2 true
	[ "$status" -eq 255 ]

	run lab poweron h2
	[ "$status" -eq 0 ]
	run lab_ssh h2 cat /var/lib/shoal/kept
	[ "$status" -eq 0 ]
	[ "$output" = kept ]
	# /run is the host's RAM: empty after power-on.
	run lab_ssh h2 test -e /run/gone
	[ "$status" -eq 1 ]
	# Only the init and sshd run (ps itself runs through lab exec).
	run lab_exec h2 ps -e -o comm=
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -v -x -e hostinit -e sshd -e ps)" = "" ]
	[ "${lines[0]}" = hostinit ]

	run lab poweron h2
	[ "$status" -eq 0 ]
	[[ "$output" == *"already on"* ]]
}
