#!/bin/sh
# Run shoal's tests and print one closing line "N passed, N failed[, N skipped]".
#
#   tests/run.sh                 unit tests, fuzz corpus replays, scenarios
#   tests/run.sh --unit          unit tests and fuzz replays only
#   tests/run.sh --scenarios [FILE...]   scenario tests only (all when none given)
#
# The scenario files run in SHOAL_TEST_LANES lanes (default 2; 1 runs them
# one after another), longest first, each lane on its own lab: the ids in
# SHOAL_LAB_IDS (e.g. "2 3"), else as many ids as lanes counting up from
# SHOAL_LAB_ID (0..9, default 0).  Unit binaries run SHOAL_UNIT_JOBS at a
# time: by default one, beside the scenario lanes, or two with --unit.
# Every file's output is kept and printed whole, in name order, so the log
# reads the same whatever the lanes did.
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
scen_limit=${SCENARIO_TIMEOUT:-1800}

mode=all
case "${1:-}" in
--unit) mode=unit; shift ;;
--scenarios) mode=scenarios; shift ;;
esac

pass=0 fail=0 skip=0
failed_names= skipped_names=
log=$(mktemp -d /tmp/shoal-test.XXXXXX)

# cpu_now: "BUSY NICE TOTAL" clock ticks of the whole machine (/proc/stat's
# cpu line: busy is user, system, irq, softirq and steal; nice is the niced
# lint's share).  The run prints at its end how busy the cores were: with
# them busy all along, more lanes cannot make it end sooner.
cpu_now() {
	awk '$1 == "cpu" { print $2 + $4 + $7 + $8 + $9, $3, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}
cpu0=$(cpu_now)

# Count TAP lines from file $1, under the name $2.  A skip (bats
# "ok N ... # skip REASON", cmocka "not ok N # SKIP NAME" after its own
# "# skip reason: ..." line) counts as a skip, never as a pass or a failure.
count_tap() {
	p=$(grep -cE '^ok [0-9]+' "$1" | tr -d ' ')
	ps=$(grep -cE '^ok [0-9]+.*# (skip|SKIP)' "$1" | tr -d ' ')
	s=$(grep -cE '^(not )?ok [0-9]+.*# (skip|SKIP)' "$1" | tr -d ' ')
	f=$(grep -E '^not ok [0-9]+' "$1" | grep -cvE '# (skip|SKIP)' | tr -d ' ')
	pass=$((pass + p - ps)); skip=$((skip + s)); fail=$((fail + f))
	if [ "$f" -gt 0 ]; then
		failed_names="$failed_names
$(grep -E '^not ok' "$1" | grep -vE '# (skip|SKIP)' | sed "s|^|  $2: |")"
	fi
	if [ "$s" -gt 0 ]; then
		skipped_names="$skipped_names
$(grep -E '^(not )?ok [0-9]+.*# (skip|SKIP)|^# skip reason:' "$1" | sed "s|^|  $2: |")"
	fi
}

# took T0 NAME [LANE]: record the seconds since T0 that test file NAME took
# (and, with LANE, that lane LANE spent them on it).
took() {
	line=$(awk -v t0="$1" -v t1="$(date +%s.%N)" -v n="$2" 'BEGIN { printf "%.1f %s\n", t1 - t0, n }')
	# one short line per append: lanes appending at once do not mix them
	echo "$line" >>"$log/times"
	[ -z "${3:-}" ] || echo "$line" >>"$log/lane.$3"
}

# ---- lanes: jobs run side by side, reported one by one in name order -------
# A job is KIND PATH (KIND unit, fuzz or scen); its key K (the file's name
# without .bats) names its files in $log: K.tap/K.err/K.out (output), K.rc
# (exit status, written last: the job is done), claim.K (a lane took it).

# job_key KIND PATH / job_label KIND PATH: its key / its name in the times.
job_key() { basename "$2" .bats; }
job_label() { basename "$2"; }

# job_run KIND PATH K LANE: run one job (LANE: the lab id for scenarios).
job_run() {
	case $1 in
	unit) CMOCKA_MESSAGE_OUTPUT=TAP timeout -k 5 "$unit_limit" "$2" >"$log/$3.tap" 2>"$log/$3.err" ;;
	fuzz) timeout -k 5 "$unit_limit" "$2" "$top/tests/fuzz/corpus/$3" >"$log/$3.out" 2>&1 ;;
	scen) SHOAL_LAB_ID=$4 timeout -k 10 "$scen_limit" bats --tap --timing "$2" >"$log/$3.tap" 2>&1 ;;
	esac
}

