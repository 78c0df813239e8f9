#!/usr/bin/env bats
# Scenario: the host faults of `shoal drill` on lab-redis without a monitor:
# partition (an nftables table the agent installs, gone after the drill on
# every host), the agent's dead-man timer removing such a table when nobody
# asks, slow-network, kill-host (nodes and agent killed, the drill's new
# connection brings them back) and mixed (the same seed, the same faults and
# victims).  Each drill completes and the cluster is healthy after it.

load 'monitor_helpers'

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg || return
	if ! "$SHOAL" up --accept-new-host-keys "$SPEC" >"$BATS_FILE_TMPDIR/up.log" 2>&1; then
		cat "$BATS_FILE_TMPDIR/up.log" >&2
		up_teardown
		return 1
	fi
	redis_auth
}

teardown_file() {
	monitor_stop
	up_teardown
}

# all_ok: every node of the cluster answers cluster_state:ok.
all_ok() {
	local a p
	while read -r a p; do
		cluster_ok "$a" "$p" || return
	done < <("$SHOAL" status --json "$SPEC" 2>/dev/null | jq -r '.nodes[] | "\(.address) \(.port)"')
}

# shoal_table H: host H has shoal's nftables table.
shoal_table() {
	lab_exec "$1" nft list tables | grep -qx 'table inet shoal'
}

# no_shoal_table: no host has it.
no_shoal_table() {
	local h
	for h in h1 h2 h3; do
		! shoal_table "$h" || return
	done
}

# reaches H1 H2: H1 can open a TCP connection to H2's sshd.
reaches() {
	lab_exec "$1" timeout 3 bash -c "exec 3<>/dev/tcp/$(lab_addr "$2")/22"
}

# faults_more_than N: the events log has more than N drill-fault events.
faults_more_than() {
	[ "$(events_count drill-fault)" -gt "$1" ]
}

# last_fault_host: the host field of the last drill-fault event.
last_fault_host() {
	"$SHOAL" --json events "$SPEC" | jq -rs '[.[] | select(.event == "drill-fault")] | last | .host'
}

# drill_report OUTPUT: the JSON report part of a `--json drill` output.
drill_report() {
	sed -n '/^{/,$p' <<<"$1"
}

@test "partition: a minority cut off, healed, the cluster recovers, no rule left" {
	wait_for 60 all_ok
	run "$SHOAL" --json drill "$SPEC" --scenario partition --rounds 1 --interval 1s --pause 5s \
		--seed 11 --load writers=2,rate=500,wait=1
	r=$(drill_report "$output")
	echo "$output" | sed '/^{/,$d'
	jq '{rounds, check, healthy_at_end, stopped_early}' <<<"$r"
	# a master cut off with its replica across the cut acknowledges nothing
	# with wait=1; asynchronous replication may still lose a write (Jepsen):
	# the drill then says so, and everything else must hold
	[ "$status" -eq 0 ] || jq -e '.check.lost > 0' <<<"$r"
	jq -e '.healthy_at_end and (.stopped_early == null)' <<<"$r"
	host=$(jq -r '.rounds[0].victim' <<<"$r")
	[[ "$host" == h[123] ]]
	jq -e '.rounds[0] | .fault == "partition" and .recovered and (.detected_at_ms != null) and
		(.healed_at_ms - .injected_at_ms >= 5000)' <<<"$r"
	no_shoal_table
	wait_for 60 all_ok
	run "$SHOAL" events "$SPEC"
	[[ "$output" == *"drill-fault"*"$host"*"drill-heal"*"$host"* ]]
}

