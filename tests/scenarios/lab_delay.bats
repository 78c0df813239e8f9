#!/usr/bin/env bats
# `lab delay h2 300ms` holds every packet sent to h2 for 300 ms (so a TCP
# connect to or from h2 takes at least that long) and bulk transfers still
# arrive intact, `loss 100%` drops them all, and `lab delay h2 off` removes
# both.  Only lower bounds on time are checked.

load '../lab/helpers'

setup_file() { lab_setup 2; }
teardown_file() { lab_teardown; }

# connect_ms FROM TO: milliseconds for FROM to open a TCP connection to TO:22.
connect_ms() {
	lab_exec "$1" timeout 5 bash -c \
		"s=\$(date +%s%N); : </dev/tcp/$(lab_addr "$2")/22 && echo \$(( (\$(date +%s%N) - s) / 1000000 ))"
}

@test "delay holds h2's packets, loss drops them, off removes both" {
	run lab delay h2 300ms
	[ "$status" -eq 0 ]
	run connect_ms h1 h2
	[ "$status" -eq 0 ]
	[ "$output" -ge 300 ]
	# Connections h2 opens wait as long (for the SYN-ACK).
	run connect_ms h2 h1
	[ "$status" -eq 0 ]
	[ "$output" -ge 300 ]
	run lab status
	[[ "$output" == *"delay 300ms"* ]]

	# SSH (a dozen round trips) still works over a delayed link, and moves
	# 20 MB intact either way.
	run lab delay h2 50ms
	[ "$status" -eq 0 ]
	run lab_ssh h2 'head -c 20000000 /dev/zero | wc -c'
	[ "$status" -eq 0 ]
	[ "$output" = 20000000 ]
	run bash -c "head -c 20000000 /dev/zero | ssh -F '$LAB_SSH_CONFIG' h2 'wc -c'"
	[ "$status" -eq 0 ]
	[ "$output" = 20000000 ]

	run lab delay h2 10ms loss 100%
	[ "$status" -eq 0 ]
	run connect_ms h1 h2
	[ "$status" -ne 0 ]

	run lab delay h2 off
	[ "$status" -eq 0 ]
	run connect_ms h1 h2
	[ "$status" -eq 0 ]
	run lab status
	[[ "$output" != *delay* ]]
	run lab_exec h2 iptables -w -t mangle -S POSTROUTING
	[[ "$output" != *NFQUEUE* ]]
	[ -z "$(pgrep -f "^$LAB_DIR/bin/labdelay")" ]
}

@test "delay refuses bad arguments" {
	run lab delay h2 fast
	[ "$status" -ne 0 ]
	[[ "$output" == *"bad time"* ]]
	run lab delay h2 100ms loss lots
	[ "$status" -ne 0 ]
	[[ "$output" == *"bad loss"* ]]
	run lab delay h2 100ms loss 101%
	[ "$status" -ne 0 ]
}
