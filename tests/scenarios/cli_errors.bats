#!/usr/bin/env bats
# cli_errors.bats - a spec with exactly one problem prints it, in every
# command that reads a spec, in text (stderr) and with --json (stdout), just
# as a spec with nine does.  Also: one error per bad option (with "did you
# mean"), "did you mean" for commands.  No lab needed: every command here
# fails on the spec before it reaches a host.

bats_require_minimum_version 1.5.0

setup_file() {
	: "${SHOAL_BUILD:?SHOAL_BUILD must name the build folder}"
	export SHOAL_TOP="${SHOAL_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
	export SHOAL="$SHOAL_BUILD/shoal"
	export SHOAL_DATA="$SHOAL_TOP"
}

setup() {
	work=$(mktemp -d "${BATS_TMPDIR:-/tmp}/cli_errors.XXXXXX")
	export SHOAL_STATE_DIR="$work/state"
	# One problem: a misspelt spread (line 6).
	cat >"$work/one.cfg" <<-'EOF2'
	name = "one";
	hosts = ( { name = "h1"; address = "127.0.0.1"; transport = "local"; cpus = 2; memory = "2G"; } );
	services = (
	  { name = "cache"; template = "redis"; nodes = 3; replicas = 0;
	    resources = { memory = "64M"; cpus = 0.1; };
	    placement = { spread = "rak"; };
	    ports = { base = 7100; }; }
	);
	EOF2
	# One problem: a syntax error (line 2).
	printf 'name = "syn";\nhosts = ( { name = "h1"; address = ; } );\n' >"$work/syntax.cfg"
}

teardown() {
	rm -rf "$work"
}

