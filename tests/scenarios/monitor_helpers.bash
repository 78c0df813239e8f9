# Helpers for the `shoal monitor` scenario tests: a lab-redis cluster up on a
# 3-host lab, a monitor in the background on a port of this lab id, and
# waits on conditions (never on time).  Checks read Redis itself.

load 'up_helpers'

# monitor_setup_file [SED]: lab, cluster up (lab-redis.cfg, edited by
# sed -i SED first when given: the edit must change it), monitor started and
# every node up.
monitor_setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg || return
	if [ -n "${1:-}" ]; then
		cp "$SPEC" "$BATS_FILE_TMPDIR/spec.orig"
		sed -i "$1" "$SPEC"
		if cmp -s "$SPEC" "$BATS_FILE_TMPDIR/spec.orig"; then
			echo "monitor_setup_file: sed '$1' changed nothing in $SPEC" >&2
			up_teardown
			return 1
		fi
	fi
	monitor_cluster_up || return
	monitor_start || { monitor_stop; up_teardown; return 1; }
}

# monitor_cluster_up: MON_PORT and MON_URL of this lab id, and `shoal up`
# of $SPEC (on failure its output is printed and the lab torn down).
monitor_cluster_up() {
	export MON_PORT=$((7960 + LAB_ID))
	export MON_URL="http://127.0.0.1:$MON_PORT"
	if ! "$SHOAL" up --accept-new-host-keys "$SPEC" >"$BATS_FILE_TMPDIR/up.log" 2>&1; then
		cat "$BATS_FILE_TMPDIR/up.log" >&2
		up_teardown
		return 1
	fi
}

monitor_teardown_file() {
	monitor_stop
	up_teardown
}

# wait_for SECONDS CMD...: run CMD every 0.2 s until it succeeds; fails
# (printing CMD) when SECONDS pass first.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "wait_for: gave up on: $*" >&2
			return 1
		fi
		sleep 0.2
	done
}

# monitor_start: a monitor in the foreground, in the background of the test;
# returns once /status says every node is up.
monitor_start() {
	"$SHOAL" monitor --foreground --listen "127.0.0.1:$MON_PORT" "$SPEC" \
		>>"$BATS_FILE_TMPDIR/monitor.log" 2>&1 3>&- &
	echo $! >"$BATS_FILE_TMPDIR/monitor.pid"
	wait_for 60 monitor_all_up
}

# monitor_stop: SIGTERM the monitor this file started (if any) and wait.
monitor_stop() {
	local pid
	pid=$(cat "$BATS_FILE_TMPDIR/monitor.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$BATS_FILE_TMPDIR/monitor.pid"
	return 0
}

# monitor_all_up: /status answers and the monitor says every node is up.  (jq -e
# succeeds on empty input, so curl's failure is checked first.)
monitor_all_up() {
	local s
	s=$(curl -sf "$MON_URL/status") || return
	jq -e '[.monitor.nodes[] | select(.health == "up")] | length == 6' <<<"$s"
}

# node_field NODE FIELD: a field of `shoal status --json` for NODE.
node_field() {
	"$SHOAL" status --json "$SPEC" 2>/dev/null | jq -r --arg n "$1" ".nodes[] | select(.node == \$n) | .$2"
}

# node_pid NODE HOST: the node's init pid in its host's pid namespace.
node_pid() {
	"$SHOAL" --json node --host "$SPEC:$2" inspect lab-redis "$1" | jq -r .pid
}

# events_count TYPE [NODE]: how many events of TYPE (for NODE) the log has.
events_count() {
	"$SHOAL" --json events "$SPEC" |
		jq -s --arg t "$1" --arg n "${2:-}" '[.[] | select(.event == $t and ($n == "" or .node == $n))] | length'
}

# first_master: "NODE HOST ADDRESS PORT" of a master, as Redis reports it.
first_master() {
	local addr port
	read -r addr port < <(rcli "$(lab_addr h1)" 7000 cluster nodes |
		awk '$3 ~ /master/ && $3 !~ /fail/ { split($2, a, "[:@]"); print a[1], a[2]; exit }')
	"$SHOAL" status --json "$SPEC" 2>/dev/null | jq -r --arg a "$addr" --argjson p "$port" \
		'.nodes[] | select(.address == $a and .port == $p) | "\(.node) \(.host) \(.address) \(.port)"'
}

# cluster_ok ADDR PORT: Redis says cluster_state:ok with every slot served.
cluster_ok() {
	local out
	out=$(rcli "$1" "$2" cluster info) || return
	[[ "$out" == *"cluster_state:ok"* && "$out" == *"cluster_slots_ok:16384"* ]]
}

# has_event TYPE [NODE]: the log has at least one event TYPE (for NODE).
has_event() {
	[ "$(events_count "$@")" -ge 1 ]
}