# job_report KIND PATH K: print the job's output and count it (the parent).
job_report() {
	rc=$(cat "$log/$3.rc")
	case $1 in
	unit)
		echo "== unit $3"
		cat "$log/$3.tap"
		count_tap "$log/$3.tap" "$3"
		# A crash or sanitizer report after the last TAP line still fails.
		if [ "$rc" -ne 0 ] && ! grep -q '^not ok' "$log/$3.tap"; then
			cat "$log/$3.err" >&2
			fail=$((fail + 1)); failed_names="$failed_names
  $3: exited with $rc"
		fi ;;
	fuzz)
		echo "== fuzz replay $3"
		if [ "$rc" -eq 0 ]; then
			pass=$((pass + 1)); echo "ok - $3 corpus replay"
		else
			cat "$log/$3.out"
			fail=$((fail + 1)); failed_names="$failed_names
  $3: corpus replay failed"
		fi ;;
	scen)
		echo "== scenario $3"
		cat "$log/$3.tap"
		count_tap "$log/$3.tap" "$3"
		if [ "$rc" -ne 0 ] && ! grep -q '^not ok' "$log/$3.tap"; then
			fail=$((fail + 1)); failed_names="$failed_names
  $3: bats exited with $rc (timeout or setup failure)"
		fi ;;
	esac
}

# lane LANE QUEUE: take the next job of QUEUE (lines "KIND PATH", in the
# order to start them) that no lane took yet (mkdir is atomic), run it, and
# so on until none is left.
lane() {
	while read -r kind path; do
		k=$(job_key "$kind" "$path")
		mkdir "$log/claim.$k" 2>/dev/null || continue
		t0=$(date +%s.%N)
		job_run "$kind" "$path" "$k" "$1" </dev/null
		echo $? >"$log/$k.rc.part"
		took "$t0" "$(job_label "$kind" "$path")" "$1"
		mv "$log/$k.rc.part" "$log/$k.rc"
	done <"$2"
}

# expected seconds of each test file (tests/durations.txt, "SECONDS NAME"),
# 10 for a file it does not list.
durations=$here/durations.txt

# lanes_start SET LANES... < JOBS: start the jobs ("KIND PATH" lines, in
# name order) in one lane per LANES word, longest expected first (in name
# order with one lane); SET names this set of lanes for lanes_report.
lanes_start() {
	set_=$1; shift
	q=$log/queue.$set_
	cat >"$q.names"
	if [ $# -gt 1 ]; then
		while read -r kind path; do
			l=$(job_label "$kind" "$path")
			s=$(awk -v n="$l" '$2 == n { print $1; f = 1; exit } END { if (!f) print 10 }' "$durations" 2>/dev/null)
			echo "${s:-10} $kind $path"
		done <"$q.names" | sort -s -k1,1 -rn | cut -d' ' -f2- >"$q"
	else
		cp "$q.names" "$q"
	fi
	: >"$q.pids"
	for l in "$@"; do
		rm -f "$log/lane-done.$l"
		{ lane "$l" "$q"; : >"$log/lane-done.$l"; } </dev/null &
		echo "$!" >>"$q.pids"
	done
}

# lanes_report SET LANES...: report each job of SET in name order as soon as
# it and those before it are done, then wait for SET's lanes.
lanes_report() {
	set_=$1; shift
	q=$log/queue.$set_
	while read -r kind path; do
		k=$(job_key "$kind" "$path")
		until [ -e "$log/$k.rc" ]; do
			alive=
			for l in "$@"; do [ -e "$log/lane-done.$l" ] || alive=1; done
			[ -n "$alive" ] || [ -e "$log/$k.rc" ] || break
			sleep 0.5
		done
		if [ -e "$log/$k.rc" ]; then
			job_report "$kind" "$path" "$k"
		else
			fail=$((fail + 1)); failed_names="$failed_names
  $k: not run (its lane ended first)"
		fi
	done <"$q.names"
	# (these lanes only: a plain wait would wait for the lint too)
	for p in $(cat "$q.pids"); do wait "$p"; done
	rm -f "$q" "$q.names" "$q.pids"
}

# lane_totals WHAT PREFIX LANES...: with more than one lane, each lane's busy
# seconds and number of files, on one line.
lane_totals() {
	what=$1 prefix=$2; shift 2
	[ $# -gt 1 ] || return 0
	line=
	for l in "$@"; do
		line="$line $(awk -v l="$prefix$l" '{ s += $1; n++ } END { printf "%s %.0f s (%d files),", l, s, n }' "$log/lane.$l" 2>/dev/null)"
		rm -f "$log/lane.$l"
	done
	echo "$what lanes:${line%,}"
}

case ${SHOAL_UNIT_JOBS:-1} in
[1-9]) ;;
*) echo "tests/run.sh: SHOAL_UNIT_JOBS must be 1..9, not '$SHOAL_UNIT_JOBS'" >&2; exit 2 ;;
esac

