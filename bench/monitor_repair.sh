#!/bin/sh
# How fast `shoal monitor` repairs, on the 3-host lab with lab-redis
# (interval 500 ms, timeout 250 ms, fail_after 3) and reschedule_after_s 5,
# one run each, printed beside the peers' defaults (/work/shared/ANCHORS.md):
#   - a hung node (SIGSTOP): first failed probe -> killed, and -> answering;
#   - a host power-off (`lab poweroff h2`): -> host-unreachable, and ->
#     its nodes running elsewhere with every master's replica restored
#     (host-rescheduled), measured from the power-off.
# Times come from the events log (duration_ms, at_ms) and the wall clock.
#   sh bench/monitor_repair.sh   (root; lab $SHOAL_LAB_ID, default 0)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
lab=$top/tests/lab/lab
shoal=${SHOAL_RELEASE:-$top/build}/shoal
id=${SHOAL_LAB_ID:-0}
port=$((7980 + id))
net=10.213.$id
after=5
work=$(mktemp -d /tmp/shoal-monitor-repair.XXXXXX)

[ "$(id -u)" -eq 0 ] || { echo "monitor_repair: needs root" >&2; exit 1; }
[ -x "$shoal" ] || { echo "monitor_repair: $shoal not built (make all)" >&2; exit 1; }
export SHOAL_LAB_ID=$id SHOAL_STATE_DIR=$work/state SHOAL_HOME=$work/home
spec=$work/lab-redis.cfg
mon=
cleanup() {
	[ -n "$mon" ] && kill "$mon" 2>/dev/null && wait "$mon" 2>/dev/null
	timeout 60 "$shoal" down --purge "$spec" >/dev/null 2>&1 || true
	"$lab" down >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
now_ms() { date +%s%3N; }
# event TYPE FIELD: FIELD of the last event TYPE, or empty
event() { "$shoal" --json events "$spec" | jq -r --arg t "$1" "select(.event == \$t) | .$2" | tail -1; }
# wait_event TYPE SECONDS
wait_event() {
	for _ in $(seq 1 $(($2 * 5))); do
		[ -n "$(event "$1" at_ms)" ] && return 0
		sleep 0.2
	done
	echo "monitor_repair: no $1 event within $2 s" >&2
	tail -20 "$work/monitor.log" >&2
	return 1
}

"$lab" up 3 >/dev/null
sed -e "s|10\.213\.0\.|$net.|g" -e "s|/var/tmp/shoal-lab/0/|/var/tmp/shoal-lab/$id/|g" \
	-e "s/reschedule_after_s = [0-9]*/reschedule_after_s = $after/" \
	"$top/cluster-specs/lab-redis.cfg" >"$spec"
"$shoal" up --accept-new-host-keys "$spec" >"$work/up.log" 2>&1
"$shoal" monitor --foreground --listen "127.0.0.1:$port" "$spec" >"$work/monitor.log" 2>&1 &
mon=$!
for _ in $(seq 1 300); do
	[ "$(curl -sf "http://127.0.0.1:$port/metrics" | grep -c '^shoal_node_up{.*} 1$' || true)" -eq 6 ] && break
	sleep 0.2
done

# a hung node
read -r node host <<EOT
$("$shoal" status --json "$spec" 2>/dev/null | jq -r '.nodes[] | select(.host == "h1") | "\(.node) \(.host)"' | head -1)
EOT
pid=$("$shoal" --json node --host "$spec:$host" inspect lab-redis "$node" | jq -r .pid)
"$lab" exec "$host" kill -STOP "$pid"
wait_event node-hung 30
wait_event node-back 30
hung=$(event node-hung duration_ms)
back=$(event node-back duration_ms)
echo "monitor_repair: hung node $node: killed $hung ms after its first failed probe (bound: 500 ms x 3 + 250 ms + 100 ms tick = 1850 ms), answering again after $back ms; Redis Sentinel down-after default 30000 ms, Kubernetes liveness 3 x 10 s = 30000 ms"
sleep 3

# a host power-off
t0=$(now_ms)
"$lab" poweroff h2 >/dev/null
wait_event host-unreachable 30
wait_event host-rescheduled 180
# the first one after the power-off (the reload after the reschedule logs
# h2 unreachable once more)
un=$(( $("$shoal" --json events "$spec" | jq -r --argjson t "$t0" \
	'select(.event == "host-unreachable" and .at_ms >= $t) | .at_ms' | head -1) - t0 ))
done_ms=$(( $(event host-rescheduled at_ms) - t0 ))
moved=$(event host-rescheduled done)
rep=$(( done_ms - after * 1000 ))
echo "monitor_repair: lab poweroff h2: unreachable after $un ms; its nodes running elsewhere, every master with a replica on another host, after $done_ms ms = reschedule_after_s $after s + $rep ms (goal: + 5000 ms) [$moved]"
echo "monitor_repair: anchors: Kubernetes NotReady 40 s + eviction 300 s = 340000 ms ($(awk -v d="$done_ms" 'BEGIN { printf "%.0fx", 340000 / d }') slower); Nomad reschedule delay 30 s after heartbeat_grace 10 s = 40000 ms ($(awk -v d="$done_ms" 'BEGIN { printf "%.0fx", 40000 / d }') slower); Redis Cluster alone: fails over, never restores the lost replica"
