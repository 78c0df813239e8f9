#!/usr/bin/env bats
# shoal push: blobs land content addressed on every host, verified there;
# unchanged blobs are skipped; a blob damaged on a host after the push is
# found (by size at once, by content with --verify) and pushed again.

load '../lab/helpers'
load 'ssh_helpers'
bats_require_minimum_version 1.5.0

setup_file() {
	lab_setup 3
	export D="$BATS_FILE_TMPDIR"
	head -c 5000000 /dev/urandom >"$D/big"
	echo "small blob" >"$D/small"
	: >"$D/empty"
	lab_spec "$D/spec.cfg"
	shoal hosts --accept-new-host-keys "$D/spec.cfg" >/dev/null
}

teardown_file() {
	lab_teardown
}

hex() {
	sha256sum "$1" | cut -c1-64
}

@test "push writes every blob to every host, verified, nothing left behind" {
	run --separate-stderr shoal --json push "$D/spec.cfg" "$D/big" "$D/small" "$D/empty"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq '[.hosts[] | select(.ok and .sent == 3)] | length')" -eq 3 ]
	for h in $LAB_HOSTS; do
		for f in big small empty; do
			[ "$(lab_exec "$h" sha256sum "$(blob_path "$(hex "$D/$f")")" | cut -c1-64)" = "$(hex "$D/$f")" ]
		done
		[ -z "$(lab_exec "$h" ls -A /var/lib/shoal/blobs/tmp)" ]
	done
}

@test "re-push of unchanged blobs sends nothing" {
	run --separate-stderr shoal --json push "$D/spec.cfg" "$D/big" "$D/small" "$D/empty"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq '[.hosts[] | select(.ok and .sent == 0 and .present == 3)] | length')" -eq 3 ]
}

@test "a blob corrupted on a host is found by --verify and pushed again" {
	p=$(blob_path "$(hex "$D/big")")
	lab_exec h2 sh -c "printf X | dd of=$p bs=1 seek=1000 conv=notrunc status=none"
	[ "$(lab_exec h2 sha256sum "$p" | cut -c1-64)" != "$(hex "$D/big")" ]
	run --separate-stderr shoal --json push --verify "$D/spec.cfg" "$D/big"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.hosts[] | select(.name == "h2") | .repaired')" -eq 1 ]
	[ "$(echo "$output" | jq -r '.hosts[] | select(.name == "h1") | .sent')" -eq 0 ]
	[ "$(lab_exec h2 sha256sum "$p" | cut -c1-64)" = "$(hex "$D/big")" ]
}

@test "a truncated blob on a host is pushed again without --verify" {
	p=$(blob_path "$(hex "$D/big")")
	lab_exec h3 truncate -s 100 "$p"
	run --separate-stderr shoal --json push "$D/spec.cfg" "$D/big"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.hosts[] | select(.name == "h3") | .sent')" -eq 1 ]
	[ "$(lab_exec h3 sha256sum "$p" | cut -c1-64)" = "$(hex "$D/big")" ]
}

@test "push --image sends the image's manifest, config and layers" {
	export SHOAL_HOME="$BATS_TEST_TMPDIR/store"
	shoal image build "$SHOAL_TOP/node-images/busybox.cfg" >/dev/null
	run --separate-stderr shoal --json push --image busybox:1.35 --hosts h1 "$D/spec.cfg"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq '.blobs | length')" -eq 3 ]
	[ "$(echo "$output" | jq -r '.hosts[0].sent')" -eq 3 ]
	for d in $(echo "$output" | jq -r '.blobs[].digest'); do
		hex=${d#sha256:}
		[ "$(lab_exec h1 sha256sum "$(blob_path "$hex")" | cut -c1-64)" = "$hex" ]
	done
}
