#!/usr/bin/env bats
# Scenario: two `shoal monitor` of one cluster whose state is in a 3-member
# etcd on the lab (docs/ha.md).  They elect one leader through etcd: a hung
# node (SIGSTOP) is killed by exactly one of them - the other logs that it
# follows - and the node is restarted once.  The leader killed with -9, the
# follower takes over: the next hung node is killed by it.  The leadership
# gate's unit test runs against the same etcd first.
#
# Then the faults of the leader's own link and of a repair in flight:
# - a monitor on lab host h4 leads and `lab partition` cuts h4 off from the
#   etcd members (h1..h3): it stops acting (its /status says so) before the
#   monitor on the operator side acts - never both at once - and the latter
#   takes over and kills the next hung node;
# - `lab poweroff h2` (its etcd member dies with it: etcd goes on with two
#   of three) and the leading monitor is killed with -9 in the middle of
#   the reschedule it started (its `up` has begun changing the cluster):
#   the follower finishes it, and every node runs exactly once - each
#   agent's node list (a node that was already running where it belongs
#   is the same instance afterwards, not created again) and CLUSTER NODES
#   (six members, the recorded Redis ids, none at h2's address).
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
	# h4 is no host of the spec: a monitor runs there (partition test)
	up_setup 4 cluster-specs/lab-redis.cfg || return
	sed -i 's/reschedule_after_s = [0-9]*;/reschedule_after_s = 4;/' "$SPEC"
	grep -q 'reschedule_after_s = 4;' "$SPEC" || { up_teardown; return 1; }
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
	mon_stop 3
	lab heal 2>/dev/null
	etcd_lab down
	up_teardown
}

mon_port() { echo $((7960 + 10 * $1 + LAB_ID)); }
mon_dir() { echo "$BATS_FILE_TMPDIR/m$1"; }
mon_events() { echo "$(mon_dir "$1")/lab-redis/events.jsonl"; }

# Monitors 1 and 2 run on the operator side, monitor 3 on lab host h4 (in
# its namespaces: its pid, its /status port and its network are h4's).
MON3_HOST=h4

# in_mon N CMD...: run CMD where monitor N runs.
in_mon() {
	local n=$1
	shift
	if [ "$n" = 3 ]; then lab_exec "$MON3_HOST" "$@"; else "$@"; fi
}

# mon_start N: monitor N in the background, its own folder and port.
mon_start() {
	mkdir -p "$(mon_dir "$1")"
	if [ "$1" = 3 ]; then
		# setsid, descriptors closed: it outlives `lab exec` and holds no
		# pipe of bats; its pid file has its pid in h4's namespace
		SHOAL_STATE_DIR=$(mon_dir 3) setsid "$LAB_SCRIPT" exec "$MON3_HOST" \
			sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$(mon_dir 3).pid" \
			"$SHOAL" monitor --foreground --listen "127.0.0.1:$(mon_port 3)" "$SPEC" \
			</dev/null >>"$(mon_dir 3).log" 2>&1 3>&- &
		wait_for 30 test -s "$(mon_dir 3).pid"
		return
	fi
	SHOAL_STATE_DIR=$(mon_dir "$1") "$SHOAL" monitor --foreground \
		--listen "127.0.0.1:$(mon_port "$1")" "$SPEC" \
		>>"$(mon_dir "$1").log" 2>&1 3>&- &
	echo $! >"$(mon_dir "$1").pid"
}

mon_kill() { # mon_kill N SIGNAL
	in_mon "$1" kill "-$2" "$(cat "$(mon_dir "$1").pid")" 2>/dev/null
}

mon_stop() {
	local pid
	pid=$(cat "$(mon_dir "$1").pid" 2>/dev/null) || return 0
	mon_kill "$1" TERM || true
	for _ in $(seq 1 100); do
		mon_kill "$1" 0 || break
		sleep 0.1
	done
	mon_kill "$1" 9 || true
	rm -f "$(mon_dir "$1").pid"
}

mon_status() {
	in_mon "$1" curl -sf "http://127.0.0.1:$(mon_port "$1")/status"
}