@test "partition: the rules are inside the victim while it lasts; Ctrl-C removes them" {
	wait_for 60 all_ok
	n0=$(events_count drill-fault)
	"$SHOAL" drill "$SPEC" --scenario partition --rounds 1 --interval 1s --pause 120s \
		--seed 12 --load writers=1,rate=200 >"$BATS_FILE_TMPDIR/part.log" 2>&1 3>&- &
	pid=$!
	wait_for 120 faults_more_than "$n0"
	host=$(last_fault_host)
	# the victim drops the other hosts' packets, and only the victim has rules
	run lab_exec "$host" nft list table inet shoal
	echo "$output"
	[[ "$output" == *"ip saddr"*"drop"*"ip daddr"*"drop"* ]]
	for h in h1 h2 h3; do
		[ "$h" = "$host" ] || ! shoal_table "$h"
	done
	other=$([ "$host" = h1 ] && echo h2 || echo h1)
	! reaches "$host" "$other"
	kill -INT "$pid"
	status=0
	wait "$pid" || status=$?
	cat "$BATS_FILE_TMPDIR/part.log"
	[ "$status" -eq 1 ]
	grep -q 'stopped early: interrupted' "$BATS_FILE_TMPDIR/part.log"
	no_shoal_table
	reaches "$host" "$other"
	wait_for 120 all_ok
}

@test "partition: shoal killed during it, the agents' dead-man timers remove the rules" {
	wait_for 60 all_ok
	n0=$(events_count drill-fault)
	# --pause 5s: the dead-man deadline is 5 s + 15 s after the injection
	"$SHOAL" drill "$SPEC" --scenario partition --rounds 1 --interval 1s --pause 5s \
		--seed 13 --load writers=1,rate=200 >"$BATS_FILE_TMPDIR/killed.log" 2>&1 3>&- &
	pid=$!
	wait_for 120 faults_more_than "$n0"
	host=$(last_fault_host)
	shoal_table "$host"
	kill -KILL "$pid"
	wait "$pid" || true
	# nobody heals it but the victim's agent
	shoal_table "$host"
	wait_for 90 no_shoal_table
	reaches "$host" "$([ "$host" = h1 ] && echo h2 || echo h1)"
	wait_for 120 all_ok
}

@test "the agent's dead-man timer removes a fault nobody removes" {
	agent=$(lab_exec h2 sh -c 'ls -td /var/lib/shoal/agent/*/shoal-agent | head -1')
	# one session that asks for a fault of 2 s and ends at once
	run lab_exec h2 sh -c "echo '{\"id\":1,\"op\":\"net.fault\",\"cut\":[\"$LAB_NET.250\"],\"duration_ms\":2000}' | $agent connect"
	echo "$output"
	[[ "$output" == *'"ok":true'* ]]
	[[ "$output" == *'"table":"inet shoal"'* ]]
	shoal_table h2
	wait_for 30 no_shoal_table
	# hostile fields are refused, nothing installed
	run lab_exec h2 sh -c "echo '{\"id\":1,\"op\":\"net.fault\",\"cut\":[\"1.2.3.4; flush ruleset\"],\"duration_ms\":2000}' | $agent connect"
	[[ "$output" == *'"ok":false'*EINVAL* ]]
	run lab_exec h2 sh -c "echo '{\"id\":1,\"op\":\"net.fault\",\"cut\":[\"1.2.3.4\"]}' | $agent connect"
	[[ "$output" == *'"ok":false'*duration_ms* ]]
	no_shoal_table
}

@test "slow-network: loss on one host, healed, no rule left" {
	wait_for 60 all_ok
	run "$SHOAL" --json drill "$SPEC" --scenario slow-network --rounds 1 --interval 1s --pause 4s \
		--loss 30% --delay 50ms --seed 5 --load writers=2,rate=500,wait=1
	r=$(drill_report "$output")
	echo "$output" | sed '/^{/,$d'
	jq '{rounds, check, healthy_at_end, stopped_early}' <<<"$r"
	[ "$status" -eq 0 ] || jq -e '.check.lost > 0' <<<"$r"
	jq -e '.healthy_at_end and (.stopped_early == null)' <<<"$r"
	jq -e '.rounds[0] | .fault == "slow-network" and .recovered and (.note | test("loss 30%"))' <<<"$r"
	no_shoal_table
	wait_for 60 all_ok
}

