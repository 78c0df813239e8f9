#!/usr/bin/env bats
# spec_check.bats - `shoal check` as a user runs it: every spec under
# cluster-specs/ prints exactly "ok"; every spec in tests/specs/bad/ exits 2
# with a problem at the FILE:LINE and with the message its first line names;
# generated bad inputs (empty, directory, 10 MB, missing) fail cleanly; --json
# is valid JSON; docs/spec.md matches the key table.  No lab needed.

bats_require_minimum_version 1.5.0

setup_file() {
	: "${SHOAL_BUILD:?SHOAL_BUILD must name the build folder}"
	export SHOAL_TOP="${SHOAL_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
	export SHOAL="$SHOAL_BUILD/shoal"
	export SHOAL_DATA="$SHOAL_TOP" # templates/ from the source tree
}

setup() {
	work=$(mktemp -d "${BATS_TMPDIR:-/tmp}/spec_check.XXXXXX")
}

teardown() {
	rm -rf "$work"
}

@test "every cluster spec prints exactly ok (and at most plan's warnings)" {
	n=0
	for f in "$SHOAL_TOP"/cluster-specs/*.cfg; do
		run --separate-stderr "$SHOAL" check "$f"
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; return 1; }
		[ "$output" = ok ]
		# Only warnings of relaxed placement rules, never a problem.
		[ -z "$(grep -v '^warning: ' <<<"$stderr")" ] || { echo "$f: $stderr"; return 1; }
		n=$((n + 1))
	done
	[ "$n" -ge 6 ]
	# Several specs at once: "FILE: ok" per spec.
	run --separate-stderr "$SHOAL" check "$SHOAL_TOP"/cluster-specs/*.cfg
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c '\.cfg: ok$')" -eq "$n" ]
}

@test "every bad spec exits 2 with its expected file:line and message" {
	n=0
	for f in "$SHOAL_TOP"/tests/specs/bad/*.cfg; do
		head=$(head -n 1 "$f")
		want=${head#\# expect: }
		[ "$want" != "$head" ] || { echo "$f: no '# expect:' line"; return 1; }
		loc=${want%%: *}
		frag=${want#*: }
		case $loc in
		*:*) file="$(dirname "$f")/inc/${loc%%:*}" line=${loc#*:} ;;
		*) file=$f line=$loc ;;
		esac
		[ "$line" -eq 0 ] && prefix="$file: " || prefix="$file:$line: "
		run --separate-stderr "$SHOAL" check "$f"
		if [ "$status" -ne 2 ] || [ -n "$output" ] ||
			! printf '%s\n' "$stderr" | grep -F -- "$prefix" | grep -qF -- "$frag"; then
			echo "$f: exit $status, want 2 and '$prefix...$frag'"
			echo "stdout: $output"
			echo "stderr: $stderr"
			return 1
		fi
		n=$((n + 1))
	done
	[ "$n" -ge 40 ]
}

@test "generated bad inputs: empty, directory, 10 MB, missing, deep nesting" {
	: >"$work/empty.cfg"
	run --separate-stderr "$SHOAL" check "$work/empty.cfg"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "$work/empty.cfg: is empty"* ]]

	run --separate-stderr "$SHOAL" check "$work"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "$work: is a directory"* ]]

	head -c 10485760 /dev/zero | tr '\0' '#' >"$work/big.cfg"
	run --separate-stderr "$SHOAL" check "$work/big.cfg"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"at most 1 MiB"* ]]

	run --separate-stderr "$SHOAL" check "$work/missing.cfg"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"No such file"* ]]

	{ printf 'name = "x";\nx = '; head -c 100000 /dev/zero | tr '\0' '['; echo; } >"$work/deep.cfg"
	run --separate-stderr "$SHOAL" check "$work/deep.cfg"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "$work/deep.cfg:2: "*"nested more than 32 deep"* ]]

	# One good and one bad spec: ok for the good one, exit 2 overall.
	run --separate-stderr "$SHOAL" check "$SHOAL_TOP/cluster-specs/lab-redis.cfg" "$work/empty.cfg"
	[ "$status" -eq 2 ]
	[ "$output" = "$SHOAL_TOP/cluster-specs/lab-redis.cfg: ok" ]
}

@test "--json reports every problem with file, line and key path" {
	cat >"$work/bad.cfg" <<-'EOF'
	name = "x";
	hosts = ( { name = "h1"; address = "10.0.0.1"; cpus = 2; memory = "1G"; rak = "r1"; } );
	services = ( { name = "c"; template = "redis"; nodes = 4; ports = { base = 7000; }; } );
	EOF
	run --separate-stderr "$SHOAL" check --json "$work/bad.cfg"
	[ "$status" -eq 2 ]
	[ "$(jq -r .ok <<<"$output")" = false ]
	[ "$(jq -r '.problems[] | select(.path == "hosts[0].rak") | .line' <<<"$output")" = 2 ]
	jq -e '.problems[] | select(.path == "services[0].nodes" and .line == 3)
		| .message | test("at least 3 masters")' <<<"$output"
	run --separate-stderr "$SHOAL" check --json "$SHOAL_TOP/cluster-specs/riak-5.cfg"
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.ok, (.problems | length)]' <<<"$output")" = '[true,0]' ]
}

@test "usage: help text, no spec, unknown option" {
	run "$SHOAL" help check
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: shoal check"*"--json"*"--keys-markdown"* ]]
	run "$SHOAL" check
	[ "$status" -eq 2 ]
	run "$SHOAL" check --bogus "$SHOAL_TOP/cluster-specs/lab-redis.cfg"
	[ "$status" -eq 2 ]
}

@test "docs/spec.md lists every key exactly as the key table does" {
	SHOAL="$SHOAL" run "$SHOAL_TOP/tests/specs/spec-doc.sh" --check
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
}