# unit_start JOBS / unit_report JOBS: the layering check, then the unit
# binaries and fuzz replays, JOBS at a time.
unit_start() {
	t0=$(date +%s.%N)
	sh "$here/layers.sh" >"$log/layers.tap" 2>&1
	took "$t0" layers.sh
	# (lanes_start reads a file, not a pipe: in a pipeline it would run in a
	# subshell)
	for t in "$SHOAL_BUILD"/test/test_*; do
		[ -x "$t" ] && echo "unit $t"
	done >"$log/jobs.unit"
	for f in "$SHOAL_BUILD"/fuzz/fuzz_*; do
		[ -x "$f" ] && echo "fuzz $f"
	done >>"$log/jobs.unit"
	# shellcheck disable=SC2046 # lane names u1..uJOBS
	lanes_start unit $(seq -f 'u%g' "$1") <"$log/jobs.unit"
}

unit_report() {
	cat "$log/layers.tap"; count_tap "$log/layers.tap" layers.sh
	# shellcheck disable=SC2046
	lanes_report unit $(seq -f 'u%g' "$1")
	# shellcheck disable=SC2046
	lane_totals unit "" $(seq -f 'u%g' "$1")
}

# The lint (cppcheck, clang-tidy: minutes of CPU) needs no build and no lab:
# it runs in the background, niced, from the start of the unit tests to its
# end, while the tests run; lint_finish collects it.  LINT_JOBS files at a
# time: 1 by default when the scenarios follow (they keep a core and the lint
# ends long before them), every core for --unit.
lint_start() {
	(
		t0=$(date +%s.%N)
		LINT_JOBS=${LINT_JOBS:-$1} timeout -k 5 "${LINT_TIMEOUT:-3600}" \
			nice -n 10 "$top/tests/lint.sh" >"$log/lint.out" 2>&1
		echo $? >"$log/lint.rc"
		took "$t0" lint-in-background
	) </dev/null &
	lint_pid=$!
}

lint_finish() {
	echo "== lint (cppcheck, clang-tidy; ran in the background)"
	wait "$lint_pid"
	if [ "$(cat "$log/lint.rc" 2>/dev/null)" = 0 ]; then
		pass=$((pass + 1)); echo "ok - lint (cppcheck, clang-tidy)"
	else
		cat "$log/lint.out"
		fail=$((fail + 1)); failed_names="$failed_names
  lint: tests/lint.sh found something (above)"
	fi
}

