#!/usr/bin/env bats
# Scenario: a partition that cuts the operator side off from 2 of the 3
# hosts: the monitor reports both hosts unreachable, holds (cluster-hold,
# shoal_cluster_held 1) and kills nothing; after `lab heal` it resumes,
# every host and node is up again and no node was restarted.

load 'monitor_helpers'

setup_file() {
	monitor_setup_file
}

teardown_file() {
	lab heal >/dev/null 2>&1
	monitor_teardown_file
}

metrics_held() {
	local m
	m=$(curl -sf "$MON_URL/metrics") || return
	grep -q "^shoal_cluster_held{cluster=\"lab-redis\"} $1\$" <<<"$m"
}

@test "operator cut off from 2 of 3 hosts: hold and alert, no repair" {
	"$SHOAL" status --json "$SPEC" | jq -c '[.nodes[] | {node, restarts}]' >"$BATS_FILE_TMPDIR/before"
	lab partition h2 / h3 --isolate
	wait_for 60 has_event cluster-hold
	wait_for 60 metrics_held 1
	[ "$(events_count host-unreachable)" -eq 2 ]
	"$SHOAL" --json events "$SPEC" | jq -s -e \
		'[.[] | select(.event == "host-unreachable") | .host] | sort == ["h2", "h3"]'
	lab heal
	wait_for 60 has_event cluster-resume
	wait_for 60 metrics_held 0
	wait_for 60 monitor_all_up
	[ "$(events_count node-hung)" -eq 0 ]
	[ "$(events_count host-reachable)" -eq 2 ]
	"$SHOAL" status --json "$SPEC" | jq -c '[.nodes[] | {node, restarts}]' >"$BATS_FILE_TMPDIR/after"
	diff "$BATS_FILE_TMPDIR/before" "$BATS_FILE_TMPDIR/after"
}
