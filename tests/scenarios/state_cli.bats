#!/usr/bin/env bats
# state_cli.bats - an operator inspecting a cluster without touching hosts:
# `shoal plan` (text, --json, --detailed-exitcode) against an empty and a
# recorded state, `shoal env` evaluated by a shell, and `shoal unlock` against
# a live, a forced and a stale lock.  Real binary, state in a temp folder
# ($SHOAL_STATE_DIR).  No lab needed.

bats_require_minimum_version 1.5.0

setup_file() {
	: "${SHOAL_BUILD:?SHOAL_BUILD must name the build folder}"
	export SHOAL_TOP="${SHOAL_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
	export SHOAL="$SHOAL_BUILD/shoal"
	export SHOAL_DATA="$SHOAL_TOP"
	export SPEC="$SHOAL_TOP/cluster-specs/lab-redis.cfg"
}

setup() {
	export SHOAL_STATE_DIR
	SHOAL_STATE_DIR=$(mktemp -d "${BATS_TMPDIR:-/tmp}/state_cli.XXXXXX")
	holder=
}

teardown() {
	[ -z "$holder" ] || { kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null || true; }
	rm -rf "$SHOAL_STATE_DIR"
}

# Record the plan's nodes as state.json, as `up` would after converging.
record_plan() {
	cluster=$(jq -r .cluster <<<"$1")
	mkdir -p "$SHOAL_STATE_DIR/$cluster"
	jq --arg c "$cluster" '{format: 1, cluster: $c, serial: 1,
		nodes: [.actions[] | select(.action == "create") |
			{id: .node, service: .service, host: .host, address: .address,
			 port: .port, bus_port: (.port + 10000),
			 role: (if (.detail | startswith("replica")) then "replica" else "master" end),
			 shard: 0}],
		secrets: {"cache.password": "pa'"'"'ss $(id)"}}' <<<"$1" \
		>"$SHOAL_STATE_DIR/$cluster/state.json"
}

@test "plan: fresh cluster, recorded cluster, exit codes and JSON" {
	run --separate-stderr "$SHOAL" plan --offline "$SPEC"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^+ create cache-' <<<"$output")" -eq 6 ]
	grep -qx '+ form cache, 3 masters, 3 replicas' <<<"$output"
	grep -qx 'Plan: 6 to create, 0 to change, 0 to remove.' <<<"$output"

	run "$SHOAL" plan --offline --detailed-exitcode "$SPEC"
	[ "$status" -eq 3 ]

	run --separate-stderr "$SHOAL" --json plan --offline "$SPEC"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.changes' <<<"$output")" = true ]
	[ "$(jq '[.actions[] | select(.action == "create")] | length' <<<"$output")" -eq 6 ]
	# every replica is on another host than its master
	jq -e '[.actions[] | select(.action == "create")] as $c |
		all($c[] | select(.detail | startswith("replica of")); . as $r |
		    ($c[] | select(.node == ($r.detail | ltrimstr("replica of ")))).host != $r.host)' \
		<<<"$output"

	record_plan "$output"
	run --separate-stderr "$SHOAL" plan --offline --detailed-exitcode "$SPEC"
	[ "$status" -eq 0 ]
	[ "$output" = "No changes: the cluster matches the spec." ]

	# a recorded node the spec no longer has is removed, in order
	jq '.nodes += [{id: "cache-6", service: "cache", host: "h1", address: "10.213.0.11",
		port: 7009, bus_port: 17009, role: "master", shard: 3}]' \
		"$SHOAL_STATE_DIR/lab-redis/state.json" >"$SHOAL_STATE_DIR/s" &&
		mv "$SHOAL_STATE_DIR/s" "$SHOAL_STATE_DIR/lab-redis/state.json"
	run --separate-stderr "$SHOAL" plan --offline --detailed-exitcode "$SPEC"
	[ "$status" -eq 3 ]
	[ "${lines[0]}" = "- leave cache-6 from cache, not in the spec" ]
	[ "${lines[1]}" = "- stop cache-6 on h1, not in the spec" ]
	[ "${lines[2]}" = "- remove cache-6 from h1, not in the spec" ]

	# a corrupt state is reported, not replaced
	echo '{"format": 1' >"$SHOAL_STATE_DIR/lab-redis/state.json"
	run --separate-stderr "$SHOAL" plan --offline "$SPEC"
	[ "$status" -eq 2 ]
	grep -q "lab-redis/state.json" <<<"$stderr"
	[ "$(cat "$SHOAL_STATE_DIR/lab-redis/state.json")" = '{"format": 1' ]

	run "$SHOAL" plan
	[ "$status" -eq 2 ]
}