# $1 spec, $2 the expected "FILE:LINE: " prefix, $3 a message fragment, then
# the command line (SPEC stands for the spec).
expect_one() {
	local spec=$1 prefix=$2 frag=$3 args=() a
	shift 3
	for a in "$@"; do
		a=${a/#SPEC/$spec}
		args+=("$a")
	done
	run --separate-stderr "$SHOAL" "${args[@]}"
	if [ "$status" -ne 2 ] || ! grep -F -- "$prefix" <<<"$stderr" | grep -qF -- "$frag" ||
		! grep -qF "1 problem" <<<"$stderr"; then
		echo "shoal ${args[*]}: exit $status, want 2, '$prefix...$frag' and '1 problem'"
		echo "stderr: $stderr"
		return 1
	fi
}

@test "every command that reads a spec prints its one problem" {
	for spec in one syntax; do
		f=$work/$spec.cfg
		if [ $spec = one ]; then
			prefix="$f:6: services[0].placement.spread: " frag="did you mean 'rack'?"
		else
			prefix="$f:2: " frag="syntax error"
		fi
		expect_one "$f" "$prefix" "$frag" plan --offline SPEC
		expect_one "$f" "$prefix" "$frag" plan SPEC
		expect_one "$f" "$prefix" "$frag" env SPEC
		expect_one "$f" "$prefix" "$frag" events SPEC
		expect_one "$f" "$prefix" "$frag" unlock SPEC
		expect_one "$f" "$prefix" "$frag" status SPEC
		expect_one "$f" "$prefix" "$frag" up SPEC
		expect_one "$f" "$prefix" "$frag" down SPEC
		expect_one "$f" "$prefix" "$frag" exec SPEC cache-0 -- true
		expect_one "$f" "$prefix" "$frag" logs SPEC cache-0
		expect_one "$f" "$prefix" "$frag" monitor --once SPEC
		expect_one "$f" "$prefix" "$frag" scale --dry-run SPEC cache=6
		expect_one "$f" "$prefix" "$frag" hosts SPEC
		expect_one "$f" "$prefix" "$frag" node --host SPEC:h1 ls
		expect_one "$f" "$prefix" "$frag" check SPEC
	done
}

@test "--json: the one problem is in problems[], with file, line and path" {
	for cmd in plan status env up; do
		run --separate-stderr "$SHOAL" --json $cmd "$work/one.cfg"
		[ "$status" -eq 2 ]
		jq -e --arg f "$work/one.cfg" '.ok == false and (.problems | length) == 1
			and .problems[0].file == $f and .problems[0].line == 6
			and .problems[0].path == "services[0].placement.spread"
			and (.problems[0].message | test("did you mean"))' <<<"$output" ||
			{ echo "$cmd: $output"; return 1; }
	done
	run --separate-stderr "$SHOAL" plan --json "$work/syntax.cfg"
	[ "$status" -eq 2 ]
	jq -e '(.problems | length) == 1 and .problems[0].line == 2' <<<"$output"
	# A missing file is one problem too.
	run --separate-stderr "$SHOAL" plan --json "$work/nosuch.cfg"
	[ "$status" -eq 2 ]
	jq -e '(.problems | length) == 1 and (.problems[0].message | test("No such file"))' <<<"$output"
}

@test "every bad spec of tests/specs/bad prints its problem through plan, text and --json" {
	n=0
	for f in "$SHOAL_TOP"/tests/specs/bad/*.cfg; do
		head=$(head -n 1 "$f")
		want=${head#\# expect: }
		loc=${want%%: *}
		frag=${want#*: }
		case $loc in
		*:*) file="$(dirname "$f")/inc/${loc%%:*}" line=${loc#*:} ;;
		*) file=$f line=$loc ;;
		esac
		[ "$line" -eq 0 ] && prefix="$file: " || prefix="$file:$line: "
		run --separate-stderr "$SHOAL" plan --offline "$f"
		if [ "$status" -ne 2 ] || ! grep -F -- "$prefix" <<<"$stderr" | grep -qF -- "$frag"; then
			echo "$f: exit $status, want 2 and '$prefix...$frag'"
			echo "stderr: $stderr"
			return 1
		fi
		run --separate-stderr "$SHOAL" plan --offline --json "$f"
		[ "$status" -eq 2 ]
		jq -e --arg frag "$frag" --argjson line "$line" \
			'.ok == false and ([.problems[] | select(.line == $line and (.path + ": " + .message | contains($frag)))] | length) >= 1' \
			<<<"$output" >/dev/null || { echo "$f: $output"; return 1; }
		n=$((n + 1))
	done
	[ "$n" -ge 40 ]
}

@test "a refused option is one error, with did-you-mean; commands too" {
	run --separate-stderr "$SHOAL" plan --ofline "$work/one.cfg"
	[ "$status" -eq 2 ]
	[ "$(grep -c . <<<"$stderr")" -eq 2 ] # the error and the help hint
	[[ "$stderr" == "shoal plan: unknown option '--ofline'; did you mean '--offline'?"* ]]
	run --separate-stderr "$SHOAL" hosts --timeout
	[ "$status" -eq 2 ]
	[[ "$stderr" == "shoal hosts: option '--timeout' needs a value"* ]]
	run --separate-stderr "$SHOAL" stauts "$work/one.cfg"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "shoal: no command 'stauts'; did you mean 'status'?"* ]]
	run --separate-stderr "$SHOAL" help stauts
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"did you mean 'status'?"* ]]
	run --separate-stderr "$SHOAL" xyzzy
	[ "$status" -eq 2 ]
	[[ "$stderr" != *"did you mean"* ]]
}

@test "help is true to the build: every listed command answers 'help CMD' and --help" {
	cmds=$("$SHOAL" help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }')
	[ "$(wc -w <<<"$cmds")" -ge 10 ]
	for c in $cmds; do
		run "$SHOAL" help "$c"
		[ "$status" -eq 0 ] || { echo "help $c: $output"; return 1; }
		[[ "$output" == "usage: shoal $c"* ]] || { echo "help $c: $output"; return 1; }
		run "$SHOAL" "$c" --help
		[ "$status" -eq 0 ]
	done
	# time options are durations everywhere
	run "$SHOAL" up --ready-timeout soon "$work/one.cfg"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--ready-timeout takes a duration"* ]]
}

@test "from another folder, commands find the state beside the spec, and say so" {
	mkdir -p "$work/specs/.shoal/local-redis" "$work/elsewhere"
	cp "$SHOAL_TOP/cluster-specs/local-redis.cfg" "$work/specs/"
	printf '{"format":2,"cluster":"local-redis","serial":3,"nodes":[],"secrets":{}}' \
		>"$work/specs/.shoal/local-redis/state.json"
	cd "$work/elsewhere"
	unset SHOAL_STATE_DIR
	# none in ./.shoal: the spec's folder's is read, and named
	run --separate-stderr "$SHOAL" status "$work/specs/local-redis.cfg"
	echo "$output | $stderr"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"state of cluster local-redis: $work/specs/.shoal/local-redis (the spec's folder"* ]]
	[[ "$output" == *"cluster local-redis has no recorded nodes in $work/specs/.shoal/local-redis"* ]]
	run --separate-stderr "$SHOAL" state show "$work/specs/local-redis.cfg"
	echo "$output | $stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"serial":3'* ]]
	[ ! -e "$work/elsewhere/.shoal" ]
	# a state in the current folder still wins (Terraform's habit), and
	# status points at the spec's folder's record
	mkdir -p "$work/elsewhere/.shoal/local-redis"
	run --separate-stderr "$SHOAL" status "$work/specs/local-redis.cfg"
	echo "$output | $stderr"
	[ "$status" -eq 1 ]
	[[ "$stderr" != *"the spec's folder;"* ]]
	[[ "$output" == *"cluster local-redis has no recorded nodes in $work/elsewhere/.shoal/local-redis"* ]]
	[[ "$output" == *"the spec's folder has a record of it: $work/specs/.shoal/local-redis/state.json"*"SHOAL_STATE_DIR=$work/specs/.shoal"* ]]
	# and $SHOAL_STATE_DIR wins over both
	SHOAL_STATE_DIR="$work/other" run --separate-stderr "$SHOAL" status "$work/specs/local-redis.cfg"
	[[ "$output" == *"no recorded nodes in $work/other/local-redis"* ]]
}
