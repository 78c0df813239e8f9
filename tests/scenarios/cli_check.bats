#!/usr/bin/env bats
# cli_check.bats - `shoal check` applies every rule `plan` applies before it
# asks a host: placement (anti-affinity with too few hosts, capacity), the
# templates and the image recipes they default to (a missing one is "No such
# file", naming the path), and a spread that cannot be honoured warns as
# plan does.  `check a b` names each file; an unknown template lists the
# known ones; `image build` of a missing recipe says "No such file".
# No lab needed.

bats_require_minimum_version 1.5.0

setup_file() {
	: "${SHOAL_BUILD:?SHOAL_BUILD must name the build folder}"
	export SHOAL_TOP="${SHOAL_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
	export SHOAL="$SHOAL_BUILD/shoal"
}

setup() {
	work=$(mktemp -d "${BATS_TMPDIR:-/tmp}/cli_check.XXXXXX")
	export SHOAL_STATE_DIR="$work/state" SHOAL_HOME="$work/home"
	export SHOAL_DATA="$SHOAL_TOP"
	# $1 name, $2 hosts' rack line fragment, $3 replicas, $4 placement
	spec() {
		cat <<-EOF2
		name = "$1";
		hosts = (
		  { name = "h1"; address = "10.0.0.1"; $2 cpus = 4; memory = "4G"; }$5
		);
		services = (
		  { name = "cache"; template = "redis"; nodes = 6; replicas = $3;
		    resources = { memory = "64M"; cpus = 0.1; };
		    placement = { $4 };
		    ports = { base = 7000; }; }
		);
		EOF2
	}
}

teardown() {
	rm -rf "$work"
}

@test "one host and replicas = 1: check refuses what plan refuses, at the service's line" {
	spec onehost "" 1 "" "" >"$work/onehost.cfg"
	run --separate-stderr "$SHOAL" check "$work/onehost.cfg"
	echo "$stderr"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == *"$work/onehost.cfg:6: services[0]: cache-1: anti-affinity needs 2 hosts"* ]]
	run --separate-stderr "$SHOAL" check --json "$work/onehost.cfg"
	[ "$status" -eq 2 ]
	jq -e '.ok == false and (.problems | length) == 1 and .problems[0].line == 6
		and (.problems[0].message | test("anti-affinity"))' <<<"$output"
	# plan says the same
	run --separate-stderr "$SHOAL" plan --offline "$work/onehost.cfg"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"anti-affinity needs 2 hosts"* ]]
}

@test "rack spread with every host in one rack: a warning, as plan gives, and ok" {
	spec onerack 'rack = "r1";' 1 'spread = "rack";' ',
	  { name = "h2"; address = "10.0.0.2"; rack = "r1"; cpus = 4; memory = "4G"; },
	  { name = "h3"; address = "10.0.0.3"; rack = "r1"; cpus = 4; memory = "4G"; }' >"$work/onerack.cfg"
	run --separate-stderr "$SHOAL" check "$work/onerack.cfg"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = ok ]
	[[ "$stderr" == "warning: $work/onerack.cfg:"*"services[0]: cache: rack spread relaxed"* ]]
	run --separate-stderr "$SHOAL" check --json "$work/onerack.cfg"
	[ "$status" -eq 0 ]
	jq -e '.ok and (.warnings | length) == 1 and (.warnings[0].message | test("rack spread relaxed"))' <<<"$output"
	# spread_strict turns it into a refusal, in check as in plan
	sed -i 's/spread = "rack";/spread = "rack"; spread_strict = true;/' "$work/onerack.cfg"
	run --separate-stderr "$SHOAL" check "$work/onerack.cfg"
	echo "$stderr"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"rack spread needs"* ]]
}

@test "a template's default recipe that does not exist: No such file, naming it" {
	mkdir -p "$work/data/templates"
	cp -r "$SHOAL_TOP/templates/redis" "$work/data/templates/"
	spec norecipe "" 0 "" ",
	  { name = \"h2\"; address = \"10.0.0.2\"; cpus = 4; memory = \"4G\"; }" >"$work/norecipe.cfg"
	SHOAL_DATA=$work/data run --separate-stderr "$SHOAL" check "$work/norecipe.cfg"
	echo "$stderr"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"services[0].template: template 'redis' runs image recipe $work/data/node-images/redis.cfg"*"No such file or directory"* ]]
	# naming an image instead is fine for check
	sed -i 's/template = "redis";/template = "redis"; image = "redis:7.0";/' "$work/norecipe.cfg"
	SHOAL_DATA=$work/data run --separate-stderr "$SHOAL" check "$work/norecipe.cfg"
	[ "$status" -eq 0 ]
	# every shipped spec passes, cassandra-2dc.cfg (an imported image) too
	run "$SHOAL" check "$SHOAL_TOP/cluster-specs/cassandra-2dc.cfg"
	[ "$status" -eq 0 ]
}

