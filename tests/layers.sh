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
# Usage: sh tests/layers.sh  (from anywhere; exits 1 when a check fails)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
echo "1..2"
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
# folder of a source file or header: common, spec, plan, image, transport,
# db, converge, monitor, cli, agent
folder_of() {
	case "$1" in
	deployer/lib/*) echo "$1" | sed 's|^deployer/lib/||; s|/.*||' ;;
	deployer/*) echo "$1" | sed 's|^deployer/||; s|/.*||' ;;
	esac
}
rank_of() {
	case "$1" in
	common) echo 0 ;; spec) echo 1 ;; plan) echo 2 ;;
	image | transport | db) echo 3 ;; converge) echo 4 ;; monitor | drill) echo 5 ;; cli) echo 6 ;;
	*) echo 9 ;;
	esac
}
headers=$(find deployer -name '*.h')
bad=
for f in $(find deployer/common deployer/lib deployer/cli -name '*.[ch]'); do
	from=$(folder_of "$f")
	rf=$(rank_of "$from")
	for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
		h=$(echo "$headers" | grep "/$inc\$" | head -n 1)
		[ -n "$h" ] || continue
		to=$(folder_of "$h")
		[ "$to" = "$from" ] && continue
		rt=$(rank_of "$to")
		if [ "$rt" -ge "$rf" ]; then
			bad="$bad
$f ($from) includes $inc ($to)"
		fi
	done
done
if [ -n "$bad" ]; then
	echo "not ok 2 #include edges against the layering"
	echo "$bad" | sed '/^$/d; s/^/# /'
	rc=1
else
	echo "ok 2 #include edges follow common <- spec <- plan <- image/transport/db <- converge <- monitor/drill <- cli"
fi
exit $rc
