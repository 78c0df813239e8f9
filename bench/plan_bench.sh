#!/bin/sh
# Planner alone: place 1,000,000 Redis nodes (500,000 master/replica shards)
# on 10,000 hosts in 100 racks with rack spread and replica anti-affinity;
# then stability (nodes moved when 1 host of 100 is added or replaced, vs
# the fewest the rules require) and the complete search's worst time on
# the property test's 6,000 cases (tests/unit/plan_cases.h).
# Goal: >= 500,000 placements/s.  Nomad's C1M (1M containers on 5,000 hosts,
# 3,750/s, hashicorp.com/c1m) is printed beside it as an anchor only: C1M is
# end to end (schedule + start containers), this is placement alone.
#
#   bench/plan_bench.sh [NODES HOSTS RACKS]
#
# Runs build/bench/plan_bench (make builds it from bench/plan_bench.c).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top"
make -s build/bench/plan_bench >/dev/null
line=$(build/bench/plan_bench "${1:-1000000}" "${2:-10000}" "${3:-100}")
echo "$line"
rate=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) placements\/s$/\1/p')
echo "goal: >= 500000 placements/s -> $( [ "$rate" -ge 500000 ] && echo met || echo MISSED)"
echo "anchor (different measure): Nomad C1M placed+started 3750 containers/s end to end;"
echo "  shoal's planner alone is $(awk -v r="$rate" 'BEGIN{printf "%.0f", r/3750}')x that rate (placement only, no containers started)"
build/bench/plan_bench --moves
build/bench/plan_bench --search
