#!/usr/bin/env bats
# Connection faults against the lab's real sshd, each a clear error for that
# host only: wrong key, wrong user, closed port, and a host that accepts TCP
# but never speaks (paused) failing within the timeout while the others work.

load '../lab/helpers'
load 'ssh_helpers'

setup_file() {
	lab_setup 2
}

teardown_file() {
	lab resume h2 >/dev/null 2>&1 || true
	lab_teardown
}

@test "wrong key: authentication failed, naming user and key" {
	ssh-keygen -q -t ed25519 -N '' -f "$BATS_TEST_TMPDIR/stranger"
	IDENTITY="$BATS_TEST_TMPDIR/stranger" lab_spec "$BATS_TEST_TMPDIR/spec.cfg" h1
	run shoal hosts "$BATS_TEST_TMPDIR/spec.cfg"
	[ "$status" -eq 1 ]
	[[ "$output" == *"h1 ($(lab_addr h1):22): authentication failed for root with $BATS_TEST_TMPDIR/stranger"* ]]
}

@test "wrong user: authentication failed for that user" {
	SSH_USER=nobody lab_spec "$BATS_TEST_TMPDIR/spec.cfg" h1
	run shoal hosts "$BATS_TEST_TMPDIR/spec.cfg"
	[ "$status" -eq 1 ]
	[[ "$output" == *"authentication failed for nobody with $LAB_IDENTITY"* ]]
}

@test "closed port: connection refused for that host, the other one works" {
	lab_spec "$BATS_TEST_TMPDIR/spec.cfg" h1 h2
	sed -i "s/address = \"$(lab_addr h2)\";/& port = 2222;/" "$BATS_TEST_TMPDIR/spec.cfg"
	run shoal --json hosts "$BATS_TEST_TMPDIR/spec.cfg"
	[ "$status" -eq 1 ]
	[ "$(echo "$output" | jq -r '.hosts[0].ok')" = true ]
	[ "$(echo "$output" | jq -r '.hosts[1].ok')" = false ]
	[[ "$(echo "$output" | jq -r '.hosts[1].error')" == *"h2 ($(lab_addr h2):2222): connect: Connection refused"* ]]
}

@test "host that accepts TCP and never answers: fails within the timeout" {
	lab_spec "$BATS_TEST_TMPDIR/spec.cfg" h1 h2
	lab pause h2   # sshd frozen: the kernel still completes the TCP handshake
	run shoal --json hosts --timeout 2s "$BATS_TEST_TMPDIR/spec.cfg"
	lab resume h2
	[ "$status" -eq 1 ]
	[ "$(echo "$output" | jq -r '.hosts[0].ok')" = true ]
	[[ "$(echo "$output" | jq -r '.hosts[1].error')" == *"h2 ($(lab_addr h2):22): ssh handshake: no answer within 2000 ms"* ]]
}
