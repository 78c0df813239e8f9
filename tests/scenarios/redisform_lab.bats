#!/usr/bin/env bats
# Forming a Redis Cluster across lab hosts exactly as planned, and checking it
# from what Redis reports.  Each of 3 hosts runs redis-server nodes bound to its
# own address; bench/redis_form_driver (built here from the ASan libraries)
# drives deployer/lib/db/redis/redis_cluster: rc_form, rc_inspect + checks, the set
# check.  Independent checks use redis-cli.

load '../lab/helpers'

PASS=redisform-scenario-pass

setup_file() {
	local build=${SHOAL_BUILD:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build/asan}
	# built by `make asan` from bench/redis_form_driver.c
	export DRIVER="$build/bench/redis_form_driver" REDISCLI_AUTH=$PASS
	[ -x "$DRIVER" ]
	lab_setup 3
	for h in $LAB_HOSTS; do
		addr=$(lab_addr "$h")
		for port in 7000 7001 7100 7101; do
			lab_exec "$h" mkdir -p "/var/lib/shoal/redisform/$port"
			lab_exec "$h" redis-server --bind "$addr" --port "$port" \
				--dir "/var/lib/shoal/redisform/$port" --cluster-enabled yes \
				--cluster-node-timeout 2000 --requirepass "$PASS" --masterauth "$PASS" \
				--save '' --appendonly no --daemonize yes \
				--logfile "/var/lib/shoal/redisform/$port/log"
		done
	done
	for h in $LAB_HOSTS; do
		for port in 7000 7001 7100 7101; do
			for _ in $(seq 600); do
				[ "$(redis-cli -h "$(lab_addr "$h")" -p "$port" ping 2>/dev/null)" = PONG ] && break
				sleep 0.05
			done
		done
	done
	# Plan A: masters on h1 h2 h3 port 7000; replica j (port 7001) follows
	# master j from the next host.  Plan B (ports 7100/7101) puts each
	# replica on its master's host.
	export PLAN_A="$(lab_addr h1):7000 $(lab_addr h2):7000 $(lab_addr h3):7000 $(lab_addr h2):7001 $(lab_addr h3):7001 $(lab_addr h1):7001"
	export PLAN_B="$(lab_addr h1):7100 $(lab_addr h2):7100 $(lab_addr h3):7100 $(lab_addr h1):7101 $(lab_addr h2):7101 $(lab_addr h3):7101"
}

teardown_file() { lab_teardown; }

# Sum of the membership-changing command calls over plan A's nodes.
membership_calls() {
	local n=0 ep v
	for ep in $PLAN_A; do
		v=$(redis-cli -h "${ep%:*}" -p "${ep#*:}" info commandstats |
			awk -F'[=,:]' '/^cmdstat_cluster\|(meet|addslotsrange|addslots|replicate|set-config-epoch):/ {s += $3} END {print s + 0}')
		n=$((n + v))
	done
	echo "$n"
}

@test "3 masters + 3 replicas on 3 hosts: formed as planned, anti-affinity holds by CLUSTER NODES" {
	# shellcheck disable=SC2086
	run "$DRIVER" form 1 $PLAN_A
	[ "$status" -eq 0 ]
	# shellcheck disable=SC2086
	run "$DRIVER" check 1 $PLAN_A
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'slots: ok\nstate: ok\nroles: ok\nanti-affinity: ok')" ]

	# Independently, with redis-cli on h2's master: 6 nodes, 3 masters with
	# slots, every replica's master at another address and the planned one.
	nodes=$(redis-cli -h "$(lab_addr h2)" -p 7000 cluster nodes)
	[ "$(echo "$nodes" | wc -l)" -eq 6 ]
	[ "$(echo "$nodes" | awk '$3 ~ /master/ && NF >= 9' | wc -l)" -eq 3 ]
	echo "$nodes" | awk '
		{ split($2, a, "[:@]"); addr[$1] = a[1]; port[$1] = a[2]; master[$1] = $4; role[$1] = $3 }
		END {
			for (id in role) if (role[id] ~ /slave/) {
				if (addr[id] == addr[master[id]]) { print "same host: " id; exit 1 }
				if (port[id] != 7001 || port[master[id]] != 7000) { print "unplanned: " id; exit 1 }
			}
		}'
	# The plan: the replica on h2 follows the master on h1.
	h1_id=$(redis-cli -h "$(lab_addr h1)" -p 7000 cluster myid)
	redis-cli -h "$(lab_addr h2)" -p 7001 info replication | grep -q "master_host:$(lab_addr h1)"
	echo "$nodes" | grep " $(lab_addr h2):7001@" | grep -q " slave $h1_id "
	for h in $LAB_HOSTS; do
		redis-cli -h "$(lab_addr "$h")" -p 7000 cluster info | grep -q '^cluster_state:ok'
	done
}

@test "forming again changes nothing" {
	before=$(membership_calls)
	[ "$before" -gt 0 ] # the first formation was counted
	# shellcheck disable=SC2086
	run "$DRIVER" form 1 $PLAN_A
	[ "$status" -eq 0 ]
	[ "$(membership_calls)" -eq "$before" ]
}

@test "10,000 keys written through the cluster are all read back" {
	run "$DRIVER" keys 10000 "$(lab_addr h3):7001"
	[ "$status" -eq 0 ]
	[[ "$output" == "attempted 10000 acknowledged 10000 verified 10000 lost 0 "* ]]
	total=0
	for h in $LAB_HOSTS; do
		total=$((total + $(redis-cli -h "$(lab_addr "$h")" -p 7000 dbsize)))
	done
	[ "$total" -eq 10000 ]
}

@test "a replica on its master's host is reported by the anti-affinity check" {
	# shellcheck disable=SC2086
	run "$DRIVER" form 1 $PLAN_B
	[ "$status" -eq 0 ]
	# shellcheck disable=SC2086
	run "$DRIVER" check 1 $PLAN_B
	[ "$status" -eq 1 ]
	[[ "$output" == *"roles: ok"* ]]
	[[ "$output" == *"anti-affinity: node-"*" and its master node-"*" share the address 10.213."* ]]
}
