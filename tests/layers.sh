#!/bin/sh
# tests/layers.sh - the shape of deployer/lib, checked (TAP on stdout).
#
#   1. No database is named outside deployer/lib/db/: `rc_` and `redis` may
#      appear elsewhere only in comments, in the spec key table's examples
#      (documentation) and in the names of probe protocols.
#   2. #include edges between folders follow the layering
#         common <- spec <- plan <- image, transport, db <- converge <- monitor, drill <- cli
#      (a folder includes only from folders below it; image, transport and
#      db do not include each other, nor do monitor and drill), so no include cycle crosses folders.
#   3. Sizes a reader can hold: no .c file under deployer/ over 1,200
#      lines, no function over 120 (from its opening brace at column 0 to
#      its closing one).
# Usage: sh tests/layers.sh  (from anywhere; exits 1 when a check fails)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
echo "1..3"
rc=0

# ---- 1. database words -------------------------------------------------------
# Lines with a match, less comment lines (" * ...", "/* ... */", "// ...",
# or a trailing /* comment holding the match), key-table examples and the
# probe protocol names.
words=$(grep -rn 'rc_\|redis' deployer/lib --include='*.c' --include='*.h' |
	grep -v '^deployer/lib/db/' |
	grep -v '^[^:]*:[0-9]*:[[:space:]]*\(\*\|/\*\|//\)' |
	grep -v '^[^:]*:[0-9]*:[^"]*/\*.*\(rc_\|redis\)' |
	grep -v '^[^:]*:[0-9]*:[[:space:]]*\.example = ' |
	grep -v '^deployer/lib/spec/probe_kind\.c:.*case PROBE_REDIS: return "redis";' |
	grep -v '^deployer/lib/spec/template\.c:.*\(redis, tcp, http\|(redis, tcp, http, cql)\|database kind: redis, cassandra, riak\)')
if [ -n "$words" ]; then
	echo "not ok 1 a database is named outside deployer/lib/db/"
	echo "$words" | sed 's/^/# /'
	rc=1
else
	echo "ok 1 no database is named outside deployer/lib/db/"
fi

# ---- 2. include edges --------------------------------------------------------
# One awk over every file (a shell loop forking sed/grep per #include took
# 15 CPU-seconds).  The folder of a source file or header: common, spec,
# plan, image, transport, db, converge, monitor, drill, cli, agent; an include names
# the first header of that name under deployer/ (find order); includes of
# other headers (system, libraries) are not edges.
hdrs=$(mktemp)
find deployer -name '*.h' >"$hdrs"
bad=$(find deployer/common deployer/lib deployer/cli -name '*.[ch]' | xargs awk -v hdrs="$hdrs" '
	function folder_of(p) {
		if (index(p, "deployer/lib/") == 1) p = substr(p, 14)
		else if (index(p, "deployer/") == 1) p = substr(p, 10)
		else return ""
		sub("/.*", "", p)
		return p
	}
	function rank_of(d) {
		if (d == "common") return 0
		if (d == "spec") return 1
		if (d == "plan") return 2
		if (d == "image" || d == "transport" || d == "db") return 3
		if (d == "converge") return 4
		if (d == "monitor" || d == "drill") return 5
		if (d == "cli") return 6
		return 9
	}
	BEGIN { while ((getline h < hdrs) > 0) hdr[nh++] = h }
	/^#include "[^"]*"/ {
		inc = $0
		sub(/^#include "/, "", inc)
		sub(/".*/, "", inc)
		to = ""
		for (k = 0; k < nh; k++) {
			t = "/" inc
			if (length(hdr[k]) >= length(t) && substr(hdr[k], length(hdr[k]) - length(t) + 1) == t) {
				to = folder_of(hdr[k])
				break
			}
		}
		if (k == nh) next
		from = folder_of(FILENAME)
		if (to == from) next
		if (rank_of(to) >= rank_of(from))
			print FILENAME " (" from ") includes " inc " (" to ")"
	}')
rm -f "$hdrs"
if [ -n "$bad" ]; then
	echo "not ok 2 #include edges against the layering"
	echo "$bad" | sed '/^$/d; s/^/# /'
	rc=1
else
	echo "ok 2 #include edges follow common <- spec <- plan <- image/transport/db <- converge <- monitor/drill <- cli"
fi

# ---- 3. sizes ----------------------------------------------------------------
# A function is the lines from a "{" alone at column 0 (the style puts a
# function's brace there and nothing else) to the next "}" at column 0; its
# name is the last line before the brace that starts at column 0.
big=$(find deployer -name '*.c' | sort | xargs awk '
	FNR == 1 { if (prev != "" && prevn > 1200) print prev ": " prevn " lines (at most 1,200)"
		   start = 0; head = "" }
	{ prev = FILENAME; prevn = FNR }
	/^[A-Za-z_]/ && !start { head = $0 }
	/^\{$/ && head != "" { start = FNR; name = head; next }
	/^}/ && start { if (FNR - start - 1 > 120)
				print FILENAME ":" start ": " FNR - start - 1 " lines in " name " (at most 120)"
			start = 0; head = "" }
	END { if (prevn > 1200) print prev ": " prevn " lines (at most 1,200)" }')
if [ -n "$big" ]; then
	echo "not ok 3 files and functions a reader can hold"
	echo "$big" | sed 's/^/# /'
	rc=1
else
	echo "ok 3 no .c file over 1,200 lines, no function over 120"
fi
exit $rc
