#!/bin/sh
# Listening ports of a busy host: shoal's sock_diag reader (agent host.ports)
# against its /proc/net/tcp parser and `ss -Hltn`, best of 5 each.
# Goal: 100k sockets in < 100 ms.  Two shapes: 100k listeners (the answer
# itself is 100k), and 50k connections (100k sockets) beside 1k listeners.
#
#   bench/ports_bench.sh        (root: runs in a network namespace of its own)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top"
make -s build/bench/ports_bench >/dev/null
for shape in "100000 0" "1000 50000"; do
	# shellcheck disable=SC2086
	unshare -n sh -c "ip link set lo up && build/bench/ports_bench $shape"
done
