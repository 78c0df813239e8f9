#!/usr/bin/env bats
# Scenario: a host with a master goes off, Redis fails the master over to its
# replica; once the host is back, `shoal up` makes the planned master master
# again (coordinated CLUSTER FAILOVER) and every key is still there; its
# last line counts that failback and the agent it started again on h1, which
# its plan ("0 changes" or not) does not show.

load 'up_helpers'

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg
}

teardown_file() {
	lab poweron h1 >/dev/null 2>&1
	up_teardown
}

# role_of NODE: its role as Redis reports it, from status --json.
role_of() {
	"$SHOAL" status --json "$SPEC" 2>/dev/null | jq -r --arg n "$1" '.nodes[] | select(.node == $n) | .role'
}

@test "after a failover, up makes the planned master master again" {
	run "$SHOAL" up --accept-new-host-keys "$SPEC"
	[ "$status" -eq 0 ]
	master=$("$SHOAL" status --json "$SPEC" | jq -r '.nodes[] | select(.host == "h1" and .role == "master") | .node')
	replica=$("$SHOAL" status --json "$SPEC" | jq -r --arg m "$master" '.nodes[] | select(.master == $m) | .node')
	read -r raddr rport < <("$SHOAL" status --json "$SPEC" | jq -r --arg n "$replica" '.nodes[] | select(.node == $n) | "\(.address) \(.port)"')
	echo "master $master on h1, replica $replica at $raddr:$rport"
	[ -n "$master" ] && [ -n "$replica" ]
	redis_auth
	keys_write "$(lab_addr h2)" 7000
	# a replica that never synced would not take over: wait for its link
	for _ in $(seq 300); do
		rcli "$raddr" "$rport" info replication | grep -q 'master_link_status:up' && break
		sleep 0.1
	done
	lab poweroff h1
	for _ in $(seq 150); do
		[ "$(role_of "$replica")" = master ] && break
		sleep 0.2
	done
	[ "$(role_of "$replica")" = master ]
	lab poweron h1
	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$master ("*"): master again (CLUSTER FAILOVER: $replica ("*") had taken over)"* ]]
	[[ "$(echo "$output" | tail -n 1)" == "cluster lab-redis is up: 6 nodes ("*" ms), repaired: 1 master failed back, 1 agent started" ]]
	grep '"event":"up.done"' "$SHOAL_STATE_DIR/lab-redis/events.jsonl" | tail -n 1 |
		jq -e '.repairs == {"agents_started": 1, "failed_back": 1}'
	# nothing left to repair: the next up says so
	run "$SHOAL" --json up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	echo "$output" | tail -n 1 | jq -e '.changes == false and .repairs == {"agents_started": 0, "failed_back": 0}'
	[ "$(role_of "$master")" = master ]
	[ "$(role_of "$replica")" = replica ]
	run "$SHOAL" status "$SPEC"
	echo "$output"
	[[ "$output" == *"cluster_state:ok, slots served 16384/16384, 6/6 nodes answer, roles as planned: yes"* ]]
	got=$(keys_read "$(lab_addr h2)" 7000)
	[ "$got" -eq 1000 ]
}
