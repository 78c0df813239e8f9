#!/usr/bin/env bats
# Scenario: the monitor's HTTP endpoints: /metrics passes `promtool check
# metrics` and says every node and host is up; /status is the document of
# `shoal status --json` (nodes, services, monitor) plus the monitor's own
# view in its monitor object; /events is JSON lines.

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

# status_doc: the stable part of a `shoal status --json` document on stdin
# (uptime changes between two reads; the monitor object is compared apart).
status_doc() {
	jq -S '{cluster, nodes: ([.nodes[] | del(.uptime_ms)] | sort_by(.node)), services}'
}

# status_built: /status carries the database's view and the agents' (the
# first document is built on a thread after the monitor starts, maybe while
# it still connects to the hosts: its nodes are "connecting" then).
status_built() {
	curl -sf "$MON_URL/status" | jq -e '(.services | length) > 0 and ([.nodes[] | select(.health == "ok" and .state == "running")] | length) == 6'
}

@test "/status is shoal status --json, and its monitor object adds the monitor's view" {
	wait_for 60 status_built
	curl -sf "$MON_URL/status" >"$BATS_TEST_TMPDIR/mon.json"
	"$SHOAL" status --json "$SPEC" >"$BATS_TEST_TMPDIR/cli.json"
	status_doc <"$BATS_TEST_TMPDIR/mon.json" >"$BATS_TEST_TMPDIR/a"
	status_doc <"$BATS_TEST_TMPDIR/cli.json" >"$BATS_TEST_TMPDIR/b"
	diff "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	jq -e '.services[0].cluster_state == "ok" and .services[0].slots_served == 16384' \
		"$BATS_TEST_TMPDIR/a"
	# the CLI's monitor object is part of the monitor's
	jq -S '.monitor' "$BATS_TEST_TMPDIR/cli.json" >"$BATS_TEST_TMPDIR/cm"
	jq -S '.monitor | {running, pid, host, since}' "$BATS_TEST_TMPDIR/mon.json" >"$BATS_TEST_TMPDIR/mm"
	diff "$BATS_TEST_TMPDIR/cm" "$BATS_TEST_TMPDIR/mm"
	jq -e '(.monitor.nodes | length) == 6 and (.monitor.hosts | length) == 3 and .monitor.held == false' \
		"$BATS_TEST_TMPDIR/mon.json"
}

@test "/events is JSON lines starting with monitor-start" {
	curl -sf "$MON_URL/events" >"$BATS_TEST_TMPDIR/ev"
	jq -e . "$BATS_TEST_TMPDIR/ev" >/dev/null
	[ "$(head -1 "$BATS_TEST_TMPDIR/ev" | jq -r .event)" = monitor-start ]
}
