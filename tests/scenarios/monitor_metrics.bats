#!/usr/bin/env bats
# Scenario: the monitor's HTTP endpoints: /metrics passes `promtool check
# metrics` and says every node and host is up; /status lists every node as
# `shoal status --json` does; /events is JSON lines.

load 'monitor_helpers'

setup_file() {
	monitor_setup_file
}

teardown_file() {
	monitor_teardown_file
}

@test "/metrics passes promtool and reports every node and host up" {
	curl -sf "$MON_URL/metrics" >"$BATS_TEST_TMPDIR/metrics"
	run promtool check metrics <"$BATS_TEST_TMPDIR/metrics"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^shoal_node_up{.*} 1$' "$BATS_TEST_TMPDIR/metrics")" -eq 6 ]
	[ "$(grep -c '^shoal_host_up{.*} 1$' "$BATS_TEST_TMPDIR/metrics")" -eq 3 ]
	grep -q '^shoal_cluster_hosts_reachable{cluster="lab-redis"} 3$' "$BATS_TEST_TMPDIR/metrics"
	grep -q '^shoal_node_probe_seconds_count{cluster="lab-redis",node="cache-0",host="h1"} [1-9]' \
		"$BATS_TEST_TMPDIR/metrics"
}

@test "/status has the nodes of shoal status --json" {
	curl -sf "$MON_URL/status" | jq -c '[.nodes[] | {node, host, address, port}] | sort_by(.node)' \
		>"$BATS_TEST_TMPDIR/a"
	"$SHOAL" status --json "$SPEC" | jq -c '[.nodes[] | {node, host, address, port}] | sort_by(.node)' \
		>"$BATS_TEST_TMPDIR/b"
	diff "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
}

@test "/events is JSON lines starting with monitor-start" {
	curl -sf "$MON_URL/events" >"$BATS_TEST_TMPDIR/ev"
	jq -e . "$BATS_TEST_TMPDIR/ev" >/dev/null
	[ "$(head -1 "$BATS_TEST_TMPDIR/ev" | jq -r .event)" = monitor-start ]
}
