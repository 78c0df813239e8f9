#!/usr/bin/env bats
# Strict host keys against the lab's real sshd: an unknown key is refused with
# the fingerprint OpenSSH shows for it; --accept-new-host-keys records it and
# later connections match; a changed key is refused even with that option.

load '../lab/helpers'
load 'ssh_helpers'

setup_file() {
	lab_setup 2
}

teardown_file() {
	lab_teardown
}

setup() {
	export KNOWN_HOSTS="$BATS_TEST_TMPDIR/known_hosts"
	lab_spec "$BATS_TEST_TMPDIR/spec.cfg" h1
}

# The SHA256 fingerprint OpenSSH computes for a host's recorded key.
openssh_fp() {
	ssh-keygen -l -E sha256 -F "$(lab_addr "$1")" -f "$LAB_KNOWN_HOSTS" |
		awk '/SHA256:/ { for (i = 1; i <= NF; i++) if ($i ~ /^SHA256:/) print $i }'
}

@test "unknown host key: refused with its fingerprint, then accept-new records it" {
	fp=$(openssh_fp h1)
	[ -n "$fp" ]
	run shoal hosts "$BATS_TEST_TMPDIR/spec.cfg"
	[ "$status" -eq 1 ]
	[[ "$output" == *"h1 ($(lab_addr h1):22): host key not known"* ]]
	[[ "$output" == *"$fp"* ]]
	[[ "$output" == *"--accept-new-host-keys"* ]]
	[ ! -s "$KNOWN_HOSTS" ]

	run shoal hosts --accept-new-host-keys "$BATS_TEST_TMPDIR/spec.cfg"
	[ "$status" -eq 0 ]
	[[ "$output" == *"recorded new ssh-ed25519 host key $fp"* ]]
	# OpenSSH reads what was recorded and agrees with it.
	ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null \
		-o IdentitiesOnly=yes -o IdentityFile="$LAB_IDENTITY" \
		"root@$(lab_addr h1)" true

	run shoal --json hosts "$BATS_TEST_TMPDIR/spec.cfg"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.hosts[0].host_key.fingerprint')" = "$fp" ]
	[ "$(echo "$output" | jq -r '.hosts[0].agent')" = "shoal-agent $("$SHOAL_BIN" version | cut -d' ' -f2)" ]
	[ "$(echo "$output" | jq -r '.hosts[0].cipher')" != null ]
}

@test "changed host key: refused even with --accept-new-host-keys, naming both keys" {
	# Record h2's key under h1's address: h1 then presents a different key.
	real=$(openssh_fp h1)
	other=$(openssh_fp h2)
	grep "^$(lab_addr h2) " "$LAB_KNOWN_HOSTS" | sed "s/^[^ ]*/$(lab_addr h1)/" >"$KNOWN_HOSTS"
	before=$(cat "$KNOWN_HOSTS")
	run shoal hosts --accept-new-host-keys "$BATS_TEST_TMPDIR/spec.cfg"
	[ "$status" -eq 1 ]
	[[ "$output" == *"HOST KEY CHANGED"* ]]
	[[ "$output" == *"$real"* ]]
	[[ "$output" == *"$other"* ]]
	[ "$(cat "$KNOWN_HOSTS")" = "$before" ]
}

@test "unreadable known_hosts: refused with the reason" {
	echo "garbage line" >"$KNOWN_HOSTS"
	run shoal hosts "$BATS_TEST_TMPDIR/spec.cfg"
	[ "$status" -eq 1 ]
	[[ "$output" == *"known_hosts $KNOWN_HOSTS unreadable"* ]]
}
