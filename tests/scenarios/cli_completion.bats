#!/usr/bin/env bats
# cli_completion.bats - bash/zsh completion and shoal(1) come from the
# command table: every command is in them, docs/shoal.1 matches the build,
# bash completes commands and a command's options.  No lab needed.

bats_require_minimum_version 1.5.0

setup_file() {
	: "${SHOAL_BUILD:?SHOAL_BUILD must name the build folder}"
	export SHOAL_TOP="${SHOAL_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
	export SHOAL="$SHOAL_BUILD/shoal"
}

@test "docs/shoal.1 is what the build generates (no drift)" {
	run --separate-stderr "$SHOAL" completion man
	[ "$status" -eq 0 ]
	diff <(printf '%s\n' "$output") "$SHOAL_TOP/docs/shoal.1"
}

@test "every command of the table is in the man page and both completions" {
	cmds=$("$SHOAL" help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }')
	man=$("$SHOAL" completion man)
	bashc=$("$SHOAL" completion bash)
	zshc=$("$SHOAL" completion zsh)
	for c in $cmds; do
		grep -qx ".SS $c" <<<"$man" || { echo "man: $c"; return 1; }
		grep -q "^	$c) opts=" <<<"$bashc" || { echo "bash: $c"; return 1; }
		grep -q "^		'$c:" <<<"$zshc" || { echo "zsh: $c"; return 1; }
	done
	bash -n <(printf '%s\n' "$bashc")
}

@test "bash completes commands and a command's options" {
	complete_words() {
		bash -c 'source <("$1" completion bash); shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _shoal; echo "${COMPREPLY[*]}"' _ "$SHOAL" "$@"
	}
	[ "$(complete_words shoal stat)" = "state status" ]
	[ "$(complete_words shoal statu)" = status ]
	[[ " $(complete_words shoal status --wa) " == *" --wait-healthy "* ]]
	r=$(complete_words shoal plan --o)
	[[ " $r " == *" --offline "* && " $r " == *" --out "* ]]
	[[ " $(complete_words shoal up --auto) " == *" --auto-approve "* ]]
	run "$SHOAL" completion fish
	[ "$status" -eq 2 ]
}
