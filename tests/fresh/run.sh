#!/bin/sh
# tests/fresh/run.sh [--keep] - prove the first-time experience on a fresh
# system: build a minimal Debian 12 root (mmdebstrap, variant minbase: only
# Priority required packages, plus make), copy a clean clone of this
# repository's HEAD into it, and run there, inside new mount, pid, uts and
# ipc namespaces:
#
#   make deps && make -j2 all asan && tests/run.sh --unit
#
# nft is checked absent before `make deps` and present after it (nftables
# is not in a minbase root).
# tests/run.sh runs tests/deps_check.sh first, so the dependency check runs
# inside too.  The lab's scenarios are not run inside (docs/testing.md says
# why).  The Debian archive is the one this machine's apt uses: every enabled
# sources file under /etc/apt is handed to mmdebstrap.  Needs root and about
# 3 GB in $FRESH_DIR (default /var/tmp); takes 20-40 minutes.  Not part of
# `make test`.  The root is removed at the end unless --keep is given.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
suite=${FRESH_SUITE:-bookworm}
keep=
[ "${1:-}" = --keep ] && keep=1

die() { echo "fresh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap, chroot, namespaces)"
command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (apt-get install mmdebstrap)"
command -v git >/dev/null || die "git is not installed"

# The machine's own apt sources, enabled ones only.
sources=
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] || continue
	grep -qE '^[[:space:]]*(deb |URIs:)' "$f" || continue
	sources="$sources $f"
done
[ -n "$sources" ] || die "no enabled apt sources under /etc/apt"

root=$(mktemp -d "${FRESH_DIR:-/var/tmp}/shoal-fresh.XXXXXX")
# Nothing may be mounted below the root when it is removed.
cleanup() {
	if findmnt -rn -o TARGET | grep -q "^$root"; then
		echo "fresh: something is still mounted below $root; not removing it" >&2
		return
	fi
	if [ -n "$keep" ]; then echo "fresh: root kept in $root"; else rm -rf "$root"; fi
}
trap cleanup EXIT

echo "fresh: minimal $suite root in $root from:$sources"
# shellcheck disable=SC2086
mmdebstrap --variant=minbase --include=make "$suite" "$root" $sources

echo "fresh: clean clone of $(git -C "$top" rev-parse --short HEAD)"
git clone -q --no-local "$top" "$root/src/shoal"
rm -rf "$root/src/shoal/.git"

# What runs inside.  nft (nftables, Priority important) stands for every
# package a minimal root lacks: it must be absent before `make deps` (else
# this root proves nothing about the install step) and present after it.
steps='if command -v nft >/dev/null; then echo "fresh: nft is already in the root; it cannot show make deps installing it"; exit 1; fi
echo "fresh: nft absent before make deps (nftables not installed)"
make deps
command -v nft >/dev/null || { echo "fresh: make deps did not install nft (nftables)"; exit 1; }
echo "fresh: make deps installed nftables: $(command -v nft)"
make -j2 all asan
sh tests/run.sh --unit'

# New namespaces; the mounts vanish with them.  The network is the host's
# (make deps downloads packages).
cp /etc/resolv.conf "$root/etc/resolv.conf"
t0=$(date +%s)
{
	rc=0
	unshare --mount --pid --uts --ipc --fork --propagation=private sh -eu -c '
		r=$1
		# The root a machine boots is a mount point; a bare chroot dir is
		# not, and "mount --make-rprivate /" (the ssh test fixture does it)
		# then fails with EINVAL.  Bind the root onto itself first.
		mount --bind "$r" "$r"
		mount --rbind /dev "$r/dev"
		mount -t proc proc "$r/proc"
		mount -t sysfs sysfs "$r/sys"
		mount -t tmpfs tmpfs "$r/tmp"
		mount -t tmpfs tmpfs "$r/run"
		hostname shoal-fresh
		exec chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
			LANG=C.UTF-8 TERM=dumb /bin/sh -e -c "cd /src/shoal && $2"
	' sh "$root" "$steps" || rc=$?
	echo "$rc" >"$root.rc"
} 2>&1 | tee "$root.log"
rc=$(cat "$root.rc")
rm -f "$root.rc"
echo "fresh: done in $(( $(date +%s) - t0 )) s (exit $rc); log $root.log"
exit $rc
