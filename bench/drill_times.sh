#!/bin/sh
# drill_times.sh - detection and recovery times per drill scenario on the
# 3-host lab with cluster-specs/lab-redis.cfg (cluster_node_timeout 2 s,
# monitor interval 500 ms, fail_after 3), from `shoal drill` reports:
#
#   kill-master  5 rounds, shoal monitor running
#   pause-node   3 rounds of 4 s, shoal monitor running (it kills the hung node)
#   pause-node   3 rounds of 4 s, no monitor (the drill's SIGCONT heals)
#   kill-host    3 rounds, 4 s down, no monitor (the drill's new connection heals)
#   partition    3 rounds of 5 s, no monitor (one host of three cut off)
#   slow-network 3 rounds of 4 s, loss 20%, no monitor
#
# each under --load writers=2,rate=1000.  Prints per scenario the median and
# the largest detection and recovery time (seconds after the injection), the
# writes acknowledged and lost, and keeps the kill-master report
# (DRILL_TIMES_KEEP=DIR: report.json, report.html there).
#
#   SHOAL_LAB_ID=4 bench/drill_times.sh      (needs root; the release build)
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
rel=${SHOAL_RELEASE:-$top/build}
shoal=$rel/shoal
lab_id=${SHOAL_LAB_ID:-0}
export SHOAL_LAB_ID="$lab_id"

die() {
	echo "drill_times: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (the lab)"
for t in jq curl; do command -v "$t" >/dev/null || die "$t is needed"; done
[ -x "$shoal" ] || die "$shoal is needed (make all)"

work=$(mktemp -d /tmp/shoal-drill-times.XXXXXX)
export SHOAL_STATE_DIR="$work/state" SHOAL_HOME="$work/home"
spec=$work/lab-redis.cfg
mon=
cleanup() {
	[ -n "$mon" ] && kill "$mon" 2>/dev/null && wait "$mon" 2>/dev/null
	timeout 60 "$shoal" down --purge "$spec" >/dev/null 2>&1
	"$top/tests/lab/lab" down >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$top/tests/lab/lab" down >/dev/null 2>&1
"$top/tests/lab/lab" up 3 >/dev/null || die "lab up 3 failed"
sed -e "s|10\.213\.0\.|10.213.$lab_id.|g" -e "s|/var/tmp/shoal-lab/0/|/var/tmp/shoal-lab/$lab_id/|g" \
	"$top/cluster-specs/lab-redis.cfg" >"$spec"
"$shoal" up --accept-new-host-keys "$spec" >"$work/up.log" 2>&1 || {
	cat "$work/up.log" >&2
	die "shoal up failed"
}
port=$((7960 + lab_id))

# summary NAME REPORT: one line of figures from a report.json
summary() {
	jq -r --arg n "$1" '
		def med: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
		[.rounds[] | select(.detected_at_ms != null) | (.detected_at_ms - .injected_at_ms) / 1000] as $d |
		[.rounds[] | select(.recovered_at_ms != null) | (.recovered_at_ms - .injected_at_ms) / 1000] as $r |
		"\($n): \(.rounds | length) rounds, detected median \($d | med) s max \($d | max) s (by \([.rounds[].detected_by] | unique | join("/"))), recovered median \($r | med) s max \($r | max) s; \(.check.acknowledged) acknowledged, \(.check.lost) lost, longest unavailable \(.check.unavailable_ms / 1000) s, healthy at end: \(.healthy_at_end)"' "$2"
}

"$shoal" monitor --foreground --listen "127.0.0.1:$port" "$spec" >"$work/monitor.log" 2>&1 &
mon=$!
# until the monitor answers and sees every node up
for _ in $(seq 1 200); do
	curl -sf "http://127.0.0.1:$port/status" 2>/dev/null |
		jq -e '[.monitor.nodes[] | select(.health == "up")] | length == 6' >/dev/null 2>&1 && break
	sleep 0.3
done
"$shoal" drill "$spec" --scenario kill-master --rounds 5 --interval 3s --seed 7 \
	--load writers=2,rate=1000 --report "$work/km" >"$work/km.log" 2>&1
summary "kill-master, monitor" "$work/km/report.json"
"$shoal" drill "$spec" --scenario pause-node --rounds 3 --interval 3s --pause 4s --seed 8 \
	--load writers=2,rate=1000 --report "$work/pm" >"$work/pm.log" 2>&1
summary "pause-node 4 s, monitor" "$work/pm/report.json"
kill "$mon"
wait "$mon" 2>/dev/null
mon=
"$shoal" drill "$spec" --scenario pause-node --rounds 3 --interval 3s --pause 4s --seed 8 \
	--load writers=2,rate=1000 --report "$work/pn" >"$work/pn.log" 2>&1
summary "pause-node 4 s, no monitor" "$work/pn/report.json"
"$shoal" drill "$spec" --scenario kill-host --rounds 3 --interval 3s --pause 4s --seed 8 \
	--load writers=2,rate=1000 --report "$work/kh" >"$work/kh.log" 2>&1
summary "kill-host 4 s, no monitor" "$work/kh/report.json"
"$shoal" drill "$spec" --scenario partition --rounds 3 --interval 3s --pause 5s --seed 8 \
	--load writers=2,rate=1000 --report "$work/pt" >"$work/pt.log" 2>&1
summary "partition 5 s, no monitor" "$work/pt/report.json"
"$shoal" drill "$spec" --scenario slow-network --rounds 3 --interval 3s --pause 4s --loss 20% \
	--seed 8 --load writers=2,rate=1000 --report "$work/sn" >"$work/sn.log" 2>&1
summary "slow-network 4 s loss 20%, no monitor" "$work/sn/report.json"
if [ -n "${DRILL_TIMES_KEEP:-}" ]; then
	mkdir -p "$DRILL_TIMES_KEEP"
	cp "$work/km/report.json" "$work/km/report.html" "$DRILL_TIMES_KEEP/"
fi
