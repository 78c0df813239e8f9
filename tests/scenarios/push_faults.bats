#!/usr/bin/env bats
# Faults during a push, each a clear error for that host only while the
# others complete; nothing half-written ever lands in blobs/sha256; running
# the push again finishes the job.

load '../lab/helpers'
load 'ssh_helpers'
bats_require_minimum_version 1.5.0

setup_file() {
	lab_setup 3
	export D="$BATS_FILE_TMPDIR"
	head -c 48000000 /dev/urandom >"$D/blob"
	export HEX=$(sha256sum "$D/blob" | cut -c1-64)
	lab_spec "$D/spec.cfg"
	shoal hosts --accept-new-host-keys "$D/spec.cfg" >/dev/null
	export LSAN_OPTIONS="suppressions=$BATS_TEST_DIRNAME/push_lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
}

teardown_file() {
	lab heal >/dev/null 2>&1 || true
	lab_teardown
}

teardown() {
	lab heal >/dev/null 2>&1 || true
	for h in $LAB_HOSTS; do
		lab delay "$h" off >/dev/null 2>&1 || true
		lab poweron "$h" >/dev/null 2>&1 || true
		lab_exec "$h" sh -c "umount /var/lib/shoal/blobs 2>/dev/null; rm -f /var/lib/shoal/blobs/sha256/$HEX" || true
	done
}

# wait_upload H: until an upload to H is in flight (a file in blobs/tmp).
wait_upload() {
	for _ in $(seq 1 600); do
		[ -n "$(lab_exec "$1" ls -A /var/lib/shoal/blobs/tmp 2>/dev/null)" ] && return 0
		sleep 0.05
	done
	return 1
}

# no_blob H: H holds no complete-looking copy of the blob.
no_blob() {
	run lab_exec "$1" test -e "$(blob_path "$HEX")"
	[ "$status" -ne 0 ]
}

# clean_exit FILE: the failed push left no sanitizer report (ASan builds).
clean_exit() {
	run grep -c -E 'Sanitizer|runtime error' "$1"
	[ "$output" = 0 ] || { cat "$1"; return 1; }
}

host_field() {
	echo "$output" | jq -r ".hosts[] | select(.name == \"$1\") | .$2"
}

@test "disk full on one host: that host fails with the cause, the others finish" {
	lab_exec h2 mkdir -p /var/lib/shoal/blobs
	lab_exec h2 mount -t tmpfs -o size=4m tmpfs /var/lib/shoal/blobs
	run --separate-stderr shoal --json push "$D/spec.cfg" "$D/blob"
	[ "$status" -eq 1 ]
	[ "$(host_field h1 ok)" = true ]
	[ "$(host_field h3 ok)" = true ]
	[ "$(host_field h2 ok)" = false ]
	[[ "$(host_field h2 error)" == *"h2 ($(lab_addr h2):22)"*"no space left on the host"* ]]
	no_blob h2
	[ -z "$(lab_exec h2 ls -A /var/lib/shoal/blobs/tmp)" ]

	lab_exec h2 umount /var/lib/shoal/blobs
	run --separate-stderr shoal --json push "$D/spec.cfg" "$D/blob"
	[ "$status" -eq 0 ]
	[ "$(host_field h2 sent)" -eq 1 ]
	[ "$(host_field h1 present)" -eq 1 ]
}

@test "host powered off mid-transfer: clear error, no blob; rerun finishes" {
	lab delay h2 100ms
	shoal --json push --timeout 5s "$D/spec.cfg" "$D/blob" >"$D/out" 2>"$D/err" &
	pid=$!
	wait_upload h2
	lab poweroff h2
	wait "$pid" || true
	clean_exit "$D/err"
	output=$(cat "$D/out")
	[ "$(host_field h1 ok)" = true ]
	[ "$(host_field h2 ok)" = false ]
	[[ "$(host_field h2 error)" == *"h2 ($(lab_addr h2):22)"* ]]
	lab poweron h2
	no_blob h2
	lab delay h2 off
	run --separate-stderr shoal --json push "$D/spec.cfg" "$D/blob"
	[ "$status" -eq 0 ]
	[ "$(host_field h2 sent)" -eq 1 ]
	[ "$(lab_exec h2 sha256sum "$(blob_path "$HEX")" | cut -c1-64)" = "$HEX" ]
}

@test "host cut off mid-transfer: times out with a clear error; rerun finishes" {
	lab delay h3 100ms
	shoal --json push --timeout 3s "$D/spec.cfg" "$D/blob" >"$D/out" 2>"$D/err" &
	pid=$!
	wait_upload h3
	# every packet h3 sends is dropped: the operator hears nothing more
	lab delay h3 100ms loss 100%
	wait "$pid" || true
	clean_exit "$D/err"
	output=$(cat "$D/out")
	[ "$(host_field h1 ok)" = true ]
	[ "$(host_field h3 ok)" = false ]
	[[ "$(host_field h3 error)" == *"h3 ($(lab_addr h3):22)"*"no answer within 3000 ms"* ]]
	no_blob h3
	lab delay h3 off
	run --separate-stderr shoal --json push "$D/spec.cfg" "$D/blob"
	[ "$status" -eq 0 ]
	[ "$(host_field h3 sent)" -eq 1 ]
}
