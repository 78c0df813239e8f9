#!/usr/bin/env bats
# Scenario: a Redis service grows from 6 to 10 nodes (3 to 5 masters) and
# shrinks back while
# a writer keeps writing, with 100,000 keys loaded before.  The new masters
# get their share of the slots online (moved with MIGRATE, clients redirected
# by ASK/MOVED); on the way back the leaving masters' slots move to the
# others before they leave.  Checked from Redis itself (CLUSTER NODES: slots
# per master within 1 of even, so max/min <= 1.01, replicas apart from their masters) and from
# the keys: every key loaded and every write the writer saw acknowledged
# reads back with its value.  An `up` killed -9 in the middle of a move
# leaves it for the next `up` to finish, nothing lost.

load 'up_helpers'

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg
	export SPEC8="$BATS_FILE_TMPDIR/lab-redis-10.cfg"
	sed 's/nodes = 6;/nodes = 10;/' "$SPEC" >"$SPEC8"
	grep -q 'nodes = 10;' "$SPEC8"
	export W="$BATS_FILE_TMPDIR/acked"
}

teardown_file() {
	[ -e "$W" ] && touch "$W.stop"
	[ -n "${SPEC8:-}" ] && timeout 60 "$SHOAL" down --purge "$SPEC8" >/dev/null 2>&1
	up_teardown
}

# writer_start ADDR PORT: SET w:i v:i, one acknowledged write at a time,
# through the cluster (redis-cli -c follows MOVED and ASK) until $W.stop
# exists; each acknowledged i is appended to $W.
writer_start() {
	rm -f "$W" "$W.stop"
	: >"$W"
	(
		i=0
		while [ ! -e "$W.stop" ]; do
			i=$((i + 1))
			out=$(rcli "$1" "$2" -c SET "w:$i" "v:$i" 2>/dev/null) || true
			[ "$out" = OK ] && echo "$i" >>"$W"
		done
	) 3>&- &
	echo $! >"$W.pid"
}

# writer_acked: wait (60 s at most) until the writer saw a first write
# acknowledged, so that the change starts under writes; fails at once when
# the writer ended.
writer_acked() {
	local i
	for i in $(seq 600); do
		[ -s "$W" ] && return 0
		kill -0 "$(cat "$W.pid")" 2>/dev/null || { echo "the writer ended" >&2; return 1; }
		sleep 0.1
	done
	echo "no write acknowledged in 60 s" >&2
	return 1
}

writer_stop() {
	touch "$W.stop"
	wait "$(cat "$W.pid")" 2>/dev/null || true
}

# acked_lost ADDR PORT: how many acknowledged writes do not read back (each
# key has its own answer: keys_driver pairs each reply with its GET); the
# keys that do not are listed on stderr with their slot.
acked_lost() {
	"$KEYS_DRIVER" lost "$1" "$2" w: v: <"$W"
}

