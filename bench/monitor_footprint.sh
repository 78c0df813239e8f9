#!/bin/sh
# The monitor's own cost: `shoal monitor` (release build) watching 1,000
# simulated nodes on 2 lab hosts, each probed (Redis PING with AUTH) every
# second, one agent connection per host with heartbeats.  The nodes are
# simulated: state.json records 1,000 nodes that all point at one
# redis-server per host (the monitor's work per node - a timer, a
# connection, PING, the answer - is the same; the agents report them
# missing, once).  Over 60 s: CPU from /proc/PID/stat (utime + stime) and
# the largest RSS from /proc/PID/status, beside issue 14's goal (< 10 % of
# one core, < 50 MB).
#   sh bench/monitor_footprint.sh   (root; lab $SHOAL_LAB_ID, default 0)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
lab=$top/tests/lab/lab
shoal=${SHOAL_RELEASE:-$top/build}/shoal
id=${SHOAL_LAB_ID:-0}
nodes=${MONITOR_BENCH_NODES:-1000}
secs=${MONITOR_BENCH_SECONDS:-60}
port=$((7980 + id))
net=10.213.$id
work=$(mktemp -d /tmp/shoal-monitor-bench.XXXXXX)
pass=benchpass$$

[ "$(id -u)" -eq 0 ] || { echo "monitor_footprint: needs root" >&2; exit 1; }
[ -x "$shoal" ] || { echo "monitor_footprint: $shoal not built (make all)" >&2; exit 1; }
export SHOAL_LAB_ID=$id SHOAL_STATE_DIR=$work/state SHOAL_HOME=$work/home
mon=
cleanup() {
	[ -n "$mon" ] && kill "$mon" 2>/dev/null && wait "$mon" 2>/dev/null
	"$lab" down >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
"$lab" up 2 >/dev/null
for h in h1 h2; do
	"$lab" exec "$h" redis-server --port 7000 --requirepass "$pass" --save '' \
		--appendonly no --daemonize yes --maxclients 4096 >/dev/null
done
sed -e "s|10\.213\.0\.|$net.|g" -e "s|/var/tmp/shoal-lab/0/|/var/tmp/shoal-lab/$id/|g" \
	-e '/name = "h3"/d' -e 's|"h2"; address = "\([0-9.]*\)"; rack = "r2"; cpus = 2; memory = "2G"; },|"h2"; address = "\1"; rack = "r2"; cpus = 2; memory = "2G"; }|' \
	-e 's/interval_ms = "500ms"/interval_ms = "1s"/' -e 's/timeout_ms = "250ms"/timeout_ms = "500ms"/' \
	-e 's/reschedule_after_s = [0-9]*/reschedule_after_s = 0/' \
	"$top/cluster-specs/lab-redis.cfg" >"$work/spec.cfg"
mkdir -p "$work/state/lab-redis"
jq -n --argjson n "$nodes" --arg net "$net" --arg pass "$pass" '{
	format: 1, cluster: "lab-redis", serial: 1, spec: null, created: null, updated: null,
	nodes: [range(0; $n) | {id: "cache-\(.)", service: "cache",
		host: (if . % 2 == 0 then "h1" else "h2" end),
		address: (if . % 2 == 0 then "\($net).11" else "\($net).12" end),
		port: 7000, bus_port: 0, role: "master", shard: -1, master: null, image: null,
		cluster_id: null, config: null, status: "joined"}],
	secrets: {"cache.password": $pass}}' >"$work/state/lab-redis/state.json"
chmod 600 "$work/state/lab-redis/state.json"

"$shoal" monitor --foreground --accept-new-host-keys --listen "127.0.0.1:$port" "$work/spec.cfg" \
	>"$work/monitor.log" 2>&1 &
mon=$!
up=0
for _ in $(seq 1 600); do
	# /metrics, not /status: reading /status makes the monitor ask the
	# database about every node every 2 s (docs/monitor.md)
	up=$(curl -sf "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -c '^shoal_node_up{.*} 1$' || true)
	[ "${up:-0}" -ge "$nodes" ] && break
	kill -0 "$mon" 2>/dev/null || { tail -5 "$work/monitor.log" >&2; exit 1; }
	sleep 0.1
done
[ "${up:-0}" -ge "$nodes" ] || { echo "monitor_footprint: only $up of $nodes nodes up" >&2; exit 1; }
ticks() { awk '{ print $14 + $15 }' "/proc/$mon/stat"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$mon/status"; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
max=0
for _ in $(seq 1 "$secs"); do
	sleep 1
	r=$(rss_kb)
	[ "$r" -gt "$max" ] && max=$r
done
t1=$(ticks)
probes=$(curl -sf "http://127.0.0.1:$port/metrics" |
	awk '/^shoal_node_probe_seconds_count/ { s += $2 } END { print s }')
cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.1f", 100 * d / hz / s }')
mb=$(awk -v k="$max" 'BEGIN { printf "%.1f", k / 1024 }')
echo "monitor_footprint: $nodes nodes on 2 hosts, probed every 1 s, over $secs s: CPU $cpu % of one core (goal < 10 %), RSS max $mb MB (goal < 50 MB), probes so far $probes"
echo "monitor_footprint: ratios to goal: CPU $(awk -v c="$cpu" 'BEGIN { printf "%.2f", c / 10 }'), RSS $(awk -v m="$mb" 'BEGIN { printf "%.2f", m / 50 }')"