@test "image build of a missing recipe: No such file" {
	run --separate-stderr "$SHOAL" image build "$work/nosuch.cfg"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"$work/nosuch.cfg: No such file or directory"* ]]
	[[ "$stderr" != *"file I/O error"* ]]
}

@test "check a b names each file; an unknown template lists the known ones" {
	spec good "" 0 "" ",
	  { name = \"h2\"; address = \"10.0.0.2\"; cpus = 4; memory = \"4G\"; }" >"$work/good.cfg"
	sed 's/"redis"/"postgres"/' "$work/good.cfg" >"$work/tmpl.cfg"
	run --separate-stderr "$SHOAL" check "$work/good.cfg" "$work/tmpl.cfg" "$work/good.cfg"
	[ "$status" -eq 2 ]
	[ "$output" = "$work/good.cfg: ok
$work/good.cfg: ok" ]
	[[ "$stderr" == *"unknown template 'postgres'"*"known: "*"redis"* ]]
	run --separate-stderr "$SHOAL" check "$work/good.cfg"
	[ "$output" = ok ]
}

@test "shoal init writes a commented spec that passes check, never overwriting" {
	cd "$work"
	run "$SHOAL" init
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "wrote cluster.cfg (cluster cluster, 3 hosts): ok"* ]]
	grep -q '^#' cluster.cfg
	for n in 1 2 5; do
		run "$SHOAL" init --hosts "$n" "my-$n.cfg"
		[ "$status" -eq 0 ] || { echo "$output"; return 1; }
		run --separate-stderr "$SHOAL" check "my-$n.cfg"
		[ "$status" -eq 0 ] && [ "$output" = ok ] && [ -z "$stderr" ] || { echo "$n: $output $stderr"; return 1; }
	done
	grep -q 'transport = "local"' my-1.cfg
	run "$SHOAL" init my-1.cfg
	[ "$status" -eq 2 ]
	[[ "$output" == *"my-1.cfg exists: not overwritten"* ]]
	run "$SHOAL" init --template postgres x.cfg
	[ "$status" -eq 2 ]
	[[ "$output" == *"one of redis, riak, cassandra, not 'postgres'"* ]]
	[ ! -e x.cfg ]
}

@test "shoal init writes Riak and Cassandra specs too: one node per host, 3 hosts or more" {
	cd "$work"
	for t in riak cassandra; do
		for n in 3 5; do
			run "$SHOAL" init --template "$t" --hosts "$n" "$t-$n.cfg"
			echo "$output"
			[ "$status" -eq 0 ]
			[[ "$output" == "wrote $t-$n.cfg (cluster $t-$n, $n hosts): ok"* ]]
			run --separate-stderr "$SHOAL" check "$t-$n.cfg"
			[ "$status" -eq 0 ] && [ "$output" = ok ] && [ -z "$stderr" ] || { echo "$t $n: $output $stderr"; return 1; }
			grep -q "template = \"$t\";" "$t-$n.cfg"
			grep -q '^#' "$t-$n.cfg"
			# one node per host, each on its own host
			run --separate-stderr "$SHOAL" --json plan --offline "$t-$n.cfg"
			[ "$(jq '[.actions[] | select(.action == "create")] | length' <<<"$output")" -eq "$n" ]
			[ "$(jq '[.actions[] | select(.action == "create") | .host] | unique | length' <<<"$output")" -eq "$n" ]
		done
		run "$SHOAL" init --template "$t" --hosts 2 "$t-2.cfg"
		[ "$status" -eq 2 ]
		[[ "$output" == *"--template $t needs --hosts 3 or more"* ]]
		[ ! -e "$t-2.cfg" ]
	done
	grep -q 'image = "cassandra:4.1";' cassandra-3.cfg
}
