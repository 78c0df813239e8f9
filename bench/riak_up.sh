#!/bin/sh
# riak_up.sh - time from "go" to a settled 5-node Riak KV 3.2.1 ring (one
# node per host, ring_size 16, leveled, n_val 3) on a fresh lab of 5 bare
# hosts, two ways in the same run:
#
#   (s) shoal    `shoal up SPEC` of cluster-specs/lab-riak.cfg (rewritten for
#                the lab id); the image (node-images/riak.cfg) is built
#                beforehand into the same SHOAL_HOME (untimed; the source
#                build comes from ~/.cache/shoal/builds).  Inside the timed
#                run: agents and the image blob reach the hosts, five nodes
#                start, and the Riak driver joins, plans, commits and waits
#                until every node prints the settled ring.
#   (h) by hand  what an operator's script does with OpenSSH (lab key,
#                strict known_hosts), every host at once: pipe the release
#                (the image's /usr/lib/riak with ERTS, /usr/sbin/riak and
#                /etc/riak, as a tar.zst made beforehand, untimed) into `tar
#                -x` under /var/lib/shoal/riak-hand (the host's own disk),
#                relocate its absolute paths with sed, write riak.conf (the
#                keys templates/riak renders: node name, cookie, listeners,
#                handoff, distribution range, ring_size, backend) and
#                advanced.config's vnode_inactivity_timeout, `riak
#                chkconfig` and `riak daemon`; wait for /ping (curl); then
#                `riak admin wait-for-service riak_kv` on every node at
#                once, `cluster join riak@H1` on h2..h5 one after the other, `cluster plan` + `cluster commit` on h1 (again while
#                Riak says to), and poll member-status on all five nodes at
#                once, every second, until the finish line.
#
# The finish line, both sides: every node's `riak admin member-status` shows
# the 5 nodes valid, nothing pending, shares one partition apart at most
# (what the driver waits for; the tally line Valid:5 / Leaving:0 / ...).
# (s) stops when `shoal up` returns, once the bench has read member-status
# in all five nodes (shoal exec; those reads are untimed when the first
# round passes, else the clock runs until one does).  (h) stops when its
# own poll round sees it on all five.
#
# Prints both times, s/h against the goal (<= 0.8x), and shoal's phases as
# its -v output showed them (time-stamped by this script).  Always cleans up
# (trap): shoal down --purge, the hand-made nodes stopped, lab down.
#
#   SHOAL_LAB_ID=6 bench/riak_up.sh      (needs root; lab id default 0)
#   RIAK_UP_LOGS=DIR                     keep every command's output there
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
rel=${SHOAL_RELEASE:-$top/build}
shoal=$rel/shoal
lab_id=${SHOAL_LAB_ID:-0}
export SHOAL_LAB_ID="$lab_id"
nhosts=5
hd=/var/lib/shoal/riak-hand # the hand-made node's folder on each host

