#!/usr/bin/env bats
# Scenario: two `shoal monitor` of one cluster whose state is in a 3-member
# etcd on the lab (docs/ha.md).  They elect one leader through etcd: a hung
# node (SIGSTOP) is killed by exactly one of them - the other logs that it
# follows - and the node is restarted once.  The leader killed with -9, the
# follower takes over: the next hung node is killed by it.  The leadership
# gate's unit test runs against the same etcd first.
#
# Each monitor keeps its own folder (SHOAL_STATE_DIR: its monitor.lock and
# its own decisions in events.jsonl) and its own /status port, as two
# operator machines would.

load 'monitor_helpers'

ETCD_SCRIPT="$BATS_TEST_DIRNAME/../lab/etcd"

etcd_lab() {
	SHOAL_LAB_ID="$LAB_ID" "$ETCD_SCRIPT" "$@"
}

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg || return
	etcd_lab up h1 h2 h3 || { up_teardown; return 1; }
	ETCD_ENDPOINTS=$(etcd_lab endpoints)
	export ETCD_ENDPOINTS
	printf 'state = { backend = "etcd"; endpoints = %s; store_secrets = true; lease_ttl = "3s"; timeout = "1s"; };\n' \
		"$(etcd_lab spec-endpoints)" >>"$SPEC"
	if ! "$SHOAL" up --accept-new-host-keys "$SPEC" >"$BATS_FILE_TMPDIR/up.log" 2>&1; then
		cat "$BATS_FILE_TMPDIR/up.log" >&2
		etcd_lab down
		up_teardown
		return 1
	fi
	export MON_URL="http://127.0.0.1:$((7970 + LAB_ID))" # for the helpers
}

teardown_file() {
	[ -n "${STOPPED:-}" ] && lab_exec $STOPPED 2>/dev/null
	mon_stop 1
	mon_stop 2
	etcd_lab down
	up_teardown
}

mon_port() { echo $((7960 + 10 * $1 + LAB_ID)); }
mon_dir() { echo "$BATS_FILE_TMPDIR/m$1"; }
mon_events() { echo "$(mon_dir "$1")/lab-redis/events.jsonl"; }

# mon_start N: monitor N in the background, its own folder and port.
mon_start() {
	mkdir -p "$(mon_dir "$1")"
	SHOAL_STATE_DIR=$(mon_dir "$1") "$SHOAL" monitor --foreground \
		--listen "127.0.0.1:$(mon_port "$1")" "$SPEC" \
		>>"$(mon_dir "$1").log" 2>&1 3>&- &
	echo $! >"$(mon_dir "$1").pid"
}

mon_stop() {
	local pid
	pid=$(cat "$(mon_dir "$1").pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$(mon_dir "$1").pid"
}

mon_up() {
	local s
	s=$(curl -sf "http://127.0.0.1:$(mon_port "$1")/status") || return
	jq -e '[.monitor.nodes[] | select(.health == "up")] | length == 6' <<<"$s"
}

# decisions N EVENT NODE DONE: how many EVENT decisions for NODE monitor N
# logged whose "done" starts with DONE.
decisions() {
	local f
	f=$(mon_events "$1")
	[ -f "$f" ] || { echo 0; return; }
	jq -s --arg e "$2" --arg n "$3" --arg d "$4" \
		'[.[] | select(.event == $e and .node == $n and (.done | startswith($d)))] | length' "$f"
}

leader_value() {
	ETCDCTL_API=3 etcdctl --endpoints="$ETCD_ENDPOINTS" --dial-timeout=2s \
		get --print-value-only /shoal/lab-redis/monitor/leader
}
leader_elected() { [ -n "$(leader_value)" ]; }
leader_is() { [ "$(leader_value | jq -r .pid)" = "$(cat "$(mon_dir "$1").pid")" ]; }
killed_by() { [ "$(decisions "$1" node-hung "$2" killed)" -ge 1 ]; }

killed_by_one() {
	[ $(($(decisions 1 node-hung "$1" killed) + $(decisions 2 node-hung "$1" killed))) -ge 1 ]
}

@test "the leadership gate's unit test passes against the lab etcd (nothing skipped)" {
	run env SHOAL_TEST_ETCD="$ETCD_ENDPOINTS" "$SHOAL_BUILD/test/test_monitor_leader"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"PASSED  ] 3 test(s)"* ]]
	[[ "$output" != *SKIPPED* ]]
}

@test "two monitors: a hung node is killed by exactly one, the other follows" {
	mon_start 1
	mon_start 2
	wait_for 60 mon_up 1
	wait_for 60 mon_up 2
	wait_for 30 leader_elected
	redis_auth
	read -r node host addr port < <(first_master)
	[ -n "$node" ]
	pid=$(node_pid "$node" "$host")
	restarts=$(node_field "$node" restarts)
	export STOPPED="$host kill -CONT $pid"
	lab_exec "$host" kill -STOP "$pid"
	wait_for 60 killed_by_one "$node"
	wait_for 60 cluster_ok "$addr" "$port"
	unset STOPPED
	k1=$(decisions 1 node-hung "$node" killed)
	k2=$(decisions 2 node-hung "$node" killed)
	f1=$(decisions 1 node-hung "$node" follower)
	f2=$(decisions 2 node-hung "$node" follower)
	echo "monitor 1: killed $k1, followed $f1; monitor 2: killed $k2, followed $f2"
	[ $((k1 + k2)) -eq 1 ]
	if [ "$k1" -eq 1 ]; then [ "$f2" -eq 1 ]; echo 1 >"$BATS_FILE_TMPDIR/leader"; else [ "$f1" -eq 1 ]; echo 2 >"$BATS_FILE_TMPDIR/leader"; fi
	[ "$(node_pid "$node" "$host")" != "$pid" ]
	[ "$(node_field "$node" restarts)" -eq $((restarts + 1)) ]
}

@test "the leading monitor killed with -9: the follower takes over and acts" {
	leader=$(cat "$BATS_FILE_TMPDIR/leader")
	follower=$((3 - leader))
	kill -9 "$(cat "$(mon_dir "$leader").pid")"
	rm -f "$(mon_dir "$leader").pid"
	# within the lease (3 s) and a campaign round, the follower leads
	wait_for 30 leader_is "$follower"
	redis_auth
	read -r node host addr port < <(first_master)
	pid=$(node_pid "$node" "$host")
	export STOPPED="$host kill -CONT $pid"
	lab_exec "$host" kill -STOP "$pid"
	wait_for 60 killed_by "$follower" "$node"
	wait_for 60 cluster_ok "$addr" "$port"
	unset STOPPED
	[ "$(decisions "$follower" node-hung "$node" killed)" -eq 1 ]
	cluster_nodes_check "$addr" "$port" 3 3
}
