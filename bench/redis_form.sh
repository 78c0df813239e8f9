#!/bin/sh
# Forming a Redis Cluster of 6 fresh local nodes (3 masters + 3 replicas) until
# every node reports cluster_state:ok with all 16384 slots served:
#   shoal   rc_form (deployer/lib/db/redis/redis_cluster.c, through bench/redis_form_driver.c)
#   peer    redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes,
#           then the same cluster_state:ok wait (redis-cli returns once the
#           configuration agrees, which can be before every node says ok)
# Each round starts 12 fresh redis-server processes on 127.0.0.1 (6 per tool,
# requirepass/masterauth set, cluster-node-timeout 2000) and forms as soon as
# they answer PING, as `shoal up` does.  Two figures per tool:
#   configured  slots assigned, nodes met, replicas pointed (shoal: rc_form's
#               own debug line; redis-cli: until --cluster create returns)
#   ok          until every node reports cluster_state:ok and all slots are
#               served.  Redis holds a master back from ok for one node
#               timeout after it first serves slots, so this is about 2 s for
#               both tools and the ratio is near 1.
# Prints each round, the medians and the ratios shoal/redis-cli (below 1 =
# shoal faster).
#
#   bench/redis_form.sh [ROUNDS]    (default 3)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top"
rounds=${1:-3}
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
	echo "redis_form: redis-server and redis-cli are needed" >&2
	exit 1
}
make -s build/bench/redis_form_driver >/dev/null
driver=build/bench/redis_form_driver

work=$(mktemp -d /tmp/shoal-bench-redis.XXXXXX)
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

next_port=$((12768 + $$ % 7000))
# Set $port to one with itself and its bus port ($port + 10000) free, from
# 12768-19999 (bus ports stay below the ephemeral range 32768+, and apart from
# the unit test's 20000-22767); no subshell, so $next_port advances.
free_port() {
	while :; do
		port=$next_port
		next_port=$((next_port + 1))
		[ $next_port -ge 20000 ] && next_port=12768
		ss -Htln "( sport = :$port or sport = :$((port + 10000)) )" | grep -q . || return 0
	done
}

# Start 6 fresh nodes; their ports in $ports.
start6() {
	ports=
	for i in 1 2 3 4 5 6; do
		free_port
		p=$port
		d=$work/$p
		mkdir -p "$d"
		redis-server --port "$p" --bind 127.0.0.1 --dir "$d" --cluster-enabled yes \
			--cluster-node-timeout 2000 --cluster-config-file nodes.conf \
			--requirepass "$REDISCLI_AUTH" --masterauth "$REDISCLI_AUTH" \
			--daemonize no --save '' --appendonly no --logfile "$d/log" &
		pids="$pids $!"
		ports="$ports $p"
	done
	for p in $ports; do
		n=0
		until [ "$(redis-cli -p "$p" ping 2>/dev/null)" = PONG ]; do
			n=$((n + 1))
			[ $n -lt 500 ] || { echo "redis_form: node on port $p did not start" >&2; exit 1; }
			sleep 0.01
		done
	done
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

: >"$work/shoal"
: >"$work/peer"
: >"$work/shoal_cfg"
: >"$work/peer_cfg"
r=1
while [ $r -le "$rounds" ]; do
	start6
	t0=$(now_ms)
	# shellcheck disable=SC2086
	SHOAL_DEBUG=1 "$driver" form 1 $ports 2>"$work/form.log" || {
		cat "$work/form.log" >&2
		exit 1
	}
	t1=$(now_ms)
	shoal_ms=$((t1 - t0))
	shoal_cfg=$(sed -n 's/.*replicas pointed at their masters after \([0-9]*\) ms.*/\1/p' "$work/form.log")

	start6
	endpoints=
	for p in $ports; do endpoints="$endpoints 127.0.0.1:$p"; done
	t0=$(now_ms)
	# shellcheck disable=SC2086
	redis-cli --cluster create $endpoints --cluster-replicas 1 --cluster-yes \
		>"$work/create.log" 2>&1 || {
		cat "$work/create.log" >&2
		exit 1
	}
	t1=$(now_ms)
	peer_cfg=$((t1 - t0))
	# shellcheck disable=SC2086
	"$driver" wait-ok $ports
	t1=$(now_ms)
	peer_ms=$((t1 - t0))

	echo "round $r: configured: shoal ${shoal_cfg} ms, redis-cli ${peer_cfg} ms;" \
		"cluster_state:ok everywhere: shoal ${shoal_ms} ms, redis-cli ${peer_ms} ms"
	echo "$shoal_ms" >>"$work/shoal"
	echo "$peer_ms" >>"$work/peer"
	echo "$shoal_cfg" >>"$work/shoal_cfg"
	echo "$peer_cfg" >>"$work/peer_cfg"
	# Stop this round's nodes before the next one.
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	pids=
	r=$((r + 1))
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / b}'; }
s=$(median <"$work/shoal_cfg")
c=$(median <"$work/peer_cfg")
echo "configured (slots, meet, replicas), median of $rounds: shoal ${s} ms, redis-cli ${c} ms, ratio shoal/redis-cli $(ratio "$s" "$c")"
s=$(median <"$work/shoal")
c=$(median <"$work/peer")
echo "cluster_state:ok on every node, median of $rounds: shoal ${s} ms, redis-cli ${c} ms, ratio shoal/redis-cli $(ratio "$s" "$c")"
echo "(both include Redis's own hold-back: a master turns ok only a node timeout, here 2000 ms, after it first serves slots)"
