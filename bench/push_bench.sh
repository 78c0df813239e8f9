#!/bin/sh
# Blob push against OpenSSH's tools on the lab (8 hosts), one run, ratios:
#   1. one 64 MB blob to one host           shoal push  vs  scp
#   2. the same with `lab delay h1 25ms`    shoal push  vs  scp
#   3. 64 MB to 8 hosts                     shoal push  vs  parallel-scp (pssh)
#   4. 64 MB to 8 hosts, 25 ms delay each   shoal push  vs  8 scp one after another
#   5. re-push of an unchanged image (node-images/redis.cfg, built
#      beforehand) to 8 hosts (goal: under 100 ms); also of the 64 MB file,
#      which shoal hashes again on every push
# Every figure is the best of $PUSH_BENCH_RUNS (default 3) runs; each shoal run
# pushes a blob the hosts do not hold yet (fresh bytes), each scp run writes a
# new file.  Uses the release build ($SHOAL_RELEASE) and lab $SHOAL_LAB_ID
# (default 0), which it brings up and takes down.
#   sh bench/push_bench.sh        (root)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
lab=$top/tests/lab/lab
shoal=${SHOAL_RELEASE:-$top/build}/shoal
id=${SHOAL_LAB_ID:-0}
runs=${PUSH_BENCH_RUNS:-3}
n=8
labdir=/var/tmp/shoal-lab/$id
work=$(mktemp -d /tmp/shoal-push-bench.XXXXXX)
export SHOAL_DATA=$top SHOAL_HOME=$work/home

[ "$(id -u)" -eq 0 ] || { echo "push_bench: needs root" >&2; exit 1; }
[ -x "$shoal" ] || { echo "push_bench: no $shoal (make all)" >&2; exit 1; }
command -v parallel-scp >/dev/null || { echo "push_bench: parallel-scp missing (pssh)" >&2; exit 1; }

cleanup() {
	"$lab" down >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
"$lab" down >/dev/null
"$lab" up $n >/dev/null

now_ms() { date +%s%3N; }
hosts=$(seq -f 'h%g' -s ' ' 1 $n)
: >"$work/hosts.txt"
for h in $hosts; do echo "$h" >>"$work/hosts.txt"; done
{
	echo 'name = "push-bench";'
	echo "ssh = { user = \"root\"; identity = \"$labdir/keys/id_ed25519\"; known_hosts = \"$labdir/known_hosts\"; };"
	echo 'hosts = ('
	sep=
	for h in $hosts; do
		printf '%s  { name = "%s"; address = "%s"; cpus = 2; memory = "2G"; }\n' \
			"$sep" "$h" "$("$lab" addr "$h")"
		sep=,
	done
	echo ');'
	echo 'services = ( { name = "cache"; template = "redis"; nodes = 6;'
	echo '  ports = { base = 7000; }; resources = { memory = "64M"; cpus = 0.1; }; } );'
} >"$work/spec.cfg"
ssh_cfg=$labdir/ssh_config
"$shoal" -q hosts "$work/spec.cfg" >/dev/null   # installs the agent everywhere

# fresh: a 64 MB file no host holds yet.
fresh() {
	head -c 67108864 /dev/urandom >"$work/blob"
}

# best CMD...: run CMD $runs times (fresh bytes before each), print the best ms.
best() {
	b=
	for _ in $(seq 1 "$runs"); do
		fresh
		t0=$(now_ms)
		"$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; return 1; }
		t=$(($(now_ms) - t0))
		if [ -z "$b" ] || [ "$t" -lt "$b" ]; then b=$t; fi
	done
	echo "$b"
}

shoal_push() { "$shoal" -q push --hosts "$1" "$work/spec.cfg" "$work/blob"; }
scp_one() { scp -q -F "$ssh_cfg" "$work/blob" "$1:/var/lib/shoal/scp-bench"; }
scp_seq() { for h in $hosts; do scp_one "$h"; done; }
pscp_all() {
	parallel-scp -h "$work/hosts.txt" -p $n -x "-F $ssh_cfg" "$work/blob" /var/lib/shoal/scp-bench
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
report() { # name shoal_ms peer_ms peer_name goal
	echo "push_bench: $1: shoal $2 ms, $4 $3 ms, ratio $(ratio "$2" "$3") (goal <= $5)"
}
all=$(echo $hosts | tr ' ' ',')

s=$(best shoal_push h1); p=$(best scp_one h1)
report "64 MB to 1 host" "$s" "$p" scp 1.1
"$lab" delay h1 25ms >/dev/null
s=$(best shoal_push h1); p=$(best scp_one h1)
report "64 MB to 1 host, 25 ms delay" "$s" "$p" scp 1.1
"$lab" delay h1 off >/dev/null

s=$(best shoal_push "$all"); p=$(best pscp_all)
report "64 MB to $n hosts" "$s" "$p" parallel-scp 1.0

for h in $hosts; do "$lab" delay "$h" 25ms >/dev/null; done
s=$(best shoal_push "$all"); p=$(best scp_seq)
report "64 MB to $n hosts, 25 ms delay" "$s" "$p" "$n sequential scp" 0.3
for h in $hosts; do "$lab" delay "$h" off >/dev/null; done

# repush CMD...: run CMD once untimed, then $runs times; print the best ms.
repush() {
	"$@" >/dev/null
	b=
	for _ in $(seq 1 "$runs"); do
		t0=$(now_ms)
		"$@" >/dev/null
		t=$(($(now_ms) - t0))
		if [ -z "$b" ] || [ "$t" -lt "$b" ]; then b=$t; fi
	done
	echo "$b"
}
"$shoal" -q image build "$top/node-images/redis.cfg" >"$work/image.log" 2>&1 ||
	{ cat "$work/image.log" >&2; exit 1; }
image=redis:$(sed -n 's/^version = "\(.*\)";/\1/p' "$top/node-images/redis.cfg")
b=$(repush "$shoal" -q push --image "$image" --hosts "$all" "$work/spec.cfg")
echo "push_bench: re-push unchanged image $image to $n hosts: $b ms, ratio to the 100 ms goal $(ratio "$b" 100) (goal < 1)"
b=$(repush shoal_push "$all")
echo "push_bench: re-push unchanged 64 MB file to $n hosts (hashed again): $b ms"
