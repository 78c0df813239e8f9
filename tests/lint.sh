#!/bin/bash
# lint.sh - static analysis: cppcheck and clang-tidy over shoal's C code,
# with the checked-in configurations (tests/lint/shoal.cfg for cppcheck,
# .clang-tidy for clang-tidy; every check left out is justified there).
# Exit 0 when both are clean, 1 with their findings otherwise.
#
#   tests/lint.sh            everything (deployer/ and tests/)
#   tests/lint.sh FILE.c...  only these files (clang-tidy and cppcheck)
#
# LINT_JOBS (default: the number of CPUs) files are checked in parallel.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
jobs=${LINT_JOBS:-$(nproc)}

for tool in cppcheck clang-tidy; do
	command -v "$tool" >/dev/null || { echo "lint: $tool is not installed (deps/debian.txt)" >&2; exit 1; }
done

incs="-Ideployer/common -Ideployer/lib -Ideployer/agent -Ideployer/cli"
for d in $(find deployer/lib -type d | sort); do incs="$incs -I$d"; done
pkg=$(pkg-config --cflags libconfig jansson libssh2 libevent libarchive libcurl \
	libcrypto nettle libseccomp libcap hiredis 2>/dev/null)

if [ $# -gt 0 ]; then
	files=("$@")
	tidy_files=("$@")
else
	mapfile -t files < <(find deployer tests/unit tests/fuzz -name '*.c' | sort)
	mapfile -t tidy_files < <(find deployer -name '*.c' | sort)
fi

rc=0
echo "lint: cppcheck on ${#files[@]} files"
# warning, portability, performance: the classes that find bugs.  `style`
# is left out: cppcheck 2.10 does not model __attribute__((cleanup)), so
# unreadVariable/variableScope fire on every scoped-cleanup variable.
# shellcheck disable=SC2086
if ! cppcheck -q -j "$jobs" --std=c11 --error-exitcode=1 --inline-suppr \
	--enable=warning,portability,performance --library=tests/lint/shoal.cfg \
	--suppress=missingIncludeSystem -D_GNU_SOURCE $incs "${files[@]}"; then
	rc=1
fi

echo "lint: clang-tidy on ${#tidy_files[@]} files ($jobs at a time)"
out=$(mktemp)
# shellcheck disable=SC2086
printf '%s\n' "${tidy_files[@]}" |
	xargs -P "$jobs" -I{} sh -c 'clang-tidy -quiet "$1" -- -std=gnu11 \
		-D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $2 2>/dev/null || echo "lint: clang-tidy failed on $1"' \
		_ {} "$incs $pkg" >"$out"
if grep -qE 'error:|warning:|lint: clang-tidy failed' "$out"; then
	grep -E 'error:|warning:|lint: clang-tidy failed' "$out" | sort -u
	rc=1
fi
rm -f "$out"
[ $rc -eq 0 ] && echo "lint: clean"
exit $rc
