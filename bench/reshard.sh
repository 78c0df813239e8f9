#!/bin/sh
# Resharding a loaded Redis Cluster: half of the 16384 slots move, from 2
# masters holding NKEYS keys (100-byte values) to 2 masters that joined
# empty, until every master serves 4096 slots:
#   shoal   rc_rebalance (deployer/lib/db/redis/redis_migrate.c, through
#           bench/reshard_driver.c): groups of slots in flight on 8 threads,
#           SETSLOT pipelined per group, 1000 keys per MIGRATE
#   peer    redis-cli --cluster rebalance --cluster-use-empty-masters with
#           its defaults (10 keys per MIGRATE, one slot at a time)
# Both start from the same state in the same run: 4 fresh redis-server
# processes each (127.0.0.1, requirepass, cluster-node-timeout 2000, no
# persistence), the same keys loaded by the driver, the empty masters joined
# by rc_form.  After each, the driver checks that every master serves its
# share (within 1) and that all NKEYS keys are there.  Prints keys/s of
# each and the ratio shoal/redis-cli (above 1 = shoal faster), and the CPU
# time the Redis processes themselves used in each run: over the cores,
# the floor under any tool making Redis do that work.
#
#   bench/reshard.sh [NKEYS]    (default 1000000)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top"
nkeys=${1:-1000000}
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
	echo "reshard: redis-server and redis-cli are needed" >&2
	exit 1
}
make -s build/bench/reshard_driver >/dev/null
driver=build/bench/reshard_driver

work=$(mktemp -d /tmp/shoal-bench-reshard.XXXXXX)
pids=
REDISCLI_AUTH=bench-$$-pass
export REDISCLI_AUTH
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

next_port=$((12768 + ($$ + 3500) % 7000))
# Set $port to one with itself and its bus port free (12768-19999, as
# bench/redis_form.sh); no subshell, so $next_port advances.
free_port() {
	while :; do
		port=$next_port
		next_port=$((next_port + 1))
		[ $next_port -ge 20000 ] && next_port=12768
		ss -Htln "( sport = :$port or sport = :$((port + 10000)) )" | grep -q . || return 0
	done
}

# Start 4 fresh nodes; their ports in $ports, their pids in $group.
start4() {
	ports=
	group=
	for i in 1 2 3 4; do
		free_port
		p=$port
		d=$work/$p
		mkdir -p "$d"
		redis-server --port "$p" --bind 127.0.0.1 --dir "$d" --cluster-enabled yes \
			--cluster-node-timeout 2000 --cluster-config-file nodes.conf \
			--requirepass "$REDISCLI_AUTH" --masterauth "$REDISCLI_AUTH" \
			--daemonize no --save '' --appendonly no --logfile "$d/log" &
		pids="$pids $!"
		group="$group $!"
		ports="$ports $p"
	done
	for p in $ports; do
		n=0
		until [ "$(redis-cli -p "$p" ping 2>/dev/null)" = PONG ]; do
			n=$((n + 1))
			[ $n -lt 500 ] || { echo "reshard: node on port $p did not start" >&2; exit 1; }
			sleep 0.01
		done
	done
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# cpu_ms PID...: the CPU time (user + system) these processes have used.
cpu_ms() {
	for p in "$@"; do
		# fields 14 and 15 of /proc/PID/stat, after the ")" of the name
		sed 's/.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }'
	done | awk -v hz="$(getconf CLK_TCK)" '{ t += $1 } END { printf "%d", t * 1000 / hz }'
}

# shellcheck disable=SC2086
{
	start4
	shoal_ports=$ports
	shoal_pids=$group
	"$driver" setup "$nkeys" 100 $shoal_ports
	start4
	peer_ports=$ports
	peer_pids=$group
	"$driver" setup "$nkeys" 100 $peer_ports

	c0=$(cpu_ms $shoal_pids)
	t0=$(now_ms)
	"$driver" rebalance $shoal_ports
	shoal_ms=$(($(now_ms) - t0))
	shoal_cpu=$(($(cpu_ms $shoal_pids) - c0))
	"$driver" verify "$nkeys" $shoal_ports

	first=${peer_ports# }
	first=${first%% *}
	c0=$(cpu_ms $peer_pids)
	t0=$(now_ms)
	redis-cli --cluster rebalance "127.0.0.1:$first" --cluster-use-empty-masters \
		>"$work/rebalance.log" 2>&1 || {
		tail -20 "$work/rebalance.log" >&2
		exit 1
	}
	peer_ms=$(($(now_ms) - t0))
	peer_cpu=$(($(cpu_ms $peer_pids) - c0))
	"$driver" verify "$nkeys" $peer_ports || {
		echo "(redis-cli left the slots uneven; its figure is still its own run time)"
	}
}
moved=$((nkeys / 2))
echo "resharding half the slots of $nkeys keys (about $moved keys move):" \
	"shoal ${shoal_ms} ms ($((moved * 1000 / (shoal_ms > 0 ? shoal_ms : 1))) keys/s)," \
	"redis-cli --cluster rebalance ${peer_ms} ms ($((moved * 1000 / (peer_ms > 0 ? peer_ms : 1))) keys/s)," \
	"ratio shoal/redis-cli $(awk -v a="$peer_ms" -v b="$shoal_ms" 'BEGIN{printf "%.2f", a / b}')x"
# The four redis-server processes' own CPU time during each run, over the
# machine's cores: a client cannot finish before Redis has done that work
# (MIGRATE serialises on the source and restores on the destination; a
# MIGRATE of keys from two slots is refused, CROSSSLOT), so it is the floor
# under the tool that made them do it.
cores=$(nproc)
echo "redis-server CPU time: during shoal's run ${shoal_cpu} ms, during redis-cli's ${peer_cpu} ms;" \
	"over $cores cores the floor under shoal is $((shoal_cpu / cores)) ms (shoal took ${shoal_ms} ms);" \
	"the best ratio a tool making the same Redis work could reach here:" \
	"$(awk -v a="$peer_ms" -v b="$((shoal_cpu / cores))" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "?" }')x"
