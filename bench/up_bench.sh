#!/bin/sh
# up_bench.sh - time from "go" to a healthy 6-node Redis Cluster (3 masters +
# 3 replicas, 2 nodes per host) on a fresh lab of 3 hosts, three ways in the
# same run:
#
#   (s) shoal   `shoal up SPEC` of cluster-specs/lab-redis.cfg (rewritten for
#               the lab id), the image built beforehand into the same
#               SHOAL_HOME (untimed); agents and image blobs reach the fresh
#               hosts inside the timed run, as they would for a user
#   (a) by hand OpenSSH to every host at once (lab key, strict known_hosts)
#               starting 2 redis-server each (ports 7100/7101, the machine's
#               /usr/bin/redis-server, a folder per node under /var/tmp,
#               daemonize yes), a PING wait, then
#               `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`
#   (b) Ansible ansible-playbook bench/up/redis.yml: copy and unpack a tarball
#               of redis-server + redis-cli (made beforehand, untimed), start 2
#               nodes per host (ports 7200/7201), wait for the ports, the same
#               `redis-cli --cluster create`.  Ansible's defaults except forks
#               (= the host count) and strict host key checking.
#   (f) floor   Redis alone: 3 masters started on h1 and given their slots the
#               moment they answer; what Redis needs from start to ok (best
#               of 3).
#
# Every clock stops at the same finish line: this script's own poll (every
# 50 ms, redis-cli CLUSTER INFO) sees cluster_state:ok and
# cluster_slots_ok:16384 on all 6 nodes.  All three use requirepass/masterauth
# and cluster-node-timeout 2000.  Afterwards each cluster's CLUSTER NODES is
# checked (untimed): 3 masters, 3 replicas, no replica on its master's host.
# Also timed: a second `shoal up` (nothing to change; goal < 2 s).
#
# Prints the times, s/a and s/b against the goals (<= 0.5x, <= 0.2x) and
# whether they are met, and shoal's phases as seen in its own output.  Always
# cleans up: shoal down --purge, shuts the nodes it started, lab down.
#
#   SHOAL_LAB_ID=7 bench/up_bench.sh        (needs root; lab id default 0)
#   UP_BENCH_LOGS=DIR                       keep every command's output there
#                                           (up.log: shoal up, time-stamped)
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
rel=${SHOAL_RELEASE:-$top/build}
shoal=$rel/shoal
lab_id=${SHOAL_LAB_ID:-0}
export SHOAL_LAB_ID="$lab_id"
nhosts=3

