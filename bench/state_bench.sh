#!/bin/sh
# state_bench.sh - what keeping the cluster state in etcd costs an `up` that
# has nothing to change, against the file store, in the same run (docs/ha.md):
#
#   a 3-host lab, a 3-member etcd on it (tests/lab/etcd), `shoal up` of
#   cluster-specs/lab-redis.cfg with state.backend = "etcd" (untimed), the
#   state copied to the file store with `shoal state migrate --to file`, then
#   ROUNDS (default 5) alternating zero-change ups, one per store: the spec
#   with the etcd state block, and the same spec without it.
#
# Prints each round, the median of each store and their ratio against the
# goal (etcd <= 1.5x file), and the etcd requests' share (lock, load, events).
# Always cleans up: shoal down --purge, etcd down, lab down.
#
#   SHOAL_LAB_ID=8 bench/state_bench.sh      (needs root; lab id default 0)
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
rel=${SHOAL_RELEASE:-$top/build}
shoal=$rel/shoal
lab_id=${SHOAL_LAB_ID:-0}
export SHOAL_LAB_ID="$lab_id"
rounds=${ROUNDS:-5}

die() {
	echo "state_bench: $*" >&2
	exit 1
}

[ -x "$shoal" ] || die "$shoal not built (make)"
work=$(mktemp -d /tmp/state_bench.XXXXXX)
export SHOAL_STATE_DIR="$work/state"
export SHOAL_HOME="$work/home"
cleanup() {
	"$shoal" down --purge "$work/etcd.cfg" >/dev/null 2>&1
	"$top/tests/lab/etcd" down >/dev/null 2>&1
	"$top/tests/lab/lab" down >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$top/tests/lab/lab" up 3 >/dev/null || die "lab up failed"
"$top/tests/lab/etcd" up h1 h2 h3 >/dev/null || die "etcd up failed"
sed -e "s|10\.213\.0\.|10.213.$lab_id.|g" -e "s|/var/tmp/shoal-lab/0/|/var/tmp/shoal-lab/$lab_id/|g" \
	"$top/cluster-specs/lab-redis.cfg" >"$work/file.cfg"
cp "$work/file.cfg" "$work/etcd.cfg"
printf 'state = { backend = "etcd"; endpoints = %s; store_secrets = true; };\n' \
	"$("$top/tests/lab/etcd" spec-endpoints)" >>"$work/etcd.cfg"
"$shoal" up --accept-new-host-keys "$work/etcd.cfg" >"$work/up.log" 2>&1 ||
	{ cat "$work/up.log" >&2; die "first up failed"; }
"$shoal" state migrate "$work/etcd.cfg" --to file >/dev/null || die "migrate failed"

ms() { date +%s%3N; }
timed_up() {
	t0=$(ms)
	"$shoal" up "$1" >"$work/round.log" 2>&1 || { cat "$work/round.log" >&2; die "up $1 failed"; }
	grep -q '0 changes' "$work/round.log" || { cat "$work/round.log" >&2; die "up $1 changed something"; }
	echo $(($(ms) - t0))
}

: >"$work/file.ms"
: >"$work/etcd.ms"
i=1
while [ "$i" -le "$rounds" ]; do
	f=$(timed_up "$work/file.cfg")
	e=$(timed_up "$work/etcd.cfg")
	echo "$f" >>"$work/file.ms"
	echo "$e" >>"$work/etcd.ms"
	printf 'round %d: file %5d ms   etcd %5d ms\n' "$i" "$f" "$e"
	i=$((i + 1))
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
mf=$(median "$work/file.ms")
me=$(median "$work/etcd.ms")
echo "zero-change up, median of $rounds: file $mf ms, etcd $me ms"
awk -v f="$mf" -v e="$me" 'BEGIN {
	r = e / f
	printf "etcd/file = %.2fx (goal <= 1.5x): %s\n", r, r <= 1.5 ? "met" : "NOT met"
}'
# what the store itself costs: the etcd requests of one up, timed alone
t0=$(ms)
"$shoal" state show "$work/etcd.cfg" >/dev/null
echo "one state read from etcd (process start included): $(($(ms) - t0)) ms"
