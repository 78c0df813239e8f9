#!/bin/sh
# Redis node image size: shoal's image of Debian's redis-server 7.0 (built
# from node-images/redis.cfg as it is, and with gzip -9 and zstd 19 layers)
# against redis:7-alpine,
# 16.3 MB compressed / 39 MB on disk (docker-library/repo-info, see
# shared/ANCHORS.md).  Prints the figures and the ratios; lower is better.
set -eu
top=${SHOAL_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
shoal=${SHOAL_RELEASE:-$top/build}/shoal
work=$(mktemp -d /tmp/shoal-bench-image.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
export SHOAL_HOME="$work/store"

alpine_gz=16300000
alpine_disk=39000000

# variant NAME COMPRESSION [LEVEL]: the recipe with another compression
variant() {
	sed -e '/^compression_level = /d' -e "s/^compression = .*/compression = \"$2\";${3:+ compression_level = $3;}/" \
		-e "s/^name = .*/name = \"$1\";/" "$top/node-images/redis.cfg" > "$work/$1.cfg"
	"$shoal" --json image build "$work/$1.cfg" | jq -r .size
}
t0=$(date +%s%3N)
def=$("$shoal" --json image build "$top/node-images/redis.cfg" | jq -r .size)
t1=$(date +%s%3N)
gz=$(variant redis-gzip gzip)
t2=$(date +%s%3N)
z19=$(variant redis-zstd19 zstd 19)
t3=$(date +%s%3N)
"$shoal" -q image unpack redis:7.0 "$work/rootfs" >/dev/null
disk=$(du -sb "$work/rootfs" | cut -f1)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mb() { awk -v a="$1" 'BEGIN { printf "%.2f MB", a / 1e6 }'; }
echo "redis image (the recipe, zstd 9): $(mb "$def") compressed, built in $((t1 - t0)) ms; redis:7-alpine 16.30 MB; ratio $(ratio "$def" "$alpine_gz")"
echo "redis image (gzip -9 layer):      $(mb "$gz") compressed, built in $((t2 - t1)) ms; ratio $(ratio "$gz" "$alpine_gz")"
echo "redis image (zstd 19 layer):      $(mb "$z19") compressed, built in $((t3 - t2)) ms; ratio $(ratio "$z19" "$alpine_gz")"
echo "redis rootfs on disk:             $(mb "$disk"); redis:7-alpine 39.00 MB; ratio $(ratio "$disk" "$alpine_disk")"
[ "$def" -le 8100000 ] || { echo "redis image exceeds the 8.1 MB budget" >&2; exit 1; }
