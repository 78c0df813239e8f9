#!/bin/sh
# Run shoal's tests and print one closing line "N passed, N failed[, N skipped]".
#
#   tests/run.sh                 unit tests, fuzz corpus replays, scenarios
#   tests/run.sh --unit          unit tests and fuzz replays only
#   tests/run.sh --scenarios [FILE...]   scenario tests only (all when none given)
#
# SHOAL_BUILD is the folder of the ASan build (shoal, shoal-agent, test/, fuzz/).
# Each unit binary and each scenario file runs under a time limit so that a
# hang fails that test instead of the whole run.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
: "${SHOAL_BUILD:=$top/build/asan}"
: "${SHOAL_RELEASE:=$top/build}"
export SHOAL_BUILD SHOAL_RELEASE SHOAL_TOP="$top"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
unit_limit=${UNIT_TIMEOUT:-300}
scen_limit=${SCENARIO_TIMEOUT:-900}

mode=all
case "${1:-}" in
--unit) mode=unit; shift ;;
--scenarios) mode=scenarios; shift ;;
esac

pass=0 fail=0 skip=0
failed_names=
log=$(mktemp -d /tmp/shoal-test.XXXXXX)

# Count TAP lines from file $1, under the name $2.
count_tap() {
	p=$(grep -cE '^ok [0-9]+' "$1" | tr -d ' ')
	s=$(grep -cE '^ok [0-9]+.*# (skip|SKIP)' "$1" | tr -d ' ')
	f=$(grep -cE '^not ok [0-9]+' "$1" | tr -d ' ')
	pass=$((pass + p - s)); skip=$((skip + s)); fail=$((fail + f))
	if [ "$f" -gt 0 ]; then
		failed_names="$failed_names
$(grep -E '^not ok' "$1" | sed "s|^|  $2: |")"
	fi
}

run_unit() {
	for t in "$SHOAL_BUILD"/test/test_*; do
		[ -x "$t" ] || continue
		n=$(basename "$t")
		out="$log/$n.tap"
		echo "== unit $n"
		CMOCKA_MESSAGE_OUTPUT=TAP timeout -k 5 "$unit_limit" "$t" >"$out" 2>"$log/$n.err"
		rc=$?
		cat "$out"
		count_tap "$out" "$n"
		# A crash or sanitizer report after the last TAP line still fails.
		if [ $rc -ne 0 ] && ! grep -q '^not ok' "$out"; then
			cat "$log/$n.err" >&2
			fail=$((fail + 1)); failed_names="$failed_names
  $n: exited with $rc"
		fi
	done
	for f in "$SHOAL_BUILD"/fuzz/fuzz_*; do
		[ -x "$f" ] || continue
		n=$(basename "$f")
		corpus="$top/tests/fuzz/corpus/$n"
		echo "== fuzz replay $n"
		if timeout -k 5 "$unit_limit" "$f" "$corpus" >"$log/$n.out" 2>&1; then
			pass=$((pass + 1)); echo "ok - $n corpus replay"
		else
			cat "$log/$n.out"
			fail=$((fail + 1)); failed_names="$failed_names
  $n: corpus replay failed"
		fi
	done
	echo "== lint"; if timeout -k 5 "${LINT_TIMEOUT:-1200}" "$top/tests/lint.sh" >"$log/lint.out" 2>&1; then pass=$((pass + 1)); echo "ok - lint (cppcheck, clang-tidy)"; else cat "$log/lint.out"; fail=$((fail + 1)); failed_names=$(printf '%s\n  %s' "$failed_names" "lint: tests/lint.sh found something (above)"); fi
}

run_scenarios() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "scenario tests need root (network namespaces); skipped" >&2
		skip=$((skip + 1))
		return
	fi
	files="$*"
	[ -n "$files" ] || files=$(ls "$top"/tests/scenarios/*.bats 2>/dev/null)
	for s in $files; do
		n=$(basename "$s" .bats)
		out="$log/$n.tap"
		echo "== scenario $n"
		timeout -k 10 "$scen_limit" bats --tap "$s" >"$out" 2>&1
		rc=$?
		cat "$out"
		count_tap "$out" "$n"
		if [ $rc -ne 0 ] && ! grep -q '^not ok' "$out"; then
			fail=$((fail + 1)); failed_names="$failed_names
  $n: bats exited with $rc (timeout or setup failure)"
		fi
	done
}

# Labs present before the run are someone else's; any lab the run leaves
# behind (a test that died before its teardown) is taken down at the end.
labs_now() { ls /var/tmp/shoal-lab 2>/dev/null | grep -E '^[0-9]+$' | sort; }
labs_before=$(labs_now)
reap_labs() {
	for id in $(labs_now); do
		echo "$labs_before" | grep -qx "$id" && continue
		echo "tests left lab $id up; taking it down" >&2
		SHOAL_LAB_ID=$id "$top/tests/lab/lab" down >/dev/null 2>&1
		fail=$((fail + 1)); failed_names="$failed_names
  lab $id: left up by a test"
	done
}

case $mode in
all) run_unit; run_scenarios; reap_labs ;;
unit) run_unit ;;
scenarios) run_scenarios "$@"; reap_labs ;;
esac

if [ -n "$failed_names" ]; then
	echo "failed:$failed_names"
	echo "logs: $log"
else
	rm -rf "$log"
fi
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
