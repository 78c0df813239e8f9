#!/bin/sh
# Redis node image size: shoal's image of Debian's redis-server 7.0 (built
# from node-images/redis.cfg, gzip and zstd layers) against redis:7-alpine,
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

"$shoal" --json image build "$top/node-images/redis.cfg" > "$work/gz.json"
gz=$(jq -r .size "$work/gz.json")
sed 's/^compression = .*/compression = "zstd";/; s/^name = .*/name = "redis-zstd";/' \
	"$top/node-images/redis.cfg" > "$work/redis-zstd.cfg"
"$shoal" --json image build "$work/redis-zstd.cfg" > "$work/zst.json"
zst=$(jq -r .size "$work/zst.json")
"$shoal" -q image unpack redis:7.0 "$work/rootfs" >/dev/null
disk=$(du -sb "$work/rootfs" | cut -f1)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mb() { awk -v a="$1" 'BEGIN { printf "%.2f MB", a / 1e6 }'; }
echo "redis image (gzip layer):  $(mb "$gz") compressed; redis:7-alpine 16.30 MB; ratio $(ratio "$gz" "$alpine_gz")"
echo "redis image (zstd layer):  $(mb "$zst") compressed; ratio $(ratio "$zst" "$alpine_gz")"
echo "redis rootfs on disk:      $(mb "$disk"); redis:7-alpine 39.00 MB; ratio $(ratio "$disk" "$alpine_disk")"
[ "$gz" -le 8100000 ] || { echo "redis image exceeds the 8.1 MB budget" >&2; exit 1; }