die() {
	echo "up_bench: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (the lab)"
for t in redis-server redis-cli ansible-playbook ssh tar perl timeout; do
	command -v "$t" >/dev/null || die "$t is needed"
done
if [ ! -x "$shoal" ] || [ ! -x "$rel/shoal-agent" ]; then
	die "$shoal and shoal-agent are needed (make all)"
fi

lab() { "$top/tests/lab/lab" "$@"; }
# bgwait CMD...: run CMD in the background, its pid in $work/cmd.pid, and wait.
bgwait() {
	"$@" &
	echo $! >"$work/cmd.pid"
	wait $!
	rc=$?
	rm -f "$work/cmd.pid"
	return $rc
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { awk -v ms="$1" 'BEGIN { printf "%.2f s", ms / 1000 }'; }

work=$(mktemp -d /tmp/shoal-bench-up.XXXXXX) || die "mktemp"
# Node folders of (a) and (b): /var/tmp is the machine's, shared by the hosts.
hostdirs=$(mktemp -d /var/tmp/shoal-bench-up.XXXXXX) || die "mktemp"
export SHOAL_STATE_DIR="$work/state" SHOAL_HOME="$work/home"
spec=$work/lab-redis.cfg
lab_dir=/var/tmp/shoal-lab/$lab_id
identity=$lab_dir/keys/id_ed25519
known_hosts=$lab_dir/known_hosts
pass=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
shoal_used=0
lab_used=0
started= # "addr:port" of every (a)/(b) node started

# ---- cleanup, whatever happened ---------------------------------------------
# Long commands run through bgwait, so that a signal reaches the trap at once;
# cleanup stops the one still running (TERM, then KILL 10 s later through
# timeout -k) before it takes anything down.
cleanup() {
	trap - EXIT INT TERM HUP
	if [ -f "$work/cmd.pid" ]; then
		p=$(cat "$work/cmd.pid")
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null # our child: until it ends
		n=0                   # not our child (inside a pipeline): poll
		while kill -0 "$p" 2>/dev/null && [ $n -lt 150 ]; do
			sleep 0.1
			n=$((n + 1))
		done
	fi
	if [ $shoal_used -eq 1 ]; then
		timeout 60 "$shoal" down --purge "$spec" >"$work/down.log" 2>&1 ||
			{ echo "up_bench: shoal down --purge failed:" >&2; cat "$work/down.log" >&2; }
	fi
	for ep in $started; do
		REDISCLI_AUTH=$pass timeout 5 redis-cli --no-auth-warning -h "${ep%:*}" \
			-p "${ep#*:}" shutdown nosave >/dev/null 2>&1
	done
	# Ansible's ControlPersist masters (ssh -O exit on each control socket).
	if [ -d "$work/ansible/cp" ]; then
		find "$work/ansible/cp" -type s | while read -r sock; do
			ssh -n -o ControlPath="$sock" -O exit bench >/dev/null 2>&1
		done
	fi
	[ $lab_used -eq 1 ] && lab down >/dev/null
	if [ -n "${UP_BENCH_LOGS:-}" ]; then
		mkdir -p "$UP_BENCH_LOGS" && cp "$work"/*.log "$UP_BENCH_LOGS"/
	fi
	rm -rf "$work" "$hostdirs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- untimed preparation ------------------------------------------------------
# A copy of the binaries, so that a `make` running meanwhile cannot swap the
# agent between the two `up`s (shoal takes shoal-agent from its own folder).
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
sed -e "s|10\.213\.0\.|10.213.$lab_id.|g" -e "s|/var/tmp/shoal-lab/0/|$lab_dir/|g" \
	"$top/cluster-specs/lab-redis.cfg" >"$spec"
"$shoal" image build "$top/node-images/redis.cfg" >"$work/image.log" 2>&1 ||
	{ cat "$work/image.log" >&2; die "shoal image build failed"; }
tar -C /usr/bin -chzf "$work/redis.tar.gz" redis-server redis-cli ||
	die "tarball of redis-server and redis-cli failed"

# endpoints PORT1 PORT2: "addr:port" for every host and port, ports outer.
endpoints() {
	for p in "$@"; do
		for a in $addrs; do printf '%s:%s ' "$a" "$p"; done
	done
}

# wait_ok PASSWORD ENDPOINT...: until every node reports cluster_state:ok and
# all 16384 slots ok (poll every 50 ms, 60 s at most).
wait_ok() {
	pw=$1
	shift
	deadline=$(($(now_ms) + 60000))
	while :; do
		all=1
		for ep in "$@"; do
			info=$(REDISCLI_AUTH=$pw redis-cli --no-auth-warning -h "${ep%:*}" \
				-p "${ep#*:}" cluster info 2>/dev/null)
			case $info in
			*cluster_state:ok*cluster_slots_ok:16384*) ;;
			*) all=0 && break ;;
			esac
		done
		[ $all -eq 1 ] && return 0
		[ "$(now_ms)" -lt $deadline ] || {
			echo "up_bench: $ep not ok after 60 s:" >&2
			echo "$info" >&2
			return 1
		}
		sleep 0.05
	done
}

# check_nodes PASSWORD ENDPOINT: 3 masters, 3 replicas, every replica on
# another address than its master, as CLUSTER NODES reports it.  Untimed, and
# asked again for up to 10 s: a replica's new role reaches the other nodes by
# gossip, which can come after cluster_state:ok.
check_nodes() {
	n=0
	until shape "$@" >"$work/shape.log" 2>&1; do
		n=$((n + 1))
		[ $n -lt 100 ] || { cat "$work/shape.log" >&2; return 1; }
		sleep 0.1
	done
}

shape() {
	out=$(REDISCLI_AUTH=$1 redis-cli --no-auth-warning -h "${2%:*}" -p "${2#*:}" cluster nodes)
	echo "$out" | awk '
		{ split($2, a, ":"); addr[$1] = a[1]; role[$1] = $3; master[$1] = $4 }
		$3 ~ /master/ && $3 !~ /fail/ { m++ }
		$3 ~ /slave/ && $3 !~ /fail/ { r++ }
		END {
			bad = 0
			for (id in role)
				if (role[id] ~ /slave/ && addr[id] == addr[master[id]]) bad++
			if (m != 3 || r != 3 || bad) {
				printf "masters %d, replicas %d, replicas beside their master %d\n", m, r, bad
				exit 1
			}
		}' || { echo "$out" >&2; return 1; }
}

# Timestamps (seconds since the pipe opened) on every line of a command's output.
stamp() {
	perl -e 'use Time::HiRes qw(time); $| = 1; my $t0 = time;
		while (<STDIN>) { printf "%7.3f %s", time - $t0, $_ }'
}

# ---- (s) shoal up ---------------------------------------------------------------
shoal_used=1
t0=$(now_ms)
{
	timeout -k 10 300 "$shoal" up --accept-new-host-keys "$spec" 2>&1 &
	echo $! >"$work/cmd.pid"
	wait $!
	echo "exit $?"
} | stamp >"$work/up.log" &
wait $!
rm -f "$work/cmd.pid"
t1=$(now_ms)
grep -q ' exit 0$' "$work/up.log" || { cat "$work/up.log" >&2; die "shoal up failed"; }
eval "$("$shoal" env "$spec" cache)" || die "shoal env failed"
s_pass=$REDISCLI_AUTH
unset REDISCLI_AUTH
t2=$(now_ms)
# shellcheck disable=SC2046
wait_ok "$s_pass" $(endpoints 7000 7001) || die "shoal's cluster never reached ok"
t3=$(now_ms)
# The password look-up (shoal env) is the bench's own need, not shoal's work.
s_ms=$((t3 - t0 - (t2 - t1)))
check_nodes "$s_pass" "$(endpoints 7000 | cut -d' ' -f1)" || die "shoal's cluster: wrong shape"

t0=$(now_ms)
bgwait timeout -k 10 120 "$shoal" up "$spec" >"$work/up2.log" 2>&1 || { cat "$work/up2.log" >&2; die "second shoal up failed"; }
t1=$(now_ms)
s2_ms=$((t1 - t0))
s2_changes=$(grep -o '[0-9]* changes' "$work/up2.log" | head -n 1)

bgwait timeout -k 10 60 "$shoal" down --purge "$spec" >"$work/down.log" 2>&1 ||
	{ cat "$work/down.log" >&2; die "shoal down --purge failed"; }
shoal_used=0

# ---- (a) by hand over OpenSSH -----------------------------------------------------
lab_ssh() {
	ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$known_hosts" -o GlobalKnownHostsFile=/dev/null \
		-o IdentitiesOnly=yes -o IdentityFile="$identity" \
		-o ConnectTimeout=5 -o LogLevel=ERROR "root@$1" -- "$2"
}
mkdir "$hostdirs/a" || die "mkdir"
a_eps=$(endpoints 7100 7101)
started="$started $a_eps"
t0=$(now_ms)
for a in $addrs; do
	cmd=
	for p in 7100 7101; do
		d=$hostdirs/a/$a-$p
		cmd="$cmd mkdir $d && /usr/bin/redis-server --port $p --bind $a --dir $d"
		cmd="$cmd --cluster-enabled yes --cluster-node-timeout 2000 --daemonize yes"
		cmd="$cmd --pidfile $d/redis.pid --logfile $d/redis.log"
		cmd="$cmd --requirepass $pass --masterauth $pass &&"
	done
	lab_ssh "$a" "$cmd true" </dev/null >"$work/a-$a.log" 2>&1 &
done
wait || true
for ep in $a_eps; do
	n=0
	until [ "$(REDISCLI_AUTH=$pass redis-cli --no-auth-warning -h "${ep%:*}" -p "${ep#*:}" ping 2>/dev/null)" = PONG ]; do
		n=$((n + 1))
		[ $n -lt 1000 ] || { cat "$work"/a-*.log >&2; die "(a) node $ep did not start"; }
		sleep 0.01
	done
done
a_up=$(($(now_ms) - t0))
# shellcheck disable=SC2086
bgwait env REDISCLI_AUTH="$pass" timeout -k 10 120 redis-cli --no-auth-warning --cluster create $a_eps \
	--cluster-replicas 1 --cluster-yes >"$work/a-create.log" 2>&1 ||
	{ cat "$work/a-create.log" >&2; die "(a) redis-cli --cluster create failed"; }
a_created=$(($(now_ms) - t0))
# shellcheck disable=SC2086
wait_ok "$pass" $a_eps || die "(a) cluster never reached ok"
t1=$(now_ms)
a_ms=$((t1 - t0))
check_nodes "$pass" "${a_eps%% *}" || die "(a) cluster: wrong shape"

# ---- (b) Ansible ------------------------------------------------------------------
mkdir -p "$hostdirs/b" "$work/ansible" || die "mkdir"
{
	echo "[redis]"
	i=1
	for a in $addrs; do
		echo "h$i ansible_host=$a"
		i=$((i + 1))
	done
	echo "[redis:vars]"
	echo "ansible_user=root"
	echo "ansible_ssh_private_key_file=$identity"
	echo "ansible_ssh_common_args='-o UserKnownHostsFile=$known_hosts -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes'"
} >"$work/inventory"
printf '[defaults]\nforks = %d\nhost_key_checking = True\n' $nhosts >"$work/ansible.cfg"
b_eps=$(endpoints 7200 7201)
eps_json=$(for ep in $b_eps; do printf '"%s",' "$ep"; done)
printf '{"tarball": "%s", "base": "%s", "ports": [7200, 7201], "endpoints": [%s], "password": "%s"}\n' \
	"$work/redis.tar.gz" "$hostdirs/b" "${eps_json%,}" "$pass" >"$work/vars.json"
started="$started $b_eps"
t0=$(now_ms)
bgwait env ANSIBLE_CONFIG="$work/ansible.cfg" ANSIBLE_HOME="$work/ansible" \
	ANSIBLE_HOST_KEY_CHECKING=True timeout -k 10 300 ansible-playbook -i "$work/inventory" -e "@$work/vars.json" "$here/up/redis.yml" \
	>"$work/ansible.log" 2>&1 || { cat "$work/ansible.log" >&2; die "(b) ansible-playbook failed"; }
b_play=$(($(now_ms) - t0))
# shellcheck disable=SC2086
wait_ok "$pass" $b_eps || die "(b) cluster never reached ok"
t1=$(now_ms)
b_ms=$((t1 - t0))
check_nodes "$pass" "${b_eps%% *}" || die "(b) cluster: wrong shape"

# ---- (f) the floor: Redis alone ----------------------------------------------------
# Three masters started on h1 and given their slots the moment they answer, no
# shipping, no replicas: the time Redis itself needs from process start to
# cluster_state:ok on all three (its CLUSTER_WRITABLE_DELAY, 2 s after start,
# and the rejoin delay, cluster-node-timeout after the slots arrive).  The
# same config as (a).  No tool can get a fresh cluster to ok faster.
f_addr=$(lab addr h1)
cat >"$hostdirs/floor.sh" <<'FLOOR'
set -u
dir=$1 addr=$2 pass=$3
now() { echo $(($(date +%s%N) / 1000000)); }
t0=$(now)
for p in 7400 7401 7402; do
	mkdir -p "$dir/$p"
	redis-server --bind "$addr" --port $p --dir "$dir/$p" --cluster-enabled yes \
		--cluster-node-timeout 2000 --requirepass "$pass" --masterauth "$pass" \
		--save '' --appendonly no --daemonize yes --logfile "$dir/$p/log" || exit 1
done
c() { REDISCLI_AUTH=$pass redis-cli --no-auth-warning -h "$addr" -p "$@"; }
for p in 7400 7401 7402; do
	until c $p ping 2>/dev/null | grep -q PONG; do sleep 0.01; done
done
c 7400 cluster meet "$addr" 7401 >/dev/null
c 7400 cluster meet "$addr" 7402 >/dev/null
c 7400 cluster addslotsrange 0 5460 >/dev/null
c 7401 cluster addslotsrange 5461 10922 >/dev/null
c 7402 cluster addslotsrange 10923 16383 >/dev/null
t1=$(now)
n=0
until [ "$(for p in 7400 7401 7402; do c $p cluster info; done | grep -c 'cluster_state:ok')" = 3 ]; do
	sleep 0.02
	n=$((n + 1))
	[ $n -gt 1500 ] && break
done
t2=$(now)
for p in 7400 7401 7402; do c $p shutdown nosave >/dev/null 2>&1; done
echo "$((t2 - t0)) $((t1 - t0))"
FLOOR
started="$started $f_addr:7400 $f_addr:7401 $f_addr:7402"
f_ms= # best of 3
for k in 1 2 3; do
	floor=$(lab exec h1 sh "$hostdirs/floor.sh" "$hostdirs/f$k" "$f_addr" "$pass") ||
		die "(f) the floor run failed"
	if [ -z "$f_ms" ] || [ "${floor% *}" -lt "$f_ms" ]; then
		f_ms=${floor% *}
		f_slots=${floor#* }
	fi
done

# ---- report -----------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
met() { awk -v r="$1" -v g="$2" 'BEGIN { print (r <= g) ? "met" : "NOT met" }'; }
# at LOG PATTERN: seconds into a shoal up when its output first matched.
at() { awk -v pat="$2" '$0 ~ pat { printf "%.2f s", $1; exit }' "$1"; }
# phases LOG: shoal up's phases, as its output showed them.
phases() {
	echo "    plan printed (image + agents connected)  $(at "$1" 'Plan:')"
	echo "    blobs pushed                             $(at "$1" 'blobs sent')"
	echo "    nodes created and ready                  $(at "$1" 'forming the cluster')"
	echo "    cluster formed, command returned         $(at "$1" 'is up:')"
}

echo "shoal up vs by hand vs Ansible: 6 Redis nodes (3 masters + 3 replicas) on $nhosts fresh lab hosts (lab $lab_id), until cluster_state:ok on every node"
echo "  (s) shoal up                          $(secs $s_ms)"
echo "  (a) by hand: ssh + redis-cli --cluster $(secs $a_ms)   (nodes answered at $(secs $a_up), create returned at $(secs $a_created))"
echo "  (b) ansible-playbook (forks=$nhosts)         $(secs $b_ms)   (playbook returned at $(secs $b_play))"
r=$(ratio $s_ms $a_ms)
echo "  s/a = ${r}x   goal <= 0.5x: $(met "$r" 0.5)"
r=$(ratio $s_ms $b_ms)
echo "  s/b = ${r}x   goal <= 0.2x: $(met "$r" 0.2)"
echo "  second shoal up (${s2_changes:-changes not reported}): $(secs $s2_ms)   goal < 2 s: $([ $s2_ms -lt 2000 ] && echo met || echo NOT met)"
echo "  shoal up phases (time into the command when its output showed):"
phases "$work/up.log"
echo "  (f) floor, Redis alone: 3 masters started on h1 and given their slots at"
echo "      once ($(secs $f_slots) after start) reach ok $(secs $f_ms) after start"
echo "      (Redis holds a new master out of ok for 2 s after it starts, and for"
echo "      cluster-node-timeout after its slots arrive); so 0.5x of (a) would be"
echo "      $(secs $((a_ms / 2))), under the floor.  Above the floor: shoal $(secs $((s_ms - f_ms))),"
echo "      by hand $(secs $((a_ms - f_ms))), Ansible $(secs $((b_ms - f_ms)))"
echo "  load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
