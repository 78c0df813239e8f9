#!/bin/sh
# Riak KV 3.2.1 node image (node-images/riak.cfg, built from source): its
# compressed size beside the plain relx release tarball (tar.gz of the same
# release, ERTS included: what `rebar3 tar` ships), and the build time cold
# and cached.  The cold time is the one the build cache recorded when it
# built (<cache>/<key>/ok); BENCH_COLD=1 builds again into an empty cache
# (about 2-4 minutes on 2 cores).  No public source states the size of an
# official Riak KV 3.2 container image, so the relx tarball is the yardstick.
set -eu
top=${SHOAL_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
shoal=${SHOAL_RELEASE:-$top/build}/shoal
work=$(mktemp -d /tmp/shoal-bench-riak.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
export SHOAL_HOME="$work/store"
if [ "${BENCH_COLD:-0}" = 1 ]; then
	export SHOAL_BUILD_CACHE="$work/cache"
fi
cache=${SHOAL_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shoal/builds}

ms() { date +%s%3N; }
mb() { awk -v a="$1" 'BEGIN { printf "%.2f MB", a / 1e6 }'; }

t0=$(ms)
first=$("$shoal" --json image build "$top/node-images/riak.cfg")
t1=$(ms)
rm -rf "$SHOAL_HOME"
t2=$(ms)
second=$("$shoal" --json image build "$top/node-images/riak.cfg")
t3=$(ms)
"$shoal" --json image build "$top/node-images/riak.cfg" >/dev/null
t4=$(ms)
size=$(echo "$second" | jq -r .size)
[ "$(echo "$first" | jq -r .manifest)" = "$(echo "$second" | jq -r .manifest)" ] ||
	{ echo "riak image: two builds gave different manifests" >&2; exit 1; }
# the newest finished entry of the cache is this build's
ok=$(ls -t "$cache"/*/ok | head -n 1)
cold=$(jq -r .seconds "$ok")
"$shoal" -q image unpack riak:3.2.1 "$work/rootfs" >/dev/null
relx=$(tar -C "$work/rootfs/usr/lib" -czf - riak | wc -c)
disk=$(du -sb "$work/rootfs" | cut -f1)

echo "riak image (zstd 9):       $(mb "$size") compressed, $(mb "$disk") unpacked"
echo "relx release tar.gz:       $(mb "$relx") (gzip -6 of /usr/lib/riak with ERTS; ratio $(awk -v a="$size" -v b="$relx" 'BEGIN { printf "%.2f", a / b }'))"
echo "source build, cold:        $cold s (recorded in $ok)"
echo "image build, this run:     $((t1 - t0)) ms (first, cache $( [ "${BENCH_COLD:-0}" = 1 ] && echo cold || echo warm))"
echo "image build, cached:       $((t3 - t2)) ms (fresh store: the layer is compressed again)"
echo "image build, cached:       $((t4 - t3)) ms (same store: layer cache too)"
