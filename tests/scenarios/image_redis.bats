#!/usr/bin/env bats
# The Redis node image: built twice with the same manifest digest, at most
# 8.1 MB compressed, and its redis-server and redis-cli run from the unpacked
# rootfs (chroot, as the redis user) on a free loopback port.

setup_file() {
	export SHOAL="${SHOAL_BUILD:-$BATS_TEST_DIRNAME/../../build/asan}/shoal"
	export TOP="$BATS_TEST_DIRNAME/../.."
	export WORK="$(mktemp -d /tmp/shoal-image-redis.XXXXXX)"
	export SHOAL_HOME="$WORK/store"
}

teardown_file() {
	if [ -f "$WORK/redis.pid" ]; then
		kill "$(cat "$WORK/redis.pid")" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}

@test "image redis: two builds give the same manifest digest" {
	a=$("$SHOAL" --json image build "$TOP/node-images/redis.cfg" | jq -r .manifest)
	b=$(SHOAL_HOME="$WORK/store2" "$SHOAL" --json image build "$TOP/node-images/redis.cfg" | jq -r .manifest)
	echo "first $a second $b"
	[ -n "$a" ] && [ "$a" = "$b" ]
}

@test "image redis: at most 8.1 MB compressed" {
	size=$("$SHOAL" --json image inspect redis:7.0 | jq -r .size)
	echo "redis image: $size bytes compressed" >&3
	[ "$size" -le 8100000 ]
}

@test "image redis: a corrupt blob is refused, not used" {
	layer=$("$SHOAL" --json image inspect redis:7.0 | jq -r '.layers[0].digest')
	cp -a "$SHOAL_HOME" "$WORK/bad"
	printf 'X' | dd of="$WORK/bad/oci/blobs/sha256/${layer#sha256:}" bs=1 seek=4096 conv=notrunc status=none
	run env SHOAL_HOME="$WORK/bad" "$SHOAL" image unpack redis:7.0 "$WORK/never"
	[ "$status" -ne 0 ]
	[[ "$output" == *"is corrupt"* ]]
	[ ! -e "$WORK/never" ]
}

@test "image redis: redis-server and redis-cli run from the unpacked image" {
	"$SHOAL" image unpack redis:7.0 "$WORK/rootfs"
	[ "$(stat -c %u "$WORK/rootfs/data")" = 999 ]
	port=$(( 20000 + RANDOM % 20000 ))
	while ss -ltn | grep -q ":$port "; do port=$((port + 1)); done
	chroot --userspec=999:999 "$WORK/rootfs" /usr/bin/redis-server --bind 127.0.0.1 \
		--port "$port" --save '' --appendonly no --dir /data >"$WORK/redis.log" 2>&1 &
	echo $! > "$WORK/redis.pid"
	for i in $(seq 1 300); do
		out=$(chroot "$WORK/rootfs" /usr/bin/redis-cli -p "$port" ping 2>/dev/null) && break
		sleep 0.1
	done
	[ "$out" = PONG ]
	chroot "$WORK/rootfs" /usr/bin/redis-cli -p "$port" set k v
	[ "$(chroot "$WORK/rootfs" /usr/bin/redis-cli -p "$port" get k)" = v ]
	chroot "$WORK/rootfs" /usr/bin/redis-cli -p "$port" shutdown nosave || true
	wait "$(cat "$WORK/redis.pid")" || true
	rm -f "$WORK/redis.pid"
}