mon_up() {
	local s
	s=$(mon_status "$1") || return
	jq -e '[.monitor.nodes[] | select(.health == "up")] | length == 6' <<<"$s"
}

# acting N: monitor N's /status says it leads and acts (the gate's view).
acting() {
	local s
	s=$(mon_status "$1") || return
	jq -e '.monitor.leader.acting == true' <<<"$s"
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
killed_by() { [ "$(decisions "$1" node-hung "$2" killed)" -gt "${3:-0}" ]; }

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
	# the follower logs "follower" only when its own probes found the node
	# hung before the leader's kill ended it: on a quiet machine the leader
	# is often first, so that line may be missing; it never kills
	if [ "$k1" -eq 1 ]; then [ "$f2" -le 1 ]; echo 1 >"$BATS_FILE_TMPDIR/leader"; else [ "$f1" -le 1 ]; echo 2 >"$BATS_FILE_TMPDIR/leader"; fi
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

@test "the leading monitor partitioned from etcd: it stops acting before the other acts, and the other takes over" {
	# monitor 3 (on h4) alone first, so that it leads; monitor 1 follows
	mon_stop 1
	mon_stop 2
	mon_start 3
	wait_for 60 mon_up 3
	wait_for 30 acting 3
	mon_start 1
	wait_for 60 mon_up 1
	run acting 1
	[ "$status" -ne 0 ]
	lab partition "$MON3_HOST" / h1,h2,h3
	t0=$SECONDS
	# monitor 1 is sampled first: once it acts, monitor 3 must not
	deadline=$((SECONDS + 60))
	while :; do
		a1=0 a3=0
		acting 1 >/dev/null 2>&1 && a1=1
		acting 3 >/dev/null 2>&1 && a3=1
		[ $((a1 + a3)) -lt 2 ] || { echo "both monitors act at once"; false; }
		[ "$a1" -eq 0 ] || break
		[ "$SECONDS" -lt "$deadline" ] || { echo "monitor 1 never took over"; false; }
		sleep 0.1
	done
	echo "monitor 1 acts $((SECONDS - t0)) s after the partition (lease TTL 3 s)"
	leader_is 1
	# the new leader repairs; the cut-off one decides nothing
	redis_auth
	read -r node host addr port < <(first_master)
	[ -n "$node" ]
	pid=$(node_pid "$node" "$host")
	# monitor 1's log may already hold a kill of this node (an earlier test
	# hung the first master too): count the ones after this point
	before=$(decisions 1 node-hung "$node" killed)
	export STOPPED="$host kill -CONT $pid"
	lab_exec "$host" kill -STOP "$pid"
	wait_for 60 killed_by 1 "$node" "$before"
	wait_for 60 cluster_ok "$addr" "$port"
	unset STOPPED
	[ "$(decisions 1 node-hung "$node" killed)" -eq $((before + 1)) ]
	f=$(mon_events 3)
	n3=$(jq -s '[.[] | select((.done // "") | test("^(killed|placing|stopped and removed)"))] | length' "$f")
	echo "monitor 3 (cut off): $n3 repairs"
	[ "$n3" -eq 0 ]
	lab heal
	# back on the network it follows: monitor 1 keeps the key
	wait_for 60 mon_up 3
	run acting 3
	[ "$status" -ne 0 ]
	leader_is 1
	mon_stop 3
}

# nodes_on HOST: ids of the nodes the state records on HOST, sorted.
nodes_on() {
	"$SHOAL" status --json "$SPEC" 2>/dev/null |
		jq -r --arg h "$1" '.nodes[] | select(.host == $h) | .node' | sort
}

# running_on H...: "NODE HOST START_US" of every node of the cluster the
# agents of H... list, sorted.
running_on() {
	local h
	for h in "$@"; do
		"$SHOAL" --json node --host "$SPEC:$h" ls lab-redis |
			jq -r --arg h "$h" '.nodes[] | "\(.node) \($h) \(.start_us)"'
	done | sort
}

# placings N: how many reschedules monitor N started (it acted, not followed).
placings() {
	jq -s '[.[] | select(.event == "host-reschedule" and (.done | startswith("placing")))] | length' \
		"$(mon_events "$1")"
}
placing() { [ "$(placings "$1")" -ge 1 ]; }
rescheduled() { [ "$(jq -s '[.[] | select(.event == "host-rescheduled")] | length' "$(mon_events "$1")")" -ge 1 ]; }
# up_starts: how many up.start events the cluster's log in etcd has, read
# with etcdctl from h1's member (quick: the leader's `up` is short).
up_starts() {
	ETCDCTL_API=3 etcdctl --endpoints="http://$(lab_addr h1):2379" --dial-timeout=1s \
		--command-timeout=2s get --prefix --print-value-only /shoal/lab-redis/events/ |
		grep -c '"event": *"up.start"'
}
# swap_pair_outside H: the first recorded pair (master, its replica) with
# neither on host H is swapped (a coordinated CLUSTER FAILOVER on the
# replica), unless its replica is the master already.
swap_pair_outside() {
	local m r ra rp
	read -r m r ra rp < <("$SHOAL" state show "$SPEC" | jq -r --arg h "$1" '
		.nodes as $n | $n[] | select(.role == "replica" and .host != $h) |
		. as $r | ($n[] | select(.id == $r.master and .host != $h)) |
		"\(.id) \($r.id) \($r.address) \($r.port)"' | head -n 1)
	[ -n "$r" ] || { echo "no recorded pair outside $1"; return 1; }
	if [ "$(rcli "$ra" "$rp" role | head -n 1)" = master ]; then
		echo "$r has taken over from $m already"
		return 0
	fi
	echo "$r takes over from $m"
	for _ in $(seq 300); do
		rcli "$ra" "$rp" info replication | grep -q 'master_link_status:up' && break
		sleep 0.1
	done
	rcli "$ra" "$rp" cluster failover
	for _ in $(seq 300); do
		[ "$(rcli "$ra" "$rp" role | head -n 1)" = master ] && return 0
		sleep 0.1
	done
	echo "$r never took over from $m"
	return 1
}
# spread_masters H: while Redis reports more than one master on host H,
# the replica (on another host) of one of them takes over (CLUSTER
# FAILOVER): with H gone, the masters left must still be a majority to
# fail H's over, or the reschedule waits for a failover that cannot come.
# Earlier tests' failovers decide where the masters are.
spread_masters() {
	local a p ha ra rp ms
	ha=$(lab_addr "$1")
	read -r a p < <("$SHOAL" status --json "$SPEC" | jq -r --arg h "$1" \
		'[.nodes[] | select(.host != $h)][0] | "\(.address) \(.port)"')
	# each look at a's view: done with one master on H at most; else the
	# replica of the second takes over, and the view catches up
	for _ in $(seq 120); do
		mapfile -t ms < <(rcli "$a" "$p" cluster nodes | awk -v ha="$ha" \
			'$3 ~ /master/ && $3 !~ /fail/ { split($2, x, ":"); if (x[1] == ha) print $1 }')
		[ "${#ms[@]}" -le 1 ] && return 0
		ra= rp=
		read -r ra rp < <(rcli "$a" "$p" cluster nodes | awk -v m="${ms[1]}" -v ha="$ha" \
			'$4 == m { split($2, x, "[:@]"); if (x[1] != ha) { print x[1], x[2]; exit } }') || true
		if [ -n "$rp" ] && [ "$(rcli "$ra" "$rp" role | head -n 1)" != master ] &&
			rcli "$ra" "$rp" info replication | grep -q 'master_link_status:up'; then
			echo "$ra:$rp takes over from ${ms[1]} (two masters on $1)"
			rcli "$ra" "$rp" cluster failover || true
		fi
		sleep 0.5
	done
	echo "still more than one master on $1"
	return 1
}
etcd_members_healthy() { [ "$(etcd_lab health | grep -cw healthy)" -eq "$1" ]; }

@test "one etcd member lost with its host, the leader killed -9 in the middle of the reschedule: the follower finishes it, every node runs once" {
	# monitor 1 leads (the test before: it took over); monitor 2 follows
	if ! mon_kill 1 0; then mon_start 1; wait_for 60 mon_up 1; wait_for 30 acting 1; fi
	mon_start 2
	wait_for 60 mon_up 2
	acting 1
	redis_auth
	moved=$(nodes_on h2)
	[ -n "$moved" ]
	# a failover the monitor does not undo (a hung master killed) may have
	# swapped a pair outside h2 in an earlier test: swap one here, so the
	# reschedule always meets it (its data moves with the pair swapped)
	swap_pair_outside h2
	spread_masters h2
	ups=$(up_starts)
	[ "$ups" -ge 1 ]
	lab poweroff h2
	# h2's etcd member went with it: two of three carry on
	wait_for 30 etcd_members_healthy 2
	wait_for 120 placing 1
	# the leader's `up` has begun changing the cluster (its up.start event
	# in etcd): kill it there, looking every 50 ms
	deadline=$((SECONDS + 180))
	until [ "$(up_starts)" -gt "$ups" ]; do
		[ "$SECONDS" -lt "$deadline" ] || { echo "the leader's up never began"; false; }
		sleep 0.05
	done
	mon_kill 1 9
	rm -f "$(mon_dir 1).pid"
	# the premise: the leader died with its reschedule unfinished
	run rescheduled 1
	[ "$status" -ne 0 ] || { echo "the leader finished before it was killed"; false; }
	running_on h1 h3 >"$BATS_TEST_TMPDIR/at_kill"
	echo "running on h1, h3 when the leader was killed:"
	cat "$BATS_TEST_TMPDIR/at_kill"
	wait_for 30 acting 2
	wait_for 240 rescheduled 2 || {
		jq -c 'select(.event != "node-hung" and .event != "node-back")' "$(mon_events 2)" | tail -20
		grep -v '^$' "$(mon_dir 2).log" | tail -40
		false
	}
	jq -c 'select(.event | startswith("host-") or startswith("reschedule"))' "$(mon_events 2)"
	[ "$(placings 2)" -ge 1 ]
	# every node once: six distinct nodes on h1 and h3, none on two hosts
	running_on h1 h3 >"$BATS_TEST_TMPDIR/after"
	cat "$BATS_TEST_TMPDIR/after"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/after")" -eq 6 ]
	[ "$(cut -d' ' -f1 "$BATS_TEST_TMPDIR/after" | sort -u | wc -l)" -eq 6 ]
	# what ran where it belongs when the leader died is the same instance
	# now (not created again): same node, host and start time
	while read -r n h st; do
		if grep -q "^$n $h " "$BATS_TEST_TMPDIR/after"; then
			grep -qx "$n $h $st" "$BATS_TEST_TMPDIR/after" ||
				{ echo "$n on $h was created again"; false; }
		fi
	done <"$BATS_TEST_TMPDIR/at_kill"
	# the state agrees with the agents: nothing on h2
	[ -z "$(nodes_on h2)" ]
	# Redis: six members, each recorded id once, none at h2's address
	a1=$(lab_addr h1)
	wait_for 60 cluster_ok "$a1" 7000
	cluster_nodes_check "$a1" 7000 3 3
	out=$(rcli "$a1" 7000 cluster nodes)
	[ "$(grep -c . <<<"$out")" -eq 6 ]
	[ "$(grep -c "$(lab_addr h2):" <<<"$out" || true)" -eq 0 ]
	ids=$("$SHOAL" state show "$SPEC" | jq -r '.nodes[].cluster_id')
	[ "$(sort -u <<<"$ids" | grep -c '^[0-9a-f]\{40\}$')" -eq 6 ]
	for id in $ids; do
		[ "$(awk -v id="$id" '$1 == id' <<<"$out" | wc -l)" -eq 1 ] ||
			{ echo "recorded Redis id $id is not once in CLUSTER NODES"; echo "$out"; false; }
	done
	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 changes"* ]]
}
