#!/usr/bin/env bats
# Scenario: lab-redis on 4 hosts where h4 is a spare (its own rack r4, no
# node placed on it while h1-h3 fit), `shoal monitor` with
# reschedule_after_s = 2 and a writer running.  `lab poweroff h2`: h2's
# nodes are recreated on other hosts (the spare among them), and Redis
# itself reports 3 masters + 3 replicas, every replica on another host than
# its master, cluster_state:ok with all 16384 slots, every key written
# before and every acknowledged write read back.  `lab poweron h2`: no
# node of the cluster runs twice, on any host, nor in CLUSTER NODES.

load 'monitor_helpers'

setup_file() {
	up_setup 4 cluster-specs/lab-redis.cfg || return
	sed -i 's/reschedule_after_s = [0-9]*;/reschedule_after_s = 2;/' "$SPEC"
	grep -q 'reschedule_after_s = 2;' "$SPEC"
	# up on h1-h3, then h4 joins the spec: a placement that fits is kept,
	# so h4 stays a spare until a host is gone
	monitor_cluster_up || return
	h4="  { name = \"h4\"; address = \"$(lab_addr h4)\"; rack = \"r4\"; cpus = 2; memory = \"2G\"; }"
	awk -v h4="$h4" '/name = "h3"/ { sub(/ }$/, " },"); print; print h4; next } { print }' \
		"$SPEC" >"$SPEC.4" && mv "$SPEC.4" "$SPEC"
	grep -q 'name = "h4"' "$SPEC"
	monitor_start || { monitor_stop; up_teardown; return 1; }
}

teardown_file() {
	monitor_teardown_file
}

# nodes_on HOST: ids of the nodes state.json records on HOST, sorted.
nodes_on() {
	"$SHOAL" status --json "$SPEC" 2>/dev/null |
		jq -r --arg h "$1" '.nodes[] | select(.host == $h) | .node' | sort
}

# running_on HOST: ids of the cluster's nodes HOST's agent runs.
running_on() {
	"$SHOAL" --json node --host "$SPEC:$1" ls lab-redis | jq -r '.nodes[] | select(.state == "running") | .node'
}

# h2_runs_none: h2's agent has no node of the cluster, no redis-server runs.
h2_runs_none() {
	local n
	n=$("$SHOAL" --json node --host "$SPEC:h2" ls lab-redis | jq '.nodes | length') || return
	[ "$n" -eq 0 ] && [ "$(lab_exec h2 pgrep -xc redis-server || true)" -eq 0 ]
}

@test "4 hosts, lab poweroff h2: its nodes are recreated elsewhere, every master has a replica on another host" {
	redis_auth
	[ -z "$(nodes_on h4)" ]             # the spare is empty before
	[ -n "$(nodes_on h2)" ]
	nodes_on h2 >"$BATS_FILE_TMPDIR/moved"
	keys_write "$(lab_addr h1)" 7000 1000
	driver="${SHOAL_BUILD:-$BATS_TEST_DIRNAME/../../build/asan}/bench/redis_form_driver"
	[ -x "$driver" ]
	seeds=$("$SHOAL" status --json "$SPEC" 2>/dev/null |
		jq -r '.nodes[] | select(.host != "h2") | "\(.address):\(.port)"')
	stop="$BATS_TEST_TMPDIR/stop"
	(
		while [ ! -f "$stop" ]; do
			for s in $seeds; do
				"$driver" keys 200 "$s" >>"$BATS_TEST_TMPDIR/keys" 2>>"$BATS_TEST_TMPDIR/keys.err" || true
			done
		done
	) &
	writer=$!
	sleep 1
	before=$(grep -c . "$BATS_TEST_TMPDIR/keys" 2>/dev/null || true)
	lab poweroff h2
	wait_for 180 has_event host-rescheduled
	touch "$stop"
	wait "$writer"
	a1=$(lab_addr h1)
	wait_for 60 cluster_ok "$a1" 7000
	cluster_nodes_check "$a1" 7000 3 3
	[ "$(rcli "$a1" 7000 cluster nodes | grep -c .)" -eq 6 ]
	[ "$(rcli "$a1" 7000 cluster nodes | grep -c "$(lab_addr h2):")" -eq 0 ]
	[ -z "$(nodes_on h2)" ]
	[ -n "$(nodes_on h4)" ]             # the spare took some
	[ "$(keys_read "$a1" 7000 1000)" -eq 1000 ]
	totals=$(awk '{ a += $2; k += $4; l += $8 } END { print a, k, l }' "$BATS_TEST_TMPDIR/keys")
	echo "attempted acknowledged lost: $totals"
	read -r attempted acked lost <<<"$totals"
	[ "$acked" -gt 0 ]
	# Redis acknowledges a write before its replica has it, so the one
	# batch in flight when h2 lost power may lose what h2's master had just
	# acknowledged (no WAIT: docs/monitor.md).  Every other batch - all
	# that finished before, and all written during the failover, the
	# rescheduling and after it - loses nothing.
	lossy=$(awk -v b="${before:-0}" '$8 > 0 { n++; if (NR <= b) early++ } END { print n + 0, early + 0 }' \
		"$BATS_TEST_TMPDIR/keys")
	echo "batches with a lost write, of them finished before the power-off: $lossy"
	[ "$lossy" = "0 0" ] || [ "$lossy" = "1 0" ]
}

@test "4 hosts, lab poweron h2: no node of the cluster runs twice anywhere" {
	[ -s "$BATS_FILE_TMPDIR/moved" ]
	redis_auth
	lab poweron h2
	wait_for 120 has_event node-fenced
	wait_for 60 h2_runs_none
	for h in h1 h2 h3 h4; do running_on "$h"; done | sort >"$BATS_TEST_TMPDIR/running"
	cat "$BATS_TEST_TMPDIR/running"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/running")" -eq 6 ]
	[ "$(sort -u "$BATS_TEST_TMPDIR/running" | wc -l)" -eq 6 ]
	a1=$(lab_addr h1)
	wait_for 60 cluster_ok "$a1" 7000
	cluster_nodes_check "$a1" 7000 3 3
	[ "$(rcli "$a1" 7000 cluster nodes | grep -c .)" -eq 6 ]
	[ "$(keys_read "$a1" 7000 1000)" -eq 1000 ]
}
