#!/usr/bin/env bats
# `lab poweroff h2` kills every process on h2 at once (whether started over
# SSH or by lab exec) while h1 and h3 keep running, and h2's sshd refuses
# connections afterwards.

load '../lab/helpers'

setup_file() { lab_setup 3; }
teardown_file() { lab_teardown; }

# sleeper H: start a long sleep on H under a name unique to this lab and host.
sleeper() {
	lab_ssh "$1" "bash -c 'exec -a labtest$LAB_ID-$1-ssh sleep 1000' >/dev/null 2>&1 </dev/null &"
	lab_exec "$1" bash -c "exec -a labtest$LAB_ID-$1-exec sleep 1000" >/dev/null 2>&1 </dev/null 3>&- &
}

count() { pgrep -c -f "^labtest$LAB_ID-$1-" || true; }

@test "poweroff h2 kills everything on h2 only, and h2's sshd refuses" {
	for h in h1 h2 h3; do sleeper "$h"; done
	for _ in $(seq 300); do
		[ "$(count h1)$(count h2)$(count h3)" = 222 ] && break
		sleep 0.1
	done
	[ "$(count h1)$(count h2)$(count h3)" = 222 ]

	run lab poweroff h2
	[ "$status" -eq 0 ]
	[ "$(count h2)" = 0 ]
	[ "$(count h1)" = 2 ]
	[ "$(count h3)" = 2 ]

	run lab_ssh h2 true
	[ "$status" -eq 255 ]
	[[ "$output" == *"Connection refused"* ]]
	run lab_exec h2 true
	[ "$status" -ne 0 ]
	[[ "$output" == *"powered off"* ]]
	run lab status
	[[ "$output" == *"h2    $(lab_addr h2)   off"* ]]
	run lab_ssh h1 true
	[ "$status" -eq 0 ]
	run lab_ssh h3 true
	[ "$status" -eq 0 ]
}

@test "a host cannot power itself off by signalling its init" {
	run lab_ssh h1 'kill -TERM 1; kill -INT 1; kill -HUP 1; sleep 0.2; echo alive'
	[ "$status" -eq 0 ]
	[ "$output" = alive ]
	run lab_ssh h1 true
	[ "$status" -eq 0 ]
}