die() {
	echo "riak_up: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (the lab)"
for t in ssh tar zstd curl timeout awk; do
	command -v "$t" >/dev/null || die "$t is needed"
done
if [ ! -x "$shoal" ] || [ ! -x "$rel/shoal-agent" ]; then
	die "$shoal and shoal-agent are needed (make all)"
fi

lab() { "$top/tests/lab/lab" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f s", ms / 1000 }'; }

work=$(mktemp -d /tmp/shoal-bench-riak-up.XXXXXX) || die "mktemp"
export SHOAL_STATE_DIR="$work/state" SHOAL_HOME="$work/home"
spec=$work/lab-riak.cfg
lab_dir=/var/tmp/shoal-lab/$lab_id
identity=$lab_dir/keys/id_ed25519
known_hosts=$lab_dir/known_hosts
cookie=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
shoal_used=0
hand_used=0
lab_used=0

# lab_ssh ADDR CMD...: ssh to a lab host, 300 s at most.
lab_ssh() {
	a=$1
	shift
	timeout -k 5 300 ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$known_hosts" -o GlobalKnownHostsFile=/dev/null \
		-o IdentitiesOnly=yes -o IdentityFile="$identity" \
		-o ConnectTimeout=5 -o LogLevel=ERROR "root@$a" -- "$@"
}

# ---- cleanup, whatever happened ---------------------------------------------
cleanup() {
	trap - EXIT INT TERM HUP
	# a timed command still running (its process group)
	if [ -f "$work/cmd.pid" ]; then
		kill -TERM "$(cat "$work/cmd.pid")" 2>/dev/null
		sleep 1
	fi
	if [ $shoal_used -eq 1 ]; then
		timeout 120 "$shoal" down --purge "$spec" >"$work/down.log" 2>&1 ||
			{ echo "riak_up: shoal down --purge failed:" >&2; cat "$work/down.log" >&2; }
	fi
	if [ $hand_used -eq 1 ]; then
		for a in $addrs; do
			lab_ssh "$a" "timeout 60 $hd/usr/sbin/riak stop; pkill -f '^$hd/'; true" \
				</dev/null >/dev/null 2>&1 &
		done
		wait
	fi
	[ $lab_used -eq 1 ] && lab down >/dev/null
	if [ -n "${RIAK_UP_LOGS:-}" ]; then
		mkdir -p "$RIAK_UP_LOGS" && cp "$work"/*.log "$RIAK_UP_LOGS"/ 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- untimed preparation ------------------------------------------------------
mkdir "$work/bin" || die "mkdir"
cp "$shoal" "$rel/shoal-agent" "$work/bin/" || die "copy of the binaries"
shoal=$work/bin/shoal
load0=$(cut -d' ' -f1-3 /proc/loadavg)
lab_used=1
lab down >/dev/null 2>&1
lab up $nhosts >"$work/lab.log" 2>&1 || { cat "$work/lab.log" >&2; die "lab up $nhosts failed"; }
addrs=
for i in $(seq 1 $nhosts); do
	addrs="$addrs $(lab addr "h$i")" || die "lab addr h$i"
done
a1=$(lab addr h1) || die "lab addr h1"
sed -e "s|10\.213\.0\.|10.213.$lab_id.|g" -e "s|/var/tmp/shoal-lab/0/|$lab_dir/|g" \
	"$top/cluster-specs/lab-riak.cfg" >"$spec"
t0=$(now_ms)
"$shoal" image build "$top/node-images/riak.cfg" >"$work/image.log" 2>&1 ||
	{ cat "$work/image.log" >&2; die "shoal image build failed"; }
image_ms=$(($(now_ms) - t0))
# The operator's release: the same files as the image's, as one tar.zst.
"$shoal" -q image unpack riak:3.2.1 "$work/rootfs" >"$work/unpack.log" 2>&1 ||
	{ cat "$work/unpack.log" >&2; die "shoal image unpack failed"; }
tar -C "$work/rootfs" -cf - usr/lib/riak usr/sbin/riak etc/riak | zstd -q -T0 -3 >"$work/riak.tar.zst" ||
	die "the release tarball"
rm -rf "$work/rootfs"

# settled FILE: FILE (a member-status) shows the 5 nodes valid, nothing
# pending, shares one partition (100/16 %) apart at most.
settled() {
	awk -v n=$nhosts '
		/^valid +[0-9.]+% +-- +.?riak@/ { v++; p = $2 + 0; if (v == 1 || p < lo) lo = p; if (p > hi) hi = p }
		/Valid:[0-9]+ \/ Leaving:0 \/ Exiting:0 \/ Joining:0 \/ Down:0/ { t = $0 }
		END { exit !(v == n && t ~ ("Valid:" n " ") && hi - lo <= 100 / 16 + 0.2) }' "$1"
}

# ---- (s) shoal up ---------------------------------------------------------------
# Each line of its output with the seconds since the start.
stamp() {
	while IFS= read -r line; do
		printf '%s %s\n' "$(($(now_ms) - $1))" "$line"
	done
}
shoal_used=1
t0=$(now_ms)
{
	timeout -k 10 1800 "$shoal" -v up --accept-new-host-keys "$spec" 2>&1 &
	echo $! >"$work/cmd.pid"
	wait $!
	echo "exit $?"
} | stamp "$t0" >"$work/up.log"
rm -f "$work/cmd.pid"
t1=$(now_ms)
grep -q ' exit 0$' "$work/up.log" || { tail -n 40 "$work/up.log" >&2; die "shoal up failed"; }
s_ms=$((t1 - t0))
rounds=0
while :; do
	ok=1
	for k in $(seq 0 $((nhosts - 1))); do
		timeout 120 "$shoal" exec "$spec" "kv-$k" -- /usr/sbin/riak admin member-status \
			>"$work/s-ms-$k.log" 2>&1 </dev/null
		settled "$work/s-ms-$k.log" || { ok=0 && break; }
	done
	rounds=$((rounds + 1))
	[ $ok -eq 1 ] && break
	[ $rounds -lt 300 ] || { cat "$work/s-ms-$k.log" >&2; die "shoal's ring never settled"; }
	sleep 1
done
[ $rounds -gt 1 ] && s_ms=$(($(now_ms) - t0))
s_rounds=$rounds
cp "$work/s-ms-0.log" "$work/s-member-status.log"
timeout 300 "$shoal" down --purge "$spec" >"$work/down.log" 2>&1 ||
	{ cat "$work/down.log" >&2; die "shoal down --purge failed"; }
shoal_used=0

# ---- (h) by hand over OpenSSH -----------------------------------------------------
# node.sh ADDR COOKIE, run by sh on the host: relocate, riak.conf, start.
cat >"$work/node.sh" <<'NODE'
set -e
D=/var/lib/shoal/riak-hand A=$1 C=$2
cd "$D"
sed -i -e "s|/usr/lib/riak|$D/usr/lib/riak|g" -e "s|/etc/riak|$D/etc/riak|g" \
	-e "s|/var/lib/riak|$D/data|g" -e "s|/var/log/riak|$D/log|g" \
	usr/sbin/riak usr/lib/riak/bin/riak usr/lib/riak/bin/riak-admin \
	usr/lib/riak/bin/cf_config usr/lib/riak/bin/riak-chkconfig \
	usr/lib/riak/bin/hooks/riak_not_running etc/riak/advanced.config
# the vnode idle time cluster-specs/lab-riak.cfg gives shoal's nodes
# (templates/riak/advanced.config.tmpl)
sed -i '/{riak_core,/{n;s/\[/[\n   {vnode_inactivity_timeout, 2000},/}' etc/riak/advanced.config
grep -q 'vnode_inactivity_timeout, 2000' etc/riak/advanced.config
cat >etc/riak/riak.conf <<CONF
nodename = riak@$A
distributed_cookie = $C
ring_size = 16
storage_backend = leveled
# the hand-off pace cluster-specs/lab-riak.cfg gives shoal's nodes
transfer_limit = 8
vnode_management_timer = 1s
platform_bin_dir = $D/usr/lib/riak/bin
platform_data_dir = $D/data
platform_etc_dir = $D/etc/riak
platform_lib_dir = $D/usr/lib/riak/lib
platform_log_dir = $D/log
listener.http.internal = $A:8098
listener.protobuf.internal = $A:8087
handoff.ip = $A
handoff.port = 8099
erlang.distribution.interface = $A
erlang.distribution.port_range.minimum = 6000
erlang.distribution.port_range.maximum = 6019
logger.level = info
CONF
mkdir -p data log
# cuttlefish writes data/generated.conf: `riak daemon` takes the node name
# from there (else from the release's vm.args, and its start hook waits for
# a node of another name for ever)
usr/sbin/riak chkconfig >log/chkconfig.out 2>&1
ERL_EPMD_ADDRESS=$A ERL_EPMD_PORT=4369 usr/sbin/riak daemon </dev/null >log/daemon.out 2>&1
NODE
riak_h() { # ADDR WORDS...: riak WORDS on the hand-made node at ADDR
	a=$1
	shift
	lab_ssh "$a" "$hd/usr/sbin/riak" "$@" </dev/null
}
# one host's install and start
install_start() {
	lab_ssh "$1" "mkdir -p $hd && zstd -dcq | tar -C $hd -xf -" <"$work/riak.tar.zst" &&
		lab_ssh "$1" sh -s "$1" "$cookie" <"$work/node.sh"
}
# until riak_kv runs on ADDR (Riak's own wait answers once it does)
wait_kv() {
	n=0
	until riak_h "$1" admin wait-for-service riak_kv 2>&1 | grep -q 'riak_kv is up'; do
		n=$((n + 1))
		[ $n -lt 300 ] || return 1
		sleep 1
	done
}
hand_used=1
t0=$(now_ms)
for a in $addrs; do
	install_start "$a" >"$work/h-start-$a.log" 2>&1 &
done
wait
for a in $addrs; do
	n=0
	until [ "$(curl -s -m 2 "http://$a:8098/ping")" = OK ]; do
		n=$((n + 1))
		[ $n -lt 600 ] || { cat "$work/h-start-$a.log" >&2; die "(h) $a never answered /ping"; }
		sleep 0.2
	done
done
h_ping=$(($(now_ms) - t0))
for a in $addrs; do
	wait_kv "$a" >"$work/h-kv-$a.log" 2>&1 &
done
wait
for a in $addrs; do
	[ "$a" = "$a1" ] && continue
	riak_h "$a" admin cluster join "riak@$a1" >"$work/h-join-$a.log" 2>&1
	grep -q 'Success: staged join request' "$work/h-join-$a.log" ||
		{ cat "$work/h-join-$a.log" >&2; die "(h) cluster join on $a"; }
done
h_join=$(($(now_ms) - t0))
n=0
until riak_h "$a1" admin cluster plan >"$work/h-plan.log" 2>&1 &&
	grep -q 'Staged Changes' "$work/h-plan.log" &&
	riak_h "$a1" admin cluster commit >"$work/h-commit.log" 2>&1 &&
	grep -q 'Cluster changes committed' "$work/h-commit.log"; do
	n=$((n + 1))
	[ $n -lt 120 ] || { cat "$work/h-plan.log" "$work/h-commit.log" >&2; die "(h) plan/commit"; }
	sleep 1
done
h_commit=$(($(now_ms) - t0))
rounds=0
while :; do
	for a in $addrs; do
		riak_h "$a" admin member-status >"$work/h-ms-$a.log" 2>&1 &
	done
	wait
	ok=1
	for a in $addrs; do
		settled "$work/h-ms-$a.log" || ok=0
	done
	rounds=$((rounds + 1))
	[ $ok -eq 1 ] && break
	[ $rounds -lt 600 ] || { cat "$work/h-ms-$a1.log" >&2; die "(h) ring never settled"; }
	sleep 1
done
h_ms=$(($(now_ms) - t0))
cp "$work/h-ms-$a1.log" "$work/h-member-status.log"

# ---- report -----------------------------------------------------------------------
# at PATTERN: seconds into shoal up when its output first matched;
# at_last PATTERN: when it last did.
at() { awk -v pat="$1" '$0 ~ pat { printf "%.1f s", $1 / 1000; exit }' "$work/up.log"; }
at_last() { awk -v pat="$1" '$0 ~ pat { t = $1 } END { if (t != "") printf "%.1f s", t / 1000 }' "$work/up.log"; }
# the driver's riak commands (riak_cmd, debug): how many, and the longest
execs=$(grep -c 'riak_cmd: kv-' "$work/up.log")
vm_max=$(awk '/riak_cmd: kv-/ { v = $(NF - 1); sub(/^\(/, "", v); if (v + 0 > m) m = v + 0 } END { printf "%.1f s", m / 1000 }' "$work/up.log")
r=$(awk -v a="$s_ms" -v b="$h_ms" 'BEGIN { printf "%.2f", a / b }')
echo "shoal up vs by hand: 5-node Riak KV 3.2.1 ring (ring_size 16, leveled) on $nhosts bare lab hosts (lab $lab_id), until every node's member-status shows it settled"
echo "  (s) shoal up                           $(secs $s_ms)   (bench's member-status rounds after up returned: $s_rounds)"
echo "  (h) by hand: ssh + tar + riak daemon + join/plan/commit  $(secs $h_ms)"
echo "      all five /ping OK at $(secs $h_ping), joins staged at $(secs $h_join), committed at $(secs $h_commit), $rounds poll rounds"
echo "  s/h = ${r}x   goal <= 0.8x: $(awk -v r="$r" 'BEGIN { print (r <= 0.8) ? "met" : "NOT met" }')"
echo "  shoal up phases (time into the command when its -v output showed):"
echo "    plan printed (image + agents connected)  $(at 'Plan:')"
echo "    blobs pushed                             $(at 'blobs sent')"
echo "    nodes created, forming starts            $(at 'forming the cluster')"
echo "    riak_kv up and joins staged (all nodes)  $(at_last 'riak admin cluster join .*answered')"
echo "    plan + commit answered                   $(at_last 'riak admin cluster commit: answered')"
echo "    command returned (every node settled)    $(at 'is up:')   ($execs riak commands run in nodes, the longest $vm_max)"
echo "  image build (untimed, cached): $(secs $image_ms)"
echo "  load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
