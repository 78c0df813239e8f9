#!/usr/bin/env bats
# Every lab host runs its own sshd with its own host key: OpenSSH logs in as
# root with the lab identity, checking each host key strictly against the
# lab's known_hosts, and each host is its own machine (name, address, /run).

load '../lab/helpers'

setup_file() { lab_setup 3; }
teardown_file() { lab_teardown; }

@test "strict host key SSH reaches every host, each with its own name and address" {
	for h in $LAB_HOSTS; do
		run lab_ssh "$h" 'hostname; ip -4 -o addr show dev eth0'
		[ "$status" -eq 0 ]
		[ "${lines[0]}" = "$h" ]
		[[ "${lines[1]}" == *" $(lab_addr "$h")/24 "* ]]
		# The lab's ssh_config names the hosts for any OpenSSH-based tool.
		run ssh -F "$LAB_SSH_CONFIG" "$h" hostname
		[ "$status" -eq 0 ]
		[ "$output" = "$h" ]
	done
}

@test "a host key that does not match known_hosts is refused" {
	# h1's address listed with h2's key: strict checking must refuse h1.
	bad="$BATS_FILE_TMPDIR/known_hosts_bad"
	awk -v a1="$(lab_addr h1)" -v a2="$(lab_addr h2)" \
		'$1 == a2 { print a1, $2, $3 }' "$LAB_KNOWN_HOSTS" >"$bad"
	run env LAB_KNOWN_HOSTS="$bad" bash -c "source '$BATS_TEST_DIRNAME/../lab/helpers.bash'; lab_ssh h1 true"
	[ "$status" -eq 255 ]
	[[ "$output" == *"host key"* ]] || [[ "$output" == *"HOST IDENTIFICATION"* ]]
}

@test "each host sees only its own processes, /run and no route out" {
	run lab_exec h1 ps -e -o comm=
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = hostinit ]
	run lab_exec h1 ip route show default
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	lab_exec h1 touch /run/only-on-h1
	run lab_exec h2 test -e /run/only-on-h1
	[ "$status" -ne 0 ]
}
