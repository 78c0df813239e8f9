#!/bin/sh
# drill_load.sh - the drill's own load generator against the peer tool, on
# the same 6-node lab cluster in the same run:
#
#   (d) drill   `shoal drill SPEC --scenario kill-node --rounds 1` with
#               --load writers=4,rate=0 (as fast as 4 writers go): its
#               report's acknowledged writes per second over the whole run
#               (one kill -9 included, so a slight underestimate)
#   (b) peer    redis-benchmark -t set --cluster -c 4 -P 50 (4 clients,
#               pipelined, against the same cluster, password set): its SET
#               requests per second
#
# The drill's goal is >= 50,000 acknowledged writes/s with 4 writers, so
# faults are tested under real load.  Prints both and the ratio d/b.
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

"$shoal" --json drill "$spec" --scenario kill-node --rounds 1 --interval 5s --seed 1 \
	--load writers=4,rate=0 >"$work/drill.json" 2>"$work/drill.log" || true
d=$(jq '.check.writes_per_s | floor' "$work/drill.json" 2>/dev/null) || die "no drill report: $(tail -3 "$work/drill.log")"
lost=$(jq .check.lost "$work/drill.json")

addr=10.213.$lab_id.11
b=$(redis-benchmark -h "$addr" -p 7000 -a "$REDISCLI_AUTH" --cluster -t set -c 4 -P 50 \
	-n 1000000 -q 2>/dev/null | tr '\r' '\n' | sed -n 's/^SET: \([0-9.]*\) requests per second.*/\1/p' | tail -1)
[ -n "$b" ] || die "redis-benchmark gave no SET rate"
b=${b%.*}

echo "drill load (4 writers, rate=0, one kill -9 in the run): $d acknowledged writes/s ($lost lost)"
echo "redis-benchmark SET (4 clients, -P 50, --cluster):     $b requests/s"
echo "ratio drill/redis-benchmark: $(awk -v d="$d" -v b="$b" 'BEGIN { printf "%.2f", d / b }')"
if [ "$d" -ge 50000 ]; then
	echo "goal >= 50000 writes/s: met"
else
	echo "goal >= 50000 writes/s: NOT met"
fi
