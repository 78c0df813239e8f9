#!/usr/bin/env bats
# `lab down` leaves the machine as it was before `lab up`: no network
# namespace, link, mount, process or cgroup of the lab, and no state folder —
# after a busy lab (paused, partitioned, delayed hosts with running processes)
# and after a run that crashed and lost the lab's state.

load '../lab/helpers'

teardown_file() { lab_teardown; }

# traces: everything of this lab id visible on the machine, one per line.
traces() {
	export LAB_ID="${SHOAL_LAB_ID:-0}"
	local dir="/var/tmp/shoal-lab/$LAB_ID"
	ip netns list | awk '{ print "netns", $1 }' | grep -E "^netns shoal$LAB_ID-" || true
	ip -o link | awk -F': ' '{ print "link", $2 }' | grep -E "^link (shoal-br$LAB_ID|sl${LAB_ID}h[0-9]+)(@|$)" || true
	findmnt -rn -o TARGET,SOURCE | grep -E "shoal-lab/$LAB_ID/|netns/shoal$LAB_ID-|lab-h[0-9]+-run" | sed 's/^/mount /' || true
	ps -eo pid=,args= | grep -F "$dir/" | grep -v -E "grep|bats" | sed 's/^/process /' || true
	find /sys/fs/cgroup -maxdepth 6 -type d -name "shoal-lab$LAB_ID" | sed 's/^/cgroup /'
	[ ! -e "$dir" ] || echo "state $dir"
}

@test "down after a busy lab leaves nothing of it behind" {
	before=$(traces)
	[ -z "$before" ]
	lab_setup 3
	lab_ssh h1 "(sleep 1000 >/dev/null 2>&1 &)"
	lab_exec h3 sleep 1000 >/dev/null 2>&1 </dev/null 3>&- &
	lab partition h1 / h3
	lab delay h2 50ms loss 1%
	lab pause h1
	lab poweroff h3
	lab poweron h3
	during=$(traces)
	echo "$during" | grep -q '^netns '
	echo "$during" | grep -q '^link '
	echo "$during" | grep -q '^process '
	echo "$during" | grep -q '^cgroup '

	run lab down
	[ "$status" -eq 0 ]
	after=$(traces)
	echo "left behind: $after"
	[ "$after" = "$before" ]
}

@test "down after a run that lost the lab's state still removes everything" {
	before=$(traces)
	[ -z "$before" ]
	lab_setup 2
	lab delay h1 20ms
	# A crash that lost the state folder: hosts, links and processes remain.
	rm -rf "$LAB_DIR"
	[ -n "$(traces)" ]
	run lab up 2
	[ "$status" -ne 0 ]
	[[ "$output" == *"run 'lab down' first"* ]]

	run lab down
	[ "$status" -eq 0 ]
	after=$(traces)
	echo "left behind: $after"
	[ "$after" = "$before" ]
}

@test "down with no lab up does nothing and succeeds" {
	run lab down
	[ "$status" -eq 0 ]
	[ -z "$(traces)" ]
}
