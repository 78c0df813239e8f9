#!/usr/bin/env bats
# Scenario: monitor.fail_back.  A master's host is frozen (lab pause) until
# Redis has promoted its replica, then thawed: the old master comes back
# as a replica, and the monitor, 5 s after it saw the host again, runs an
# `up` that gives it its planned role back (a coordinated CLUSTER
# FAILOVER).  While a command holds the state lock the fail-back fails and
# is tried again.  Keys written before read back, the cluster whole,
# every master on its planned node again.

load 'monitor_helpers'

setup_file() {
	monitor_setup_file 's/^  respawn = true;/  respawn = true;\n  fail_back = true;/'
}

teardown_file() {
	# a host left frozen would hold `down` until the lab powers it off
	[ -n "${PAUSED:-}" ] && lab resume "$PAUSED" >/dev/null 2>&1
	[ -n "${HOLDER:-}" ] && kill "$HOLDER" 2>/dev/null
	monitor_teardown_file
}

# hold_lock: another command holds the cluster's state lock (a record and
# the flock, by one process: --no-fork, bats' fd 3 closed); HOLDER its pid.
hold_lock() {
	local lock="$SHOAL_STATE_DIR/lab-redis/lock"
	(
		printf '{"pid":%d,"host":"%s","user":"ops","started":"2026-01-01T00:00:00Z","command":"shoal up other.cfg"}' \
			"$BASHPID" "$(hostname)" >"$lock"
		exec flock --no-fork -x "$lock" sleep 300
	) 3>&- &
	export HOLDER=$!
	wait_for 30 bash -c "! flock -n -x '$lock' true"
}

# demoted ID ADDR PORT: the node at ADDR:PORT (of another host) lists node
# ID without slots (its replica took them over; ID itself, frozen, still
# shows as a failed master until it is back).
demoted() {
	rcli "$2" "$3" cluster nodes | awk -v id="$1" '$1 == id && NF == 8 { f = 1 } END { exit !f }'
}

# role_is ADDR PORT ROLE: the node says it is ROLE (ROLE's first line).
role_is() {
	[ "$(rcli "$1" "$2" role | head -n 1)" = "$3" ]
}

@test "a master whose replica took over while its host was frozen is master again" {
	redis_auth
	read -r node host addr port < <(first_master)
	[ -n "$node" ]
	keys_write "$addr" "$port" 1000
	id=$(rcli "$addr" "$port" cluster myid)
	# a node of another host to ask
	read -r oaddr oport < <("$SHOAL" status --json "$SPEC" | jq -r --arg h "$host" \
		'[.nodes[] | select(.host != $h)][0] | "\(.address) \(.port)"')
	export PAUSED=$host
	lab pause "$host"
	wait_for 60 demoted "$id" "$oaddr" "$oport"
	hold_lock
	lab resume "$host"
	unset PAUSED
	wait_for 60 has_event host-reachable
	# the fail-back's `up` finds the lock held: it says so, and waits
	wait_for 60 has_event fail-back-failed
	run "$SHOAL" events "$SPEC"
	[[ "$output" == *"fail-back-failed"*"shoal up other.cfg"*"tried again in 3 s"* ]]
	kill "$HOLDER"
	unset HOLDER
	# the thawed master learns it was replaced, then the monitor gives
	# its role back
	wait_for 120 has_event fail-back
	wait_for 60 role_is "$addr" "$port" master
	wait_for 60 cluster_ok "$addr" "$port"
	cluster_nodes_check "$addr" "$port" 3 3
	[ "$(keys_read "$addr" "$port" 1000)" -eq 1000 ]
	run "$SHOAL" events "$SPEC"
	[[ "$output" == *"fail-back"*"1 master made master again"* ]]
	curl -sf "$MON_URL/metrics" | grep -q "^shoal_failbacks_total{cluster=\"lab-redis\"} 1$"
	# every master on its planned node: what `up` would change is nothing
	out=$("$SHOAL" --json up "$SPEC" 2>"$BATS_FILE_TMPDIR/up2.log")
	[ "$(jq -r .repairs.failed_back <<<"$out")" -eq 0 ]
}
