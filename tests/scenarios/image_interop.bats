#!/usr/bin/env bats
# shoal images and the container ecosystem: skopeo and umoci read shoal's
# export; images made by umoci, and by skopeo as a docker-archive, import
# into shoal and unpack to the same files, file for file.

setup_file() {
	export SHOAL="${SHOAL_BUILD:-$BATS_TEST_DIRNAME/../../build/asan}/shoal"
	export TOP="$BATS_TEST_DIRNAME/../.."
	export WORK="$(mktemp -d /tmp/shoal-image-interop.XXXXXX)"
	export SHOAL_HOME="$WORK/store"
	"$SHOAL" image build "$TOP/node-images/busybox.cfg"
	# a small rootfs made by hand, packed by umoci
	mkdir -p "$WORK/src/etc" "$WORK/src/bin" "$WORK/src/var/empty"
	printf 'hello\n' > "$WORK/src/etc/hello"
	chmod 0640 "$WORK/src/etc/hello"
	cp /bin/busybox "$WORK/src/bin/busybox"
	ln -s busybox "$WORK/src/bin/sh"
	ln "$WORK/src/bin/busybox" "$WORK/src/bin/bb-hardlink"
	cd "$WORK"
	umoci init --layout ul
	umoci new --image ul:t1
	umoci unpack --image ul:t1 ubundle
	cp -a src/. ubundle/rootfs/
	umoci repack --image ul:t1 ubundle
}

teardown_file() {
	rm -rf "$WORK"
}

@test "image interop: skopeo inspects and umoci unpacks shoal's export" {
	"$SHOAL" image export busybox:1.35 "$WORK/bb.tar"
	mkdir "$WORK/bbl"
	tar -C "$WORK/bbl" -xf "$WORK/bb.tar"
	run skopeo inspect "oci:$WORK/bbl:1.35"
	[ "$status" -eq 0 ]
	want=$("$SHOAL" --json image inspect busybox:1.35 | jq -r .manifest)
	[ "$(echo "$output" | jq -r .Digest)" = "$want" ]
	cd "$WORK"
	umoci unpack --image "bbl:1.35" bbun
	[ -x bbun/rootfs/usr/bin/busybox ]
	[ "$(readlink bbun/rootfs/usr/bin/sh)" = busybox ]
	[ "$(readlink bbun/rootfs/bin)" = usr/bin ]
}

@test "image interop: an umoci image imports and unpacks file for file" {
	"$SHOAL" image import "$WORK/ul" --ref t1 --name fromumoci:t1
	"$SHOAL" image unpack fromumoci:t1 "$WORK/r-umoci"
	diff -r --no-dereference "$WORK/src" "$WORK/r-umoci"
	[ "$(stat -c %a "$WORK/r-umoci/etc/hello")" = 640 ]
	[ "$(stat -c %i "$WORK/r-umoci/bin/busybox")" = "$(stat -c %i "$WORK/r-umoci/bin/bb-hardlink")" ]
}

@test "image interop: a skopeo docker-archive imports and unpacks file for file" {
	skopeo copy "oci:$WORK/ul:t1" "docker-archive:$WORK/d.tar:x:t1"
	"$SHOAL" image import "$WORK/d.tar" --name fromdocker:t1
	"$SHOAL" image unpack fromdocker:t1 "$WORK/r-docker"
	diff -r --no-dereference "$WORK/src" "$WORK/r-docker"
}

@test "image interop: an OCI archive round trip keeps the manifest digest" {
	"$SHOAL" image export busybox:1.35 "$WORK/bb2.tar"
	"$SHOAL" image import "$WORK/bb2.tar" --name bbcopy:1
	a=$("$SHOAL" --json image inspect busybox:1.35 | jq -r .manifest)
	b=$("$SHOAL" --json image inspect bbcopy:1 | jq -r .manifest)
	[ "$a" = "$b" ]
	"$SHOAL" image ls | grep -q '^bbcopy '
	"$SHOAL" image rm bbcopy:1
	run "$SHOAL" image inspect bbcopy:1
	[ "$status" -eq 2 ]
	[[ "$output" == *"no image bbcopy:1"* ]]
}

@test "image interop: a recipe builds on a docker-archive base" {
	[ -f "$WORK/d.tar" ] || skopeo copy "oci:$WORK/ul:t1" "docker-archive:$WORK/d.tar:x:t1"
	printf 'on top\n' > "$WORK/top.txt"
	cat > "$WORK/ontop.cfg" <<CFG
name = "ontop";
version = "1";
from = "docker-archive:$WORK/d.tar";
files = ( { src = "top.txt"; dest = "/etc/top"; } );
entrypoint = ["/bin/sh"];
CFG
	"$SHOAL" image build "$WORK/ontop.cfg"
	[ "$("$SHOAL" --json image inspect ontop:1 | jq '.layers | length')" = 2 ]
	"$SHOAL" image unpack ontop:1 "$WORK/r-ontop"
	[ "$(cat "$WORK/r-ontop/etc/top")" = "on top" ]
	[ "$(cat "$WORK/r-ontop/etc/hello")" = hello ]
	chroot "$WORK/r-ontop" /bin/sh -c 'echo ok' | grep -qx ok
}