# scen_start [FILE...] / scen_report: the scenario files, in lanes (none
# without root: one skip says so).
scen_start() {
	scen_root=yes
	if [ "$(id -u)" -ne 0 ]; then
		scen_root=
		return
	fi
	files="$*"
	[ -n "$files" ] || files=$(ls "$top"/tests/scenarios/*.bats 2>/dev/null)
	for s in $files; do echo "scen $s"; done >"$log/jobs.scen"
	# shellcheck disable=SC2086 # one word per lab id
	lanes_start scen $lab_ids <"$log/jobs.scen"
}

scen_report() {
	if [ -z "$scen_root" ]; then
		echo "scenario tests need root (network namespaces); skipped" >&2
		skip=$((skip + 1)); skipped_names="$skipped_names
  scenarios: not run, they need root (network namespaces)"
		return
	fi
	# shellcheck disable=SC2086
	lanes_report scen $lab_ids
	# shellcheck disable=SC2086
	lane_totals scenario "lab " $lab_ids
}

# Each scenario lane uses a lab of its own: lane i the i-th id of
# $SHOAL_LAB_IDS, else of SHOAL_LAB_ID (default 0) and the ids after it (the
# lab helpers read SHOAL_LAB_ID, which each lane sets).  Two runs on one
# machine need disjoint ids.  At the end the run takes down those labs if a
# test left one up; other labs on the machine (another run's, a demo) are
# not this run's to touch.
pick_lab_ids() {
	if [ -n "${SHOAL_LAB_IDS:-}" ]; then
		# shellcheck disable=SC2086 # one word per id
		set -- $SHOAL_LAB_IDS
	else
		set -- "${SHOAL_LAB_ID:-0}"
	fi
	lanes=${SHOAL_TEST_LANES:-}
	[ -n "${SHOAL_LAB_IDS:-}" ] && : "${lanes:=$#}"
	: "${lanes:=2}"
	case $lanes in
	[1-9]) ;;
	*) echo "tests/run.sh: SHOAL_TEST_LANES must be 1..9, not '$lanes'" >&2; exit 2 ;;
	esac
	if [ -z "${SHOAL_LAB_IDS:-}" ]; then
		case $1 in
		[0-9]) while [ $# -lt "$lanes" ] && [ $(($1 + $#)) -le 9 ]; do set -- "$@" $(($1 + $#)); done ;;
		esac
	fi
	lab_ids= n=0
	for id in "$@"; do
		case $id in
		[0-9]) ;;
		*) echo "tests/run.sh: a lab id is a digit 0..9, not '$id'" >&2; exit 2 ;;
		esac
		case " $lab_ids " in
		*" $id "*) echo "tests/run.sh: lab id $id given twice" >&2; exit 2 ;;
		esac
		[ "$n" -lt "$lanes" ] && lab_ids="$lab_ids $id" n=$((n + 1))
	done
	if [ "$n" -lt "$lanes" ]; then
		echo "tests/run.sh: $lanes lanes need $lanes lab ids, have:$lab_ids (SHOAL_LAB_IDS)" >&2
		exit 2
	fi
}
pick_lab_ids
reap_labs() {
	for id in $lab_ids; do
		[ -d "/var/tmp/shoal-lab/$id" ] || [ -e "/sys/class/net/shoal-br$id" ] || continue
		echo "tests left lab $id up; taking it down" >&2
		SHOAL_LAB_ID=$id "$top/tests/lab/lab" down >/dev/null 2>&1
		fail=$((fail + 1)); failed_names="$failed_names
  lab $id: left up by a test"
	done
}

# First: every program the sources run comes from a package deps/debian.txt
# lists (a missing one fails here by name, not as "command not found" later).
echo "== deps_check"
t0=$(date +%s.%N)
if sh "$here/deps_check.sh"; then
	pass=$((pass + 1)); echo "ok - deps_check"
else
	fail=$((fail + 1)); failed_names="$failed_names
  deps_check: a program's package is missing from deps/debian.txt"
fi
took "$t0" deps_check.sh

# With the scenarios to follow, the unit tests (CPU) run one at a time
# beside the scenario lanes (mostly waiting), and are printed first; alone,
# SHOAL_UNIT_JOBS at a time.
case $mode in
all)
	lint_start 1
	scen_start
	unit_start "${SHOAL_UNIT_JOBS:-1}"
	unit_report "${SHOAL_UNIT_JOBS:-1}"
	scen_report; reap_labs; lint_finish ;;
unit)
	lint_start "$(nproc)"
	unit_start "${SHOAL_UNIT_JOBS:-2}"; unit_report "${SHOAL_UNIT_JOBS:-2}"
	lint_finish ;;
scenarios) scen_start "$@"; scen_report; reap_labs ;;
esac

if [ -s "$log/times" ]; then
	echo "slowest test files (seconds):"
	sort -rn "$log/times" | head -n 10 | awk '{ printf "  %7.1f  %s\n", $1, $2 }'
	# bats --timing ends each result line "in Nms"
	echo "slowest scenario tests (seconds):"
	for t in "$log"/*.tap; do
		sed -nE "s|^(not )?ok [0-9]+ (.*) in ([0-9]+)ms.*|\3 $(basename "$t" .tap): \2|p" "$t"
	done | sort -rn | head -n 10 | awk '{ ms = $1; $1 = ""; printf "  %7.1f %s\n", ms / 1000, $0 }'
fi
# shellcheck disable=SC2086 # three numbers
set -- $cpu0 $(cpu_now)
tick=$(getconf CLK_TCK)
awk -v b="$(($4 - $1))" -v n="$(($5 - $2))" -v t="$(($6 - $3))" -v hz="$tick" -v c="$(nproc)" 'BEGIN {
	if (t <= 0) exit
	printf "cpu: %d cores, %.0f s of CPU used in %.0f s: tests %.0f%%, niced lint %.0f%%, idle %.0f%%\n",
		c, (b + n) / hz, t / hz / c, 100 * b / t, 100 * n / t, 100 * (t - b - n) / t }'
if [ "$skip" -gt 0 ]; then
	echo "skipped:$skipped_names"
	# CI runs as root with every package installed: a skip there is a bug.
	# The one exception is an input that lives outside the repository and
	# that no package provides (the vendored Riak sources): its tests skip
	# with a reason starting "outside input absent:", and CI=true lets those
	# stand (docs/testing.md).
	if [ "${CI:-}" = true ]; then
		outside=$(echo "$skipped_names" | grep -cE '^  .*ok [0-9]+.*# (skip|SKIP) outside input absent:' | tr -d ' ')
		bad=$((skip - outside))
		if [ "$bad" -gt 0 ]; then
			fail=$((fail + bad)); failed_names="$failed_names
  CI=true: $bad skipped tests count as failed (see skipped: above)"
		fi
	fi
fi
if [ -n "$failed_names" ]; then
	echo "failed:$failed_names"
	echo "logs: $log"
elif [ -n "${SHOAL_KEEP_LOG:-}" ]; then
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
