#!/bin/sh
# Time `lab up 16` followed by `lab down` (the issue's goal: under 20 s), three
# runs, and print each run and the median with its ratio to the goal.
#   sh bench/lab_updown.sh        (root; uses lab $SHOAL_LAB_ID, default 0)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
lab=$here/../tests/lab/lab
hosts=${LAB_BENCH_HOSTS:-16}
goal_ms=20000
id=${SHOAL_LAB_ID:-0}

[ "$(id -u)" -eq 0 ] || { echo "lab_updown: needs root" >&2; exit 1; }
"$lab" down >/dev/null

now_ms() { date +%s%3N; }
runs=
for r in 1 2 3; do
	t0=$(now_ms)
	"$lab" up "$hosts" >/dev/null
	t1=$(now_ms)
	"$lab" down >/dev/null
	t2=$(now_ms)
	echo "lab_updown: run $r: up $hosts $((t1 - t0)) ms, down $((t2 - t1)) ms, total $((t2 - t0)) ms"
	runs="$runs $((t2 - t0))"
done
median=$(echo $runs | tr ' ' '\n' | sort -n | sed -n 2p)
echo "lab_updown: lab $id, $hosts hosts, median up+down $median ms; goal $goal_ms ms; ratio to goal $(awk -v m="$median" -v g="$goal_ms" 'BEGIN { printf "%.2f", m / g }')"
