#!/usr/bin/env bats
# tests/deps_check.sh: passes on deps/debian.txt, and fails naming the
# program and its package when a copied list lacks one.  The scans of each
# kind of source (shell command, host wrapper, Makefile recipe, C argv) are
# shown on a small tree of their own.

setup() {
	TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	T=$(mktemp -d /tmp/shoal-depstest.XXXXXX)
}

teardown() {
	rm -rf "$T"
}

@test "deps_check: deps/debian.txt covers every program the sources run" {
	run "$TOP/tests/deps_check.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"programs the sources run come from packages in"* ]]
}

@test "deps_check: a list without nftables fails naming nft and nftables" {
	grep -vx 'nftables.*' "$TOP/deps/debian.txt" >"$T/debian.txt"
	! grep -q '^nftables' "$T/debian.txt"
	run "$TOP/tests/deps_check.sh" "$T/debian.txt"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"deps_check: nft (run by "*", /usr/sbin/nft) comes from Debian package nftables, which $T/debian.txt does not list"* ]]
	[[ "$output" == *"1 of "*" programs the sources run are not covered"* ]]
}

@test "deps_check: a list without redis-tools and binutils names each program" {
	grep -vxE '(redis-tools|binutils)( .*)?' "$TOP/deps/debian.txt" >"$T/debian.txt"
	run "$TOP/tests/deps_check.sh" "$T/debian.txt"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"redis-cli (run by "*"comes from Debian package redis-tools"* ]]
	[[ "$output" == *"objcopy (run by Makefile, /usr/bin/objcopy) comes from Debian package binutils"* ]]
	[[ "$output" == *"readelf (run by "*"comes from Debian package binutils"* ]]
}

# A tree of its own: deps_check scans the folder above its own.
mini_tree() {
	mkdir -p "$T/tree/tests/lab" "$T/tree/deps" "$T/tree/src"
	cp "$TOP/tests/deps_check.sh" "$T/tree/tests/"
	printf 'coreutils\n' >"$T/tree/deps/debian.txt"
}

@test "deps_check: finds programs in shell, host wrappers, Makefile recipes and C argv" {
	mini_tree
	printf '#!/bin/sh\nx=$(timeout 5 jq . </dev/null)\n' >"$T/tree/a.sh"
	printf '#!/bin/bash\nin_net() { :; }\nin_net h1 nft list ruleset\n' >"$T/tree/tests/lab/lab"
	printf 'all:\n\tredis-cli ping\n' >"$T/tree/Makefile"
	printf 'static const char *argv[] = {"ssh-keygen", "-l", 0};\n' >"$T/tree/src/x.c"
	run "$T/tree/tests/deps_check.sh"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"jq (run by a.sh, /usr/bin/jq) comes from Debian package jq"* ]]
	[[ "$output" == *"nft (run by tests/lab/lab, /usr/sbin/nft) comes from Debian package nftables"* ]]
	[[ "$output" == *"redis-cli (run by Makefile, /usr/bin/redis-cli) comes from Debian package redis-tools"* ]]
	[[ "$output" == *"ssh-keygen (run by src/x.c, /usr/bin/ssh-keygen) comes from Debian package openssh-client"* ]]
	[[ "$output" == *"4 of "* ]]
	# Required packages need no listing; the list's own words count.
	printf 'jq\nnftables\nredis-tools\nopenssh-client\n' >"$T/tree/deps/debian.txt"
	run "$T/tree/tests/deps_check.sh"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "deps_check: a program named after a host wrapper that is not installed fails" {
	mini_tree
	printf '#!/bin/bash\nlab_exec h1 shoal-no-such-program --x\n' >"$T/tree/tests/lab/lab"
	run "$T/tree/tests/deps_check.sh"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"shoal-no-such-program (run by tests/lab/lab) is not installed: no package in"* ]]
}