@test "env: eval gives seeds and the password, quoted" {
	run --separate-stderr "$SHOAL" env "$SPEC" cache
	[ "$status" -eq 1 ]
	grep -q "run 'shoal up' first" <<<"$stderr"

	record_plan "$("$SHOAL" --json plan --offline "$SPEC")"
	run --separate-stderr "$SHOAL" env "$SPEC"
	[ "$status" -eq 0 ]
	eval "$output"
	[ "$REDISCLI_AUTH" = "pa'ss \$(id)" ]
	[ "$(tr ',' '\n' <<<"$SHOAL_SEEDS" | wc -l)" -eq 6 ]
	grep -q "^$SHOAL_HOST:$SHOAL_PORT\$" < <(tr ',' '\n' <<<"$SHOAL_SEEDS")
	# exported, so redis-cli sees it
	[ "$(sh -c 'echo "$REDISCLI_AUTH"')" = "pa'ss \$(id)" ]

	run "$SHOAL" env "$SPEC" nosuch
	[ "$status" -eq 2 ]
	# a control character in a recorded secret is refused, not printed
	jq '.secrets["cache.password"] = "a\nb"' "$SHOAL_STATE_DIR/lab-redis/state.json" \
		>"$SHOAL_STATE_DIR/s" && mv "$SHOAL_STATE_DIR/s" "$SHOAL_STATE_DIR/lab-redis/state.json"
	run --separate-stderr "$SHOAL" env "$SPEC" cache
	[ "$status" -ne 0 ]
	[ -z "$output" ]
}

@test "unlock: live holder refused, --force, stale record cleared" {
	dir="$SHOAL_STATE_DIR/lab-redis"
	mkdir -p "$dir"
	# a live holder: record + flock held by the same process (--no-fork:
	# sleep is that process, so killing it leaves nothing behind; bats'
	# fd 3 closed, or a leftover would hold the file open for 60 s)
	(
		printf '{"pid":%d,"host":"%s","user":"ops","started":"2026-01-01T00:00:00Z","command":"shoal up x.cfg"}' \
			"$BASHPID" "$(hostname)" >"$dir/lock"
		exec flock --no-fork -x "$dir/lock" sleep 60
	) 3>&- &
	holder=$!
	for _ in $(seq 300); do flock -n -x "$dir/lock" true || break; sleep 0.1; done
	run --separate-stderr "$SHOAL" unlock "$SPEC"
	[ "$status" -eq 1 ]
	grep -q "locked by pid $holder on .*running 'shoal up x.cfg'" <<<"$stderr"
	[ -e "$dir/lock" ]

	run --separate-stderr "$SHOAL" unlock --force "$SPEC"
	[ "$status" -eq 0 ]
	grep -q "was held by pid $holder" <<<"$output"
	[ ! -e "$dir/lock" ]
	kill "$holder"; wait "$holder" 2>/dev/null || true; holder=

	# a holder that died: its record stays, its flock is gone
	printf '{"pid":999999,"host":"%s","user":"ops","started":"x","command":"shoal up y.cfg"}' \
		"$(hostname)" >"$dir/lock"
	run --separate-stderr "$SHOAL" unlock "$SPEC"
	[ "$status" -eq 0 ]
	grep -q "was held by pid 999999" <<<"$output"
	[ ! -s "$dir/lock" ]
	run --separate-stderr "$SHOAL" unlock "$SPEC"
	[ "$output" = "cluster 'lab-redis' was not locked" ]
}
