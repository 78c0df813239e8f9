#!/usr/bin/env bats
# `lab pause h2` freezes h2's whole process tree (its sshd stops answering, a
# running counter stops); `lab resume h2` lets everything go on.

load '../lab/helpers'

setup_file() { lab_setup 2; }
teardown_file() { lab_teardown; }

@test "pause freezes every process of h2, resume thaws them" {
	lab_ssh h2 "(n=0; while :; do n=\$((n+1)); echo \$n >/var/lib/shoal/counter; sleep 0.05; done) >/dev/null 2>&1 </dev/null &"
	c=$LAB_DIR/hosts/h2/var-lib-shoal/counter
	for _ in $(seq 300); do [ -s "$c" ] && break; sleep 0.1; done

	run lab pause h2
	[ "$status" -eq 0 ]
	run lab status
	[[ "$output" == *"h2    $(lab_addr h2)   paused"* ]]
	before=$(cat "$c")
	sleep 0.5
	[ "$(cat "$c")" = "$before" ]
	# The kernel still accepts the connection; the frozen sshd never answers.
	run timeout 3 ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$LAB_KNOWN_HOSTS" -o IdentityFile="$LAB_IDENTITY" \
		"root@$(lab_addr h2)" true
	[ "$status" -eq 124 ]
	run lab_ssh h1 true
	[ "$status" -eq 0 ]

	run lab resume h2
	[ "$status" -eq 0 ]
	for _ in $(seq 300); do [ "$(cat "$c")" != "$before" ] && break; sleep 0.1; done
	[ "$(cat "$c")" != "$before" ]
	run lab_ssh h2 true
	[ "$status" -eq 0 ]
}

@test "a paused host can still be powered off" {
	lab pause h2
	run lab poweroff h2
	[ "$status" -eq 0 ]
	run lab status
	[[ "$output" == *"h2    $(lab_addr h2)   off"* ]]
	lab poweron h2
	run lab_ssh h2 true
	[ "$status" -eq 0 ]
}
