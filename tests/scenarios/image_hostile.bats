#!/usr/bin/env bats
# Hostile archives given to `shoal image import`: unpacking stays inside the
# import folder, and a docker-archive whose layer is a symlink to a host file
# cannot make shoal read that file.

setup_file() {
	export SHOAL="${SHOAL_BUILD:-$BATS_TEST_DIRNAME/../../build/asan}/shoal"
	export WORK="$(mktemp -d /tmp/shoal-image-hostile.XXXXXX)"
	export SHOAL_HOME="$WORK/store"
	mkdir -p "$WORK/canary"
	echo canary > "$WORK/canary/secret"
	sha256sum "$WORK/canary/secret" > "$WORK/canary.sum"
}

teardown_file() {
	rm -rf "$WORK"
}

@test "image hostile: an archive with a symlink escape is rejected naming the entry" {
	mkdir -p "$WORK/h1"
	ln -s "$WORK/canary" "$WORK/h1/esc"
	tar -C "$WORK/h1" -cf "$WORK/h1.tar" esc
	printf 'pwned\n' > "$WORK/secret"
	tar -C "$WORK" -rf "$WORK/h1.tar" --transform 's,^secret$,esc/secret,' secret
	run "$SHOAL" image import "$WORK/h1.tar" --name evil:1
	[ "$status" -eq 2 ]
	[[ "$output" == *"entry 'esc/secret': parent 'esc' is a symlink"* ]]
	sha256sum -c "$WORK/canary.sum"
	[ -z "$(ls -A "$SHOAL_HOME/tmp")" ]
}

@test "image hostile: a docker-archive layer symlinked to a host file is not read" {
	mkdir -p "$WORK/h2"
	cd "$WORK/h2"
	echo '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' > config.json
	echo '[{"Config":"config.json","RepoTags":["x:1"],"Layers":["layer.tar"]}]' > manifest.json
	ln -s "$WORK/canary/secret" layer.tar
	tar -cf "$WORK/h2.tar" config.json manifest.json layer.tar
	run "$SHOAL" image import "$WORK/h2.tar" --name evil:2
	[ "$status" -ne 0 ]
	[[ "$output" == *"layer.tar"* ]]
	if grep -rl canary "$SHOAL_HOME/oci/blobs" 2>/dev/null; then false; fi
}
