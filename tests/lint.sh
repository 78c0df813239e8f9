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

# clang-tidy takes seconds of CPU per file; a file it found clean is not
# checked again while its translation unit is the same: the key is the
# preprocessed file with comments and macro definitions kept (so its
# headers, a NOLINT comment and every macro count), the flags, .clang-tidy
# and the clang-tidy version.  Only clean results are kept (in $LINT_CACHE,
# default ~/.cache/shoal/lint, outside the checkout like the Riak build
# cache, so a clean clone on the same machine finds them; LINT_CACHE= turns
# it off), so a finding is reported on every run.
cache=${LINT_CACHE-${XDG_CACHE_HOME:-$HOME/.cache}/shoal/lint}
[ -z "$cache" ] || mkdir -p "$cache" || cache=
salt="$(clang-tidy --version 2>&1) $(sha256sum .clang-tidy) $incs $pkg"
echo "lint: clang-tidy on ${#tidy_files[@]} files ($jobs at a time${cache:+, clean ones cached in ${cache#"$top"/}})"
out=$(mktemp)
# shellcheck disable=SC2016
printf '%s\n' "${tidy_files[@]}" |
	xargs -P "$jobs" -I{} sh -c '
		f=$1 flags=$2 cache=$3 salt=$4 key=
		if [ -n "$cache" ]; then
			pp=$(mktemp)
			# shellcheck disable=SC2086
			if cc -E -C -dD -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $flags "$f" >"$pp" 2>/dev/null; then
				key=$( { cat "$pp"; echo "$salt"; } | sha256sum | cut -c1-64)
			fi
			rm -f "$pp"
			if [ -n "$key" ] && [ -e "$cache/$key" ]; then exit 0; fi
		fi
		res=$(mktemp)
		# shellcheck disable=SC2086
		if clang-tidy -quiet "$f" -- -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $flags >"$res" 2>/dev/null; then
			if [ -n "$key" ] && ! grep -qE "error:|warning:" "$res"; then : >"$cache/$key"; fi
		else
			echo "lint: clang-tidy failed on $f" >>"$res"
		fi
		cat "$res"
		rm -f "$res"' _ {} "$incs $pkg" "$cache" "$salt" >"$out"
if grep -qE 'error:|warning:|lint: clang-tidy failed' "$out"; then
	grep -E 'error:|warning:|lint: clang-tidy failed' "$out" | sort -u
	rc=1
fi
rm -f "$out"
[ $rc -eq 0 ] && echo "lint: clean"
exit $rc
