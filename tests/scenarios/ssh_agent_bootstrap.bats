#!/usr/bin/env bats
# Agent bootstrap: the first contact installs shoal-agent content addressed
# under /var/lib/shoal/agent/<sha256>/, later contacts reuse it untouched,
# and the release agent needs nothing from the host but glibc.

load '../lab/helpers'
load 'ssh_helpers'

setup_file() {
	lab_setup 2
}

teardown_file() {
	lab_teardown
}

@test "first contact installs the agent by digest; the next one reuses it" {
	lab_spec "$BATS_TEST_TMPDIR/spec.cfg"
	agent="$(dirname "$SHOAL_BIN")/shoal-agent"
	hex=$(sha256sum "$agent" | cut -c1-64)
	path="/var/lib/shoal/agent/$hex/shoal-agent"

	run lab_exec h1 test -e "$path"
	[ "$status" -ne 0 ]
	run shoal -v hosts "$BATS_TEST_TMPDIR/spec.cfg"
	[ "$status" -eq 0 ]
	[[ "$output" == *"h1 ($(lab_addr h1):22): installing shoal-agent (sha256:$hex)"* ]]
	[[ "$output" == *"h2 ($(lab_addr h2):22): installing shoal-agent (sha256:$hex)"* ]]
	[[ "$output" == *"cipher aes128-ctr"* || "$output" == *"cipher aes128-gcm"* || "$output" == *"cipher chacha20"* ]]
	for h in h1 h2; do
		[ "$(lab_exec "$h" sha256sum "$path" | cut -c1-64)" = "$hex" ]
		# no temporary file is left next to it
		[ "$(lab_exec "$h" ls "/var/lib/shoal/agent/$hex")" = shoal-agent ]
	done
	before=$(lab_exec h1 stat -c %Y.%i "$path")

	run shoal -v hosts "$BATS_TEST_TMPDIR/spec.cfg"
	[ "$status" -eq 0 ]
	[[ "$output" != *"installing shoal-agent"* ]]
	[ "$(lab_exec h1 stat -c %Y.%i "$path")" = "$before" ]
}

@test "an agent removed from the host is installed again" {
	lab_spec "$BATS_TEST_TMPDIR/spec.cfg" h1
	agent="$(dirname "$SHOAL_BIN")/shoal-agent"
	hex=$(sha256sum "$agent" | cut -c1-64)
	shoal hosts "$BATS_TEST_TMPDIR/spec.cfg"
	lab_exec h1 sh -c "rm -f /var/lib/shoal/agent/$hex/shoal-agent"
	run shoal hosts "$BATS_TEST_TMPDIR/spec.cfg"
	[ "$status" -eq 0 ]
	[ "$(lab_exec h1 sha256sum "/var/lib/shoal/agent/$hex/shoal-agent" | cut -c1-64)" = "$hex" ]
}

@test "the release agent links nothing but glibc" {
	agent="${SHOAL_RELEASE:-$SHOAL_TOP/build}/shoal-agent"
	[ -x "$agent" ]
	run ldd "$agent"
	[ "$status" -eq 0 ]
	echo "$output"
	extra=$(echo "$output" | grep -v -E '^\s*(linux-vdso\.so\.1|libc\.so\.6 => |/lib64/ld-linux-x86-64\.so\.2)' || true)
	[ -z "$extra" ]
}

@test "the release agent is shipped stripped; its debug info stays beside it" {
	agent="${SHOAL_RELEASE:-$SHOAL_TOP/build}/shoal-agent"
	run readelf -S -W "$agent"
	[ "$status" -eq 0 ]
	[[ "$output" != *" .symtab "* ]]
	[[ "$output" != *" .debug_info "* ]]
	# gdb finds the symbols through the debuglink
	run readelf --string-dump=.gnu_debuglink "$agent"
	[[ "$output" == *"shoal-agent.debug"* ]]
	run readelf -S -W "$agent.debug"
	[[ "$output" == *" .debug_info "* ]]
	# nothing of OpenSSL in it: its sha256 comes from Nettle
	run grep -c -a "OpenSSL" "$agent"
	[ "$output" = 0 ]
}

@test "an upload that is not the agent's digest removes itself and is never installed" {
	agent="$(dirname "$SHOAL_BIN")/shoal-agent"
	hex=$(sha256sum "$agent" | cut -c1-64)
	dir=/var/lib/shoal/agent-install-test
	lab_spec "$BATS_TEST_TMPDIR/spec.cfg" h1
	shoal hosts "$BATS_TEST_TMPDIR/spec.cfg"   # the agent is on h1
	lab_exec h1 sh -c "rm -rf $dir && mkdir -p $dir"
	lab_exec h1 cp "/var/lib/shoal/agent/$hex/shoal-agent" "$dir/up.tmp"

	# the digest of something else: refused, the upload is gone, no agent
	other=$(echo other | sha256sum | cut -c1-64)
	run lab_exec h1 "$dir/up.tmp" install "sha256:$other" "$dir/shoal-agent"
	[ "$status" -eq 1 ]
	[[ "$output" == *"arrived corrupted"*"expected sha256:$other"* ]]
	[ -z "$(lab_exec h1 ls "$dir")" ]

	# a target in another directory is refused before anything happens
	lab_exec h1 cp "/var/lib/shoal/agent/$hex/shoal-agent" "$dir/up.tmp"
	run lab_exec h1 "$dir/up.tmp" install "sha256:$hex" /var/lib/shoal/shoal-agent
	[ "$status" -eq 2 ]
	[[ "$output" == *"is not in $dir"* ]]

	# the right digest: renamed into place, prints the version line
	run lab_exec h1 "$dir/up.tmp" install "sha256:$hex" "$dir/shoal-agent"
	[ "$status" -eq 0 ]
	[[ "$output" == "shoal-agent "* ]]
	[ "$(lab_exec h1 ls "$dir")" = shoal-agent ]
	lab_exec h1 rm -rf "$dir"
}
