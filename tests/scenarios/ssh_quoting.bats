#!/usr/bin/env bats
# Remote commands are argv: hostile words reach the far side byte for byte
# through the lab's real sshd and root's login shell (shoal run).

load '../lab/helpers'
load 'ssh_helpers'

setup_file() {
	lab_setup 1
}

teardown_file() {
	lab_teardown
}

@test "hostile argv words arrive unchanged on the host" {
	lab_spec "$BATS_TEST_TMPDIR/spec.cfg" h1
	words=("" " " "it's" "'" "''" '"q"' '$(touch /tmp/pwned)' '`touch /tmp/pwned`'
		'${HOME}' 'a;touch /tmp/pwned' 'a|b' 'a&&b' $'a\nb' $'\n' "-rf" "--" "-"
		"*" "~" '\' "\\'" "'\\''" $'\t tab' "#c" "!x" 'a>b<c'
		$'\xff\xfe not utf-8 \x80' $'\xe2\x82\xac' $'\x01\x1b[31m')
	shoal run "$BATS_TEST_TMPDIR/spec.cfg" -- printf '%s\0' "${words[@]}" >"$BATS_TEST_TMPDIR/got"
	printf '%s\0' "${words[@]}" >"$BATS_TEST_TMPDIR/want"
	cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	run lab_exec h1 test -e /tmp/pwned
	[ "$status" -ne 0 ]
}

@test "exit codes and signals come back" {
	lab_spec "$BATS_TEST_TMPDIR/spec.cfg" h1
	run shoal run "$BATS_TEST_TMPDIR/spec.cfg" -- sh -c 'echo why >&2; exit 3'
	[ "$status" -eq 1 ]
	[[ "$output" == *"why"* ]]
	[[ "$output" == *"sh ended with exit code 3"* ]]
	run shoal run "$BATS_TEST_TMPDIR/spec.cfg" -- sh -c 'kill -TERM $$'
	[ "$status" -eq 1 ]
	[[ "$output" == *"sh ended with signal 15"* ]]
}
