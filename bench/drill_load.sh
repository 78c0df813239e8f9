#!/bin/sh
# drill_load.sh - the drill's own load generator against the peer tool, on
# the same 6-node lab cluster in the same run:
#
#   (d) drill   `shoal drill SPEC --scenario kill-node --rounds 1` with
#               --load writers=4,rate=0 (as fast as 4 writers go), from its
#               report: acknowledged writes per second over the whole run
#               (one kill -9 included, so an underestimate) and the median
#               of the whole seconds before the fault (steady state)
#   (b) peer    redis-benchmark -t set --cluster -c 4 -P 50 (4 clients,
#               pipelined, against the same cluster, password set), twice:
#               its default (every SET on the same key, a 3-byte value) and
#               with -r 100000000 -d 24 (a fresh key nearly every SET, a value
#               the drill's size: the drill's own kind of write)
#
# The drill's goal is >= 50,000 acknowledged writes/s with 4 writers, so
# faults are tested under real load.  Prints the figures and the ratios
# d/b (steady state over each peer figure).
# Brings a lab of 3 hosts up (lab id $SHOAL_LAB_ID, default 0) with
# cluster-specs/lab-redis.cfg and takes it down again.
#
#   SHOAL_LAB_ID=4 bench/drill_load.sh     (needs root; the release build)
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
rel=${SHOAL_RELEASE:-$top/build}
shoal=$rel/shoal
lab_id=${SHOAL_LAB_ID:-0}
export SHOAL_LAB_ID="$lab_id"

die() {
	echo "drill_load: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (the lab)"
for t in redis-benchmark redis-cli jq; do
	command -v "$t" >/dev/null || die "$t is needed"
done
[ -x "$shoal" ] || die "$shoal is needed (make all)"

work=$(mktemp -d /tmp/shoal-drill-bench.XXXXXX)
export SHOAL_STATE_DIR="$work/state" SHOAL_HOME="$work/home"
spec=$work/lab-redis.cfg
cleanup() {
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
eval "$("$shoal" env "$spec" cache)"
export REDISCLI_AUTH

"$shoal" --json drill "$spec" --scenario kill-node --rounds 1 --interval 10s --seed 1 \
	--load writers=4,rate=0 >"$work/drill.json" 2>"$work/drill.log" || true
d=$(jq '.check.writes_per_s | floor' "$work/drill.json" 2>/dev/null) || die "no drill report: $(tail -3 "$work/drill.log")"
lost=$(jq .check.lost "$work/drill.json")
# whole seconds before the first injection (series t is seconds since the
# load started, injected_at_ms milliseconds since then)
steady=$(jq '(.rounds[0].injected_at_ms // 1e12) as $inj |
	[.series[] | select((.t + 1) * 1000 <= $inj) | .acked] | sort |
	if length == 0 then 0 else .[(length - 1) / 2 | floor] end' "$work/drill.json")

addr=10.213.$lab_id.11
bench() {
	redis-benchmark -h "$addr" -p 7000 -a "$REDISCLI_AUTH" --cluster -t set -c 4 -P 50 "$@" \
		-q 2>/dev/null | tr '\r' '\n' | sed -n 's/^SET: \([0-9.]*\) requests per second.*/\1/p' |
		tail -1
}
b=$(bench -n 1000000)
[ -n "$b" ] || die "redis-benchmark gave no SET rate"
b=${b%.*}
bu=$(bench -n 300000 -r 100000000 -d 24)
[ -n "$bu" ] || die "redis-benchmark -r gave no SET rate"
bu=${bu%.*}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "drill load (4 writers, rate=0), steady (median second before the fault): $steady acknowledged writes/s"
echo "drill load, whole run (one kill -9 in it):                              $d acknowledged writes/s ($lost lost)"
echo "redis-benchmark SET, one key (4 clients, -P 50, --cluster):             $b requests/s"
echo "redis-benchmark SET, fresh keys (-r 100000000 -d 24):                   $bu requests/s"
echo "ratio drill steady / redis-benchmark one key:    $(awk -v d="$steady" -v b="$b" 'BEGIN { printf "%.2f", d / b }')"
echo "ratio drill steady / redis-benchmark fresh keys: $(awk -v d="$steady" -v b="$bu" 'BEGIN { printf "%.2f", d / b }')"
if [ "$steady" -ge 50000 ]; then
	echo "goal >= 50000 writes/s: met"
else
	echo "goal >= 50000 writes/s: NOT met"
fi
