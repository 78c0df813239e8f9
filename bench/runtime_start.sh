#!/bin/bash
# runtime_start.sh - how fast a node starts.
#
#  1. start-to-exec of the builtin runtime (namespaces, overlay root, /proc,
#     /dev, cgroups, caps, seccomp included) as the agent measures it
#     (`start_us` of the node record), and as the operator sees it (node.start
#     answered, including the durable node.json write), against `runc run`
#     of the same rootfs running /bin/true to its end (runc's own
#     start-to-exec cannot be observed from outside; its exit follows the
#     exec at once).  Goal: builtin <= 0.5x runc.
#  2. start-to-PING-ready of a Redis node (the node-images/redis.cfg image,
#     built with `shoal image build`), host networking on 127.0.0.1.
#
# Uses the release agent ($SHOAL_RELEASE/shoal-agent) through the same
# helpers as the scenario tests.  Needs root.  Prints figures and ratios.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
export SHOAL_BUILD="${SHOAL_RELEASE:-$top/build}"
N=${RUNTIME_BENCH_N:-50}
[ "$(id -u)" -eq 0 ] || { echo "runtime_start: needs root; skipped"; exit 0; }
[ -x "$SHOAL_BUILD/shoal-agent" ] || { echo "runtime_start: build $SHOAL_BUILD/shoal-agent first" >&2; exit 1; }
# shellcheck source=../tests/scenarios/agent_helpers.bash
. "$top/tests/scenarios/agent_helpers.bash"

cleanup() { set +e; agent_stop; rm -rf "${BUNDLE:-}"; }
trap cleanup EXIT
agent_start
IMG=$(agent_busybox_image)

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000 )); }   # microseconds

# One session carrying n request lines; prints its wall time in microseconds.
session_us() {
	local t0
	t0=$(date +%s%N)
	"$AGENT_BIN" connect --root "$AGENT_ROOT" --run-dir "$AGENT_RUN" <"$1" >"$1.out"
	ms_since "$t0"
}

# ---- 1. builtin start-to-exec vs runc run -----------------------------------
for i in $(seq "$N"); do
	agent_call "{\"op\":\"node.create\",\"cluster\":\"bench\",\"node\":\"t$i\",\"image\":\"$IMG\",\"argv\":[\"/bin/true\"],\"restart\":\"never\"}" | agent_ok
done
req="$AGENT_TMP/starts" base="$AGENT_TMP/hellos"
: >"$req"; : >"$base"
for i in $(seq "$N"); do
	echo "{\"id\":$i,\"op\":\"node.start\",\"cluster\":\"bench\",\"node\":\"t$i\"}" >>"$req"
	echo "{\"id\":$i,\"op\":\"hello\"}" >>"$base"
done
session_us "$base" >/dev/null   # warm up
tb=$(session_us "$base")
ts=$(session_us "$req")
fails=$(grep -c '"ok":false' "$req.out" || true)
[ "$fails" -eq 0 ] || { echo "runtime_start: $fails starts failed" >&2; head -3 "$req.out" >&2; exit 1; }
session_start_us=$(( (ts - tb) / N ))
# The agent's own measure: from taking up node.start to the entrypoint's exec.
builtin_us=$(jq -s 'map(select(.start_us) | .start_us) | add / length | floor' "$req.out")

BUNDLE=$(mktemp -d /tmp/shoal-bench-runc.XXXXXX)
runc_us=
if command -v runc >/dev/null; then
	cp -a "$AGENT_ROOT/images/${IMG#sha256:}/rootfs" "$BUNDLE/rootfs"
	(cd "$BUNDLE" && runc spec)
	jq '.process.args = ["/bin/true"] | .process.terminal = false |
	    .linux.namespaces |= map(select(.type != "network"))' \
		"$BUNDLE/config.json" >"$BUNDLE/c.json" && mv "$BUNDLE/c.json" "$BUNDLE/config.json"
	runc run --bundle "$BUNDLE" shoal-bench-warm >/dev/null
	t0=$(date +%s%N)
	for i in $(seq "$N"); do
		runc run --bundle "$BUNDLE" "shoal-bench-$i" >/dev/null
	done
	runc_us=$(( $(ms_since "$t0") / N ))
fi

echo "builtin start to exec (agent-measured), mean of $N: $((builtin_us / 1000)).$(printf %03d $((builtin_us % 1000))) ms"
echo "builtin node.start answered (with its fsync'd node.json), mean: $((session_start_us / 1000)).$(printf %03d $((session_start_us % 1000))) ms"
if [ -n "$runc_us" ]; then
	echo "runc run /bin/true, mean of $N: $((runc_us / 1000)).$(printf %03d $((runc_us % 1000))) ms"
	echo "ratio builtin/runc: $(awk "BEGIN{printf \"%.2f\", $builtin_us/$runc_us}")x (goal <= 0.50x)"
	echo "ratio node.start answered/runc: $(awk "BEGIN{printf \"%.2f\", $session_start_us/$runc_us}")x"
else
	echo "runc not installed: no ratio"
fi

# ---- 2. Redis start-to-PING-ready --------------------------------------------
# The Redis node image of node-images/redis.cfg, built by `shoal image build`.
if command -v redis-cli >/dev/null && [ -x "$SHOAL_BUILD/shoal" ] &&
	rimg=$(agent_redis_image 2>/dev/null) && [ -n "$rimg" ]; then
	agent_call "{\"op\":\"image.unpack\",\"digest\":\"$rimg\"}" | agent_ok
	port=$((20000 + RANDOM % 20000))
	t0=$(date +%s%N)
	agent_call "{\"op\":\"node.create\",\"cluster\":\"bench\",\"node\":\"redis\",\"image\":\"$rimg\",\"start\":true,\"argv\":[\"/usr/bin/redis-server\",\"--bind\",\"127.0.0.1\",\"--port\",\"$port\",\"--save\",\"\",\"--dir\",\"/data\"]}" | agent_ok
	until [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; do
		[ $(( $(date +%s%N) - t0 )) -lt 10000000000 ] || { echo "redis never answered PING" >&2; exit 1; }
		sleep 0.002
	done
	us=$(ms_since "$t0")
	echo "redis node create+start to PING-ready: $((us / 1000)).$(printf %03d $((us % 1000))) ms"
else
	echo "redis image or redis-cli not available: Redis start not measured"
fi
