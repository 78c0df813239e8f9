#!/usr/bin/env bats
# Scenario: the cluster state in a 3-member etcd on lab hosts (tests/lab/etcd,
# docs/ha.md).  The etcd store's unit test against it; two `shoal up` of the
# same spec from two working directories at once (one refuses naming the
# holder, the state is consistent afterwards, Redis agrees); a holder killed
# with -9 frees the lock when its lease runs out; one etcd member killed and
# `up` still works; `shoal state migrate` etcd -> file -> etcd byte for byte;
# the members restarted https-only with client certificates (made by
# openssl here): state.tls migrates, reads and runs `up` over TLS, a spec
# without a client certificate is refused by etcd.

load 'up_helpers'

ETCD_SCRIPT="$BATS_TEST_DIRNAME/../lab/etcd"

etcd_lab() {
	SHOAL_LAB_ID="$LAB_ID" "$ETCD_SCRIPT" "$@"
}

setup_file() {
	up_setup 3 cluster-specs/lab-redis.cfg
	etcd_lab up h1 h2 h3
	ETCD_ENDPOINTS=$(etcd_lab endpoints)
	export ETCD_ENDPOINTS
	printf 'state = { backend = "etcd"; endpoints = %s; store_secrets = true; lease_ttl = "3s"; timeout = "2s"; };\n' \
		"$(etcd_lab spec-endpoints)" >>"$SPEC"
	# the state lives in etcd: no working directory holds it
	unset SHOAL_STATE_DIR
	mkdir -p "$BATS_FILE_TMPDIR/op1" "$BATS_FILE_TMPDIR/op2"
}

teardown_file() {
	[ -n "${SPEC:-}" ] && (cd "$BATS_FILE_TMPDIR/op1" && timeout 60 "$SHOAL" down --purge "$SPEC" >/dev/null 2>&1)
	etcd_lab down
	up_teardown
}

# etcd_key KEY: the value of KEY in the lab etcd (empty when absent).
etcd_key() {
	ETCDCTL_API=3 etcdctl --endpoints="$ETCD_ENDPOINTS" --dial-timeout=2s get --print-value-only "$1"
}

# wait_until SECONDS PID CMD...: run CMD every 0.2 s until it succeeds; fail
# after SECONDS, or at once when process PID (0: none) has exited.
wait_until() {
	local deadline=$((SECONDS + $1)) pid=$2
	shift 2
	until "$@"; do
		if [ "$pid" != 0 ] && ! kill -0 "$pid" 2>/dev/null; then
			echo "wait_until: process $pid exited while waiting for: $*" >&2
			return 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "wait_until: gave up on: $*" >&2
			return 1
		fi
		sleep 0.2
	done
}

lock_held() { [ -n "$(etcd_key /shoal/lab-redis/lock)" ]; }
lock_free() { [ -z "$(etcd_key /shoal/lab-redis/lock)" ]; }

@test "the etcd store's unit test passes against the lab etcd (nothing skipped)" {
	run env SHOAL_TEST_ETCD="$ETCD_ENDPOINTS" "$SHOAL_BUILD/test/test_state_etcd"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"PASSED  ] 8 test(s)"* ]]
	[[ "$output" != *SKIPPED* ]]
}

@test "two ups from two working directories at once: one refuses naming the holder" {
	cd "$BATS_FILE_TMPDIR/op1"
	"$SHOAL" up --accept-new-host-keys "$SPEC" >"$BATS_FILE_TMPDIR/op1.out" 2>&1 &
	apid=$!
	wait_until 60 "$apid" lock_held
	etcd_key /shoal/lab-redis/lock | jq -e --argjson p "$apid" '.pid == $p and .command == "up"'

	cd "$BATS_FILE_TMPDIR/op2"
	run "$SHOAL" up --accept-new-host-keys "$SPEC"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cluster 'lab-redis' is locked by pid $apid on "* ]]
	[[ "$output" == *"running 'up'"* ]]
	[[ "$output" == *"etcd key /shoal/lab-redis/lock"* ]]

	astatus=0
	wait "$apid" || astatus=$?
	cat "$BATS_FILE_TMPDIR/op1.out"
	[ "$astatus" -eq 0 ]
	lock_free
	# neither working directory holds a state of its own
	[ ! -e "$BATS_FILE_TMPDIR/op1/.shoal/lab-redis/state.json" ]
	[ ! -e "$BATS_FILE_TMPDIR/op2/.shoal/lab-redis/state.json" ]
	# the state in etcd is whole and agrees with Redis
	run "$SHOAL" state show "$SPEC"
	[ "$status" -eq 0 ]
	jq -e '.cluster == "lab-redis" and (.nodes | length) == 6 and
		all(.nodes[]; .cluster_id != null and .image != null)' <<<"$output"
	redis_auth
	cluster_nodes_check "$(lab_addr h1)" 7000 3 3
	# from the second machine's directory, nothing is left to do
	run "$SHOAL" plan --detailed-exitcode "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	run "$SHOAL" --json events "$SPEC"
	[ "$(grep -c '"event":"up.done"' <<<"$output")" -ge 1 ]
}

@test "a holder killed with -9 frees the lock when its lease runs out" {
	cd "$BATS_FILE_TMPDIR/op1"
	# an up with nothing to do holds the lock for well under a second: it
	# is started again until it is seen holding it (each look is one
	# etcdctl), then killed while it does
	held=
	for _ in $(seq 1 20); do
		"$SHOAL" up "$SPEC" >/dev/null 2>&1 &
		kpid=$!
		until lock_held && held=1 || ! kill -0 "$kpid" 2>/dev/null; do :; done
		[ -n "$held" ] && break
		wait "$kpid" || true
	done
	[ -n "$held" ]
	kill -9 "$kpid"
	wait "$kpid" || true
	# the dead holder still holds it until its lease (3 s) runs out
	cd "$BATS_FILE_TMPDIR/op2"
	run "$SHOAL" up "$SPEC"
	if [ "$status" -ne 0 ]; then
		[[ "$output" == *"is locked by pid $kpid"* ]]
	fi
	wait_until 30 0 lock_free
	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 changes"* ]]
}

