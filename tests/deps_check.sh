#!/bin/sh
# deps_check.sh [DEPS_LIST] - every program shoal's scripts, tests, benches and
# C code run comes from a Debian package that DEPS_LIST (default
# deps/debian.txt) names, or from a package of Priority required, which
# every Debian system has.  Run first by tests/run.sh.
#
# The programs are found in the sources each time, so the check cannot go
# stale: words in command position in *.sh, *.bats, *.bash, tests/lab/lab and
# Makefile recipes (also after `command -v`, `timeout N`, `env`, `in_net H`,
# `lab_exec H`, `lab_ssh H`, `ip netns exec NS`), absolute /bin and /sbin paths
# in those files and in C, and the first string of C argv arrays and exec*()
# calls.  A word is a program when it resolves on PATH (plus /usr/sbin, /sbin)
# and is not a shell builtin or a function the scripts define; `dpkg -S` names
# its package.  A program named after `command -v` or a host wrapper that is
# not installed at all also fails: no listed package provides it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
list=${1:-$top/deps/debian.txt}
[ -r "$list" ] || { echo "deps_check: cannot read $list" >&2; exit 2; }
tmp=$(mktemp -d /tmp/shoal-deps.XXXXXX)
[ -n "${DEPS_KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT; [ -n "${DEPS_KEEP:-}" ] && echo "$tmp"

cd "$top" || exit 2
find . \( -path ./build -o -path ./.git \) -prune -o -type f \
	\( -name '*.sh' -o -name '*.bats' -o -name '*.bash' -o -name Makefile -o -path ./tests/lab/lab \) \
	-print | sed 's|^\./||' | grep -vxE 'tests/(deps_check.sh|scenarios/deps_check.bats)' | sort >"$tmp/shell"
find . \( -path ./build -o -path ./.git \) -prune -o -type f \( -name '*.c' -o -name '*.h' \) \
	-print | sed 's|^\./||' | sort >"$tmp/c"

# "WORD FILE STRENGTH" lines; strong words are named as programs for sure.
# shellcheck disable=SC2046
awk '
function out(k, strong) {
	sub(/^[@-]+/, "", k); gsub(/["\047]/, "", k)
	if (k ~ /^(\/usr)?\/s?bin\/[A-Za-z0-9._+-]+$/ || k ~ /^[a-z][a-z0-9._+-]*$/)
		print k, FILENAME, strong
}
function emit(seg,   n, w, i, k, strong) {
	gsub(/^[ \t]+/, "", seg)
	n = split(seg, w, /[ \t]+/)
	i = 1; strong = 0
	while (i <= n) {
		k = w[i]
		if (k ~ /^[A-Za-z_][A-Za-z0-9_]*=/ || k ~ /^(then|do|else|elif|if|while|until|!|time|exec|nohup|setsid|nice|xargs|env|sudo|run|-|@|@-|-@)$/) { i++; continue }
		if (k == "command" && w[i + 1] == "-v") { i += 2; strong = 1; continue }
		if (k == "command") { i++; continue }
		if (k == "timeout") { i++; while (i <= n && (w[i] ~ /^-/ || w[i] ~ /^[0-9.]+[smh]?$/)) i++; continue }
		if (k ~ /^(in_net|lab_exec|lab_ssh)$/) { i += 2; strong = 1; continue }
		if (k == "ip" && w[i + 1] == "netns" && w[i + 2] == "exec") { out("ip", 1); i += 4; strong = 1; continue }
		if (k ~ /^(nsenter|unshare|chroot)$/) { out(k, 1); i++; while (i <= n && w[i] ~ /^-/) i++; if (k == "chroot") i++; strong = 1; continue }
		break
	}
	if (i <= n) out(w[i], strong)
}
{
	line = $0
	if (FILENAME ~ /Makefile$/ && line !~ /^\t/) next
	p = line
	while (match(p, /\/(usr\/)?s?bin\/[A-Za-z0-9._+-]+/)) {
		w = substr(p, RSTART, RLENGTH); p = substr(p, RSTART + RLENGTH)
		if (w ~ /^\/(usr\/)?s?bin\/[a-z]/) print w, FILENAME, 0
	}
	sub(/^[ \t]+/, "", line)
	if (line ~ /^#/) next
	sub(/[ \t]#.*$/, "", line)
	gsub(/\$\(|`|\|\||&&|[|;({]|\<(then|do|else)\>/, "\n", line)
	m = split(line, seg, "\n")
	for (j = 1; j <= m; j++) emit(seg[j])
}' $(cat "$tmp/shell") >"$tmp/words"

# C: absolute program paths, and the first string of argv arrays / exec calls.
# shellcheck disable=SC2046
grep -HoE '"(/usr)?/s?bin/[a-z][A-Za-z0-9._+-]*"|(argv|args|cmd)[a-z_]*\[\] *= *\{ *"[a-z][a-z0-9._+-]*"|\(const char \*\[\]\) *\{ *"[^"]+"|exec(lp|vp|l|v) *\( *"[^"]+"' \
	$(cat "$tmp/c") /dev/null | sed -E 's/^([^:]*):.*"([^"]+)".*$/\2 \1 0/' >>"$tmp/words"

# Functions the scripts define are not programs.
# shellcheck disable=SC2046
grep -hoE '^[[:space:]]*(function[[:space:]]+)?[A-Za-z_][A-Za-z0-9_]*[[:space:]]*\(\)' $(cat "$tmp/shell") |
	sed -E 's/^[[:space:]]*(function[[:space:]]+)?//; s/[[:space:]]*\(\)//' | sort -u >"$tmp/funcs"

# One line per word: the first file naming it, strong when any use is.
sort -k1,1 -k3,3r "$tmp/words" | awk '$1 != last { print; last = $1 }' |
	awk -v ff="$tmp/funcs" 'BEGIN { while ((getline l <ff) > 0) f[l] = 1 } !($1 in f)' >"$tmp/cand"

# Resolve: builtins and keywords drop out; programs get a path.
# shellcheck disable=SC2016
PATH=$PATH:/usr/sbin:/sbin bash -c '
while read -r w file strong; do
	case $w in
	/*) [ -x "$w" ] && echo "$w $file $w" || { [ "$strong" = 1 ] && echo "$w $file -"; }; continue ;;
	esac
	case $(type -t "$w") in
	file) echo "$w $file $(type -P "$w")" ;;
	"") [ "$strong" = 1 ] && echo "$w $file -" ;;
	esac
done' <"$tmp/cand" >"$tmp/progs"

# Every path a package may have recorded it under (usr-merge, alternatives):
# "WORD PATH" lines, the program's own path first.  dpkg -S prints
# "pkg[:arch][, pkg2[:arch]]: path": the owners may hold colons (multi-arch
# "pkgconf:amd64"), the path is what follows the last ": /".
awk '$3 != "-"' "$tmp/progs" >"$tmp/p"
if [ -s "$tmp/p" ]; then
	# shellcheck disable=SC2046
	readlink -f $(cut -d' ' -f3 "$tmp/p") | paste -d' ' "$tmp/p" - |
		awk '{ n = split($3 " " $4, q, " ")
		  for (i = 1; i <= n; i++) { print $1, q[i]; print $1, "/usr" q[i]; s = q[i]; if (sub(/^\/usr/, "", s)) print $1, s } }' |
		grep -v ' /usr/usr/' >"$tmp/paths"
	# shellcheck disable=SC2046
	dpkg -S $(cut -d' ' -f2 "$tmp/paths" | sort -u) 2>/dev/null | grep -v '^diversion by' |
		sed -E 's/^(.*): (\/.*)$/\2 \1/; s/, /,/g' >"$tmp/owners"
else
	: >"$tmp/paths"; : >"$tmp/owners"
fi
dpkg-query -W -f='${Package} ${Priority}\n' >"$tmp/prio" 2>/dev/null
sed -e 's/#.*//' "$list" | tr -s ' \t' '\n\n' | grep -v '^$' | sort -u >"$tmp/listed"

# Only Priority required is on every Debian system (debootstrap --variant=
# minbase, mmdebstrap's default); "important" (nftables, iproute2, procps)
# is not on a minimal one, so those must be listed.
awk -v list="$list" '
FILENAME == ARGV[1] { listed[$1] = 1; next }
FILENAME == ARGV[2] { if ($2 == "required") req[$1] = 1; next }
FILENAME == ARGV[3] { own[$1] = $2; next }
FILENAME == ARGV[4] { if (!($1 in pkg) && ($2 in own)) pkg[$1] = own[$2]; next }
{
	w = $1; file = $2; p = $3; n++
	if (p == "-") {
		printf "deps_check: %s (run by %s) is not installed: no package in %s provides it (find one: apt-file search bin/%s)\n", w, file, list, w > "/dev/stderr"
		bad++; next
	}
	if (!(w in pkg)) {
		printf "deps_check: %s (run by %s) is %s, which no Debian package installed; install it from a package and list that in %s\n", w, file, p, list > "/dev/stderr"
		bad++; next
	}
	k = split(pkg[w], c, ","); ok = 0
	for (i = 1; i <= k; i++) { sub(/:.*/, "", c[i]); if ((c[i] in listed) || (c[i] in req)) ok = 1 }
	if (ok) next
	printf "deps_check: %s (run by %s, %s) comes from Debian package %s, which %s does not list\n", w, file, p, pkg[w], list > "/dev/stderr"
	bad++
}
END {
	if (bad) { printf "deps_check: %d of %d programs the sources run are not covered by %s\n", bad, n, list > "/dev/stderr"; exit 1 }
	printf "deps_check: all %d programs the sources run come from packages in %s or Priority required ones\n", n, list
}' "$tmp/listed" "$tmp/prio" "$tmp/owners" "$tmp/paths" "$tmp/progs"
