#!/usr/bin/env bats
# `lab up N` is idempotent: run again it keeps the running hosts (same sshd,
# same host keys); with another N it adds or removes hosts to have exactly N.

load '../lab/helpers'

setup_file() { lab_setup 3; }
teardown_file() { lab_teardown; }

sshd_pid() { lab_exec "$1" cat /run/sshd.pid; }
host_lines() { lab status | grep -c '^h[0-9]'; }

@test "up 3 twice gives the same 3 hosts" {
	keys=$(cat "$LAB_KNOWN_HOSTS")
	p1=$(sshd_pid h1)
	run lab up 3
	[ "$status" -eq 0 ]
	[ "$(host_lines)" = 3 ]
	[ "$(cat "$LAB_KNOWN_HOSTS")" = "$keys" ]
	[ "$(sshd_pid h1)" = "$p1" ]
	for h in h1 h2 h3; do lab_ssh "$h" true; done
}

@test "up 2 removes h3, up 4 adds h3 and h4 and keeps h1" {
	p1=$(sshd_pid h1)
	run lab up 2
	[ "$status" -eq 0 ]
	[ "$(host_lines)" = 2 ]
	[ ! -e "/run/netns/shoal$LAB_ID-h3" ]
	run lab exec h3 true
	[ "$status" -ne 0 ]
	[[ "$output" == *"h3 is not in lab"* ]]
	[ "$(wc -l <"$LAB_KNOWN_HOSTS")" = 2 ]

	run lab up 4
	[ "$status" -eq 0 ]
	[ "$(host_lines)" = 4 ]
	[ "$(sshd_pid h1)" = "$p1" ]
	for h in h1 h2 h3 h4; do
		run lab_ssh "$h" hostname
		echo "$h: $output"
		[ "$output" = "$h" ]
	done
}

@test "up brings a powered-off host back on" {
	lab poweroff h2
	run lab up 4
	[ "$status" -eq 0 ]
	run lab_ssh h2 true
	[ "$status" -eq 0 ]
}