@test "kill-host: every node and the agent of a host killed, brought back by the next connection" {
	wait_for 60 all_ok
	run "$SHOAL" --json drill "$SPEC" --scenario kill-host --rounds 1 --interval 1s --pause 3s \
		--seed 2 --load writers=2,rate=500,wait=1
	r=$(drill_report "$output")
	echo "$output" | sed '/^{/,$d'
	jq '{rounds, check, healthy_at_end, stopped_early}' <<<"$r"
	[ "$status" -eq 0 ] || jq -e '.check.lost > 0' <<<"$r"
	jq -e '.healthy_at_end and (.stopped_early == null)' <<<"$r"
	host=$(jq -r '.rounds[0].victim' <<<"$r")
	jq -e '.rounds[0] | .fault == "kill-host" and .recovered and (.detected_at_ms != null) and
		(.note | test("^2 nodes killed"))' <<<"$r"
	# the host's nodes were killed and started again by a new agent
	run "$SHOAL" --json events "$SPEC"
	jq -es --arg h "$host" '[.[] | select(.event == "drill-heal" and .host == $h)] | length >= 1' <<<"$output"
	wait_for 60 all_ok
}

@test "kill-host with the monitor running: the monitor notices and brings the host back" {
	wait_for 60 all_ok
	export MON_PORT=$((7960 + LAB_ID))
	export MON_URL="http://127.0.0.1:$MON_PORT"
	monitor_start
	# --pause 40s: the drill's own reconnection comes late, so the repair
	# before it is the monitor's (it reconnects, which starts the agent)
	run "$SHOAL" --json drill "$SPEC" --scenario kill-host --rounds 1 --interval 1s --pause 40s \
		--seed 3 --load writers=1,rate=200,wait=1
	monitor_stop
	r=$(drill_report "$output")
	echo "$output" | sed '/^{/,$d'
	jq '{rounds, check, healthy_at_end, monitor_running}' <<<"$r"
	[ "$status" -eq 0 ] || jq -e '.check.lost > 0' <<<"$r"
	jq -e '.monitor_running and .healthy_at_end' <<<"$r"
	jq -e '.rounds[0] | .recovered and (.monitor_detected_at_ms != null) and
		(.monitor_repaired_at_ms != null) and (.monitor_repaired_at_ms < .healed_at_ms)' <<<"$r"
	wait_for 60 all_ok
}

@test "mixed: the same seed picks the same faults and victims; a run completes and heals" {
	wait_for 60 all_ok
	a=$("$SHOAL" --json drill "$SPEC" --scenario mixed --rounds 12 --seed 99 --dry-run)
	b=$("$SHOAL" --json drill "$SPEC" --scenario mixed --rounds 12 --seed 99 --dry-run)
	[ "$a" = "$b" ]
	# more than one kind of fault among 12 rounds, each a concrete one
	jq -e '[.[].fault] | unique | length > 1' <<<"$a"
	jq -e 'all(.[]; .fault != "mixed")' <<<"$a"
	c=$("$SHOAL" --json drill "$SPEC" --scenario mixed --rounds 12 --seed 100 --dry-run)
	[ "$a" != "$c" ]
	run "$SHOAL" --json drill "$SPEC" --scenario mixed --rounds 3 --interval 1s --pause 3s \
		--seed 99 --load writers=2,rate=500,wait=1
	r=$(drill_report "$output")
	echo "$output" | sed '/^{/,$d'
	jq '{rounds: [.rounds[] | {fault, victim, recovered}], check, healthy_at_end}' <<<"$r"
	[ "$status" -eq 0 ] || jq -e '.check.lost > 0' <<<"$r"
	jq -e '.healthy_at_end and (.stopped_early == null) and all(.rounds[]; .recovered)' <<<"$r"
	# the run made the faults the dry run announced, on the same victims
	# (kill-master excepted: a real run asks Redis who the masters are)
	jq -e --argjson d "$a" '[.rounds[] | {fault, victim}] as $got |
		[range(0; 3) | select($d[.].fault != "kill-master") |
			$got[.] == {fault: $d[.].fault, victim: $d[.].victim}] | all' <<<"$r"
	no_shoal_table
	wait_for 60 all_ok
}