@test "one etcd member killed: up still works" {
	etcd_lab kill h1 # the first endpoint: clients move on to the next
	cd "$BATS_FILE_TMPDIR/op2"
	run "$SHOAL" up "$SPEC"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 changes"* ]]
	run "$SHOAL" state show "$SPEC"
	[ "$status" -eq 0 ]
	jq -e '(.nodes | length) == 6' <<<"$output"
	etcd_lab start h1
}

@test "state migrate etcd -> file -> etcd round-trips byte for byte" {
	cd "$BATS_FILE_TMPDIR/op1"
	"$SHOAL" state show "$SPEC" >"$BATS_FILE_TMPDIR/etcd.json"
	"$SHOAL" --json events "$SPEC" >"$BATS_FILE_TMPDIR/etcd.events"
	[ -s "$BATS_FILE_TMPDIR/etcd.json" ]

	run "$SHOAL" --json state migrate "$SPEC" --to file
	echo "$output"
	[ "$status" -eq 0 ]
	jq -e '.to == ".shoal/lab-redis/state.json" and .canonical_source' <<<"$output"
	cmp "$BATS_FILE_TMPDIR/etcd.json" .shoal/lab-redis/state.json
	cmp "$BATS_FILE_TMPDIR/etcd.events" .shoal/lab-redis/events.jsonl
	cmp .shoal/lab-redis/state.json <("$SHOAL" state show --from file "$SPEC")

	run "$SHOAL" state migrate "$SPEC" --to etcd
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"read back byte for byte"* ]]
	cmp "$BATS_FILE_TMPDIR/etcd.json" <("$SHOAL" state show "$SPEC")
	cmp "$BATS_FILE_TMPDIR/etcd.events" <("$SHOAL" --json events "$SPEC")
}

# tls_certs DIR: a CA, a server certificate for every member's address and
# a client certificate, made by openssl (EC P-256, one day).  The server
# certificate is good for client authentication too: etcd's JSON gateway
# dials its own gRPC server with it, and with --client-cert-auth it must
# pass (else every /v3 request is answered 503 "connection closed").
tls_certs() {
	local d=$1 san= h
	mkdir -p "$d"
	for h in h1 h2 h3; do san="$san${san:+,}IP:$(lab_addr "$h")"; done
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj /CN=shoal-test-ca -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
	for who in server client; do
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-subj "/CN=shoal-test-$who" -keyout "$d/$who.key" -out "$d/$who.csr" 2>/dev/null
	done
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-days 1 -out "$d/server.crt" \
		-extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san") 2>/dev/null
	openssl x509 -req -in "$d/client.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-days 1 -out "$d/client.crt" -extfile <(printf 'extendedKeyUsage=clientAuth\n') 2>/dev/null
	chmod 0600 "$d"/*.key
}

@test "etcd with TLS client certificates: state.tls talks https with a certificate; without one etcd refuses" {
	cd "$BATS_FILE_TMPDIR/op1"
	[ -s .shoal/lab-redis/state.json ] # the file store the test before wrote
	tls="$BATS_FILE_TMPDIR/tls"
	tls_certs "$tls"
	# the same 3 members, now https only and asking every client for a
	# certificate signed by the CA
	etcd_lab up --tls "$tls" h1 h2 h3
	[[ "$(etcd_lab endpoints)" == https://* ]]
	spec_tls="$BATS_FILE_TMPDIR/tls.cfg"
	sed '/^state = /d' "$SPEC" >"$spec_tls"
	printf 'state = { backend = "etcd"; endpoints = %s; store_secrets = true; lease_ttl = "3s"; timeout = "2s";\n  tls = { ca = "tls/ca.crt"; cert = "tls/client.crt"; key = "tls/client.key"; }; };\n' \
		"$(etcd_lab spec-endpoints)" >>"$spec_tls"
	run "$SHOAL" check "$spec_tls"
	echo "$output"
	[ "$status" -eq 0 ]
	# the record moves in over TLS and reads back byte for byte
	run "$SHOAL" state migrate "$spec_tls" --to etcd
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"read back byte for byte"* ]]
	cmp .shoal/lab-redis/state.json <("$SHOAL" state show "$spec_tls")
	# up takes the lock (and keeps its lease alive), reads and writes over TLS
	run "$SHOAL" up "$spec_tls"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 changes"* ]]
	# without a client certificate etcd refuses the connection
	sed 's/cert = "tls\/client.crt"; key = "tls\/client.key"; //' "$spec_tls" >"$BATS_FILE_TMPDIR/nocert.cfg"
	! grep -q client.crt "$BATS_FILE_TMPDIR/nocert.cfg"
	run "$SHOAL" state show "$BATS_FILE_TMPDIR/nocert.cfg"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *https://* ]]
	# a certificate without its key is bad usage, named
	sed 's/ key = "tls\/client.key";//' "$spec_tls" >"$BATS_FILE_TMPDIR/nokey.cfg"
	run "$SHOAL" state show "$BATS_FILE_TMPDIR/nokey.cfg"
	echo "$output"
	[ "$status" -eq 2 ]
	[[ "$output" == *state.tls.key* ]]
}
