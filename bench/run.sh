#!/bin/sh
# Run every benchmark (bench/*.sh, except this file) in name order and keep
# going when one fails; each prints its own figures and ratios against the
# peer tool measured in the same run.  Exit 1 if any benchmark failed to run.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
export SHOAL_TOP="$top" SHOAL_RELEASE="${SHOAL_RELEASE:-$top/build}"
failed=0
for b in "$here"/*.sh; do
	[ "$(basename "$b")" = run.sh ] && continue
	echo "== bench $(basename "$b" .sh)"
	if ! sh "$b"; then
		echo "bench $(basename "$b"): FAILED to run" >&2
		failed=1
	fi
done
exit $failed
