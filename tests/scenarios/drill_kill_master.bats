#!/usr/bin/env bats
# Scenario: `shoal drill --scenario kill-master`, 10 rounds under load with
# `shoal monitor` running on lab-redis: every round is detected and
# recovered (the cluster healthy again), the monitor's events are in the
# report, no acknowledged write is lost, and report.html parses as XML
# (xmllint) with one fault band per round.

load 'monitor_helpers'

setup_file() {
	monitor_setup_file
}

teardown_file() {
	monitor_teardown_file
}

@test "kill-master x10 with the monitor: detected, recovered, reported, one band per round" {
	redis_auth
	run "$SHOAL" drill "$SPEC" --scenario kill-master --rounds 10 --interval 2s --seed 11 \
		--load writers=2,rate=1000 --report "$BATS_FILE_TMPDIR/r"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"check: valid"* && "$output" == *"cluster at the end: healthy"* ]]
	r="$BATS_FILE_TMPDIR/r/report.json"
	[ "$(jq '.rounds | length' "$r")" -eq 10 ]
	# each round: detected, then recovered (every node answers, cluster ok)
	[ "$(jq '[.rounds[] | select(.recovered and .detected_at_ms != null and
		.recovered_at_ms >= .detected_at_ms and .detected_at_ms >= .injected_at_ms)] | length' "$r")" -eq 10 ]
	# the victims were masters: every one a node of the service
	[ "$(jq -r '[.rounds[].victim | test("^cache-[0-5]$")] | all' "$r")" = true ]
	[ "$(jq -r .monitor_running "$r")" = true ]
	[ "$(jq '[.rounds[] | select(.monitor_events | map(.event) | index("node-exited"))] | length' "$r")" -eq 10 ]
	[ "$(jq .check.lost "$r")" -eq 0 ]
	[ "$(jq .check.acknowledged "$r")" -gt 1000 ]
	[ "$(jq -r .healthy_at_end "$r")" = true ]
	# the events log has every fault
	[ "$(events_count drill-fault)" -eq 10 ]
	# the page parses as XML and holds one fault band per round
	h="$BATS_FILE_TMPDIR/r/report.html"
	xmllint --noout "$h"
	[ "$(xmllint --xpath "count(//*[local-name()='rect'][@class='fault'])" "$h")" -eq 10 ]
	[ "$(xmllint --xpath "count(//*[local-name()='line'][@class='recover'])" "$h")" -eq 10 ]
	# Redis itself agrees the cluster is whole
	read -r _ _ addr port < <(first_master)
	wait_for 60 cluster_ok "$addr" "$port"
	cluster_nodes_check "$addr" "$port" 3 3
}