# slots_balanced ADDR PORT MASTERS: every master serves 16384/MASTERS slots,
# within 1, none outside that count; no slot open.
slots_balanced() {
	rcli "$1" "$2" cluster nodes | awk -v m="$3" '
		$3 ~ /master/ && $3 !~ /fail/ {
			n = 0
			for (i = 9; i <= NF; i++) {
				if ($i ~ /^\[/) { print "open slot: " $i; bad = 1; continue }
				k = split($i, r, "-"); n += (k == 2 ? r[2] - r[1] + 1 : 1)
			}
			if (n > 0) { c += 1; if (min == "" || n < min) min = n; if (n > max) max = n }
			print $1, n
		}
		END {
			if (c != m) { print "masters with slots: " c ", want " m; exit 1 }
			if (max - min > 1) { print "uneven: " min " .. " max; exit 1 }
			exit bad
		}'
}

# cluster_intact ADDR MASTERS: what every change here must leave - slots
# even over MASTERS masters, each with its replica on another host, all
# 100,000 loaded keys and every write the writer saw acknowledged read back.
cluster_intact() {
	run slots_balanced "$1" 7000 "$2"
	echo "$output"
	[ "$status" -eq 0 ]
	run cluster_nodes_check "$1" 7000 "$2" "$2"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(acked_lost "$1" 7000)" -eq 0 ]
	[ "$(keys_read "$1" 7000 100000)" -eq 100000 ]
}

@test "6 -> 10 nodes (3 -> 5 masters) under writes: the new masters get their share online, nothing lost" {
	run "$SHOAL" up --accept-new-host-keys "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	redis_auth
	a1=$(lab_addr h1)
	keys_write "$a1" 7000 100000
	[ "$(keys_read "$a1" 7000 100000)" -eq 100000 ]
	writer_start "$a1" 7000
	writer_acked
	run "$SHOAL" up "$SPEC8"
	echo "$output"
	writer_stop
	[ "$status" -eq 0 ]
	[[ "$output" == *"join cache-6 to cache"* ]]
	[[ "$output" == *"slots moved"* ]]
	[[ "$output" == *"is up: 10 nodes"* ]]
	echo "acknowledged writes: $(wc -l <"$W")"
	[ "$(wc -l <"$W")" -gt 0 ]
	cluster_intact "$a1" 5
	# converged: a second up moves nothing
	run "$SHOAL" up "$SPEC8"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 changes"* ]]
	[[ "$output" != *"slots moved"* ]]
}

@test "10 -> 6 nodes (5 -> 3 masters) under writes: the leaving masters' slots move first, nothing lost" {
	redis_auth
	a1=$(lab_addr h1)
	cp "$W" "$W.grow"
	writer_start "$a1" 7000
	writer_acked
	run "$SHOAL" up "$SPEC"
	echo "$output"
	writer_stop
	[ "$status" -eq 0 ]
	[[ "$output" == *"moving the data of the leaving nodes to the 3 remaining masters"* ]]
	[[ "$output" == *"4 nodes leaving the cluster"* ]]
	[[ "$output" == *"is up: 6 nodes"* ]]
	echo "acknowledged writes: $(wc -l <"$W")"
	[ "$(wc -l <"$W")" -gt 0 ]
	cluster_intact "$a1" 3
	# the writes acknowledged while growing are still there (w:i were
	# overwritten with the same values by the second writer for small i)
	cp "$W" "$W.shrink"
	cp "$W.grow" "$W"
	[ "$(acked_lost "$a1" 7000)" -eq 0 ]
}

@test "scale to 2 masters is refused (exit 2) and nothing changes" {
	run "$SHOAL" scale "$SPEC" cache=4
	echo "$output"
	[ "$status" -eq 2 ]
	grep -q '^ *nodes = 6;' "$SPEC"
	run "$SHOAL" status "$SPEC"
	echo "$output"
	[ "$(echo "$output" | grep -c ' running ')" -eq 6 ]
	redis_auth
	run slots_balanced "$(lab_addr h1)" 7000 3
	[ "$status" -eq 0 ]
}

# masters_with_slots ADDR PORT: how many masters serve slots, by CLUSTER
# NODES (a line with slots has 9 fields or more).
masters_with_slots() {
	rcli "$1" "$2" cluster nodes | awk '$3 ~ /master/ && NF >= 9 { n++ } END { print n + 0 }'
}

@test "an up killed -9 while slots move: the next up finishes the move, nothing lost" {
	redis_auth
	a1=$(lab_addr h1)
	log="$BATS_TEST_TMPDIR/up.log"
	"$SHOAL" up "$SPEC8" >"$log" 2>&1 &
	pid=$!
	# kill it once the first new master serves slots (the move under way)
	for _ in $(seq 2400); do
		[ "$(masters_with_slots "$a1" 7000)" -gt 3 ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" || true
	cat "$log"
	grep -q "moving [0-9]* slots between" "$log"
	# the premise: it died with the move unfinished
	run slots_balanced "$a1" 7000 5
	echo "$output"
	[ "$status" -ne 0 ] || { echo "the move had finished before the kill"; false; }
	run "$SHOAL" up "$SPEC8"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"slots moved"* ]]
	[[ "$output" == *"is up: 10 nodes"* ]]
	cluster_intact "$a1" 5
}
