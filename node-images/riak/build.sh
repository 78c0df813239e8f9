#!/bin/bash
# Build Riak KV 3.2.1 from source archives into a relx release (with ERTS).
#
# Run by `shoal image build node-images/riak.cfg` (the recipe's `build` step,
# docs/images.md) in an empty folder, with:
#   SHOAL_SOURCES  folder of the archives, already checked against MANIFEST.tsv
#   SHOAL_OUT      folder whose tree becomes the image's /usr/lib/riak ...
#   SHOAL_RECIPE_DIR  node-images/
# Everything it needs is offline: rebar3 takes every dependency and plugin
# from _checkouts/.  Facts behind each step: shared/vendor/riak/README.md.
set -euo pipefail

src=${SHOAL_SOURCES:?}
out=${SHOAL_OUT:?}
here=$(pwd)
manifest=$src/MANIFEST.tsv

step() { printf 'riak build: %s\n' "$*" >&2; }

unpack() { # NAME DEST-PARENT: the archive's NAME/ lands in DEST-PARENT/NAME
	mkdir -p "$2"
	tar -xzf "$src/$1.tar.gz" -C "$2"
}

step "unpacking $(($(wc -l <"$manifest") - 1)) archives"
unpack riak "$here"
co=$here/riak/_checkouts
tail -n +2 "$manifest" | while IFS=$'\t' read -r name _repo ref _commit _sum; do
	case $name in
	riak | leveldb | leveldb_ee) continue ;;
	esac
	unpack "$name" "$co"
	# {vsn, git} needs a git work tree: use the ref (a tag) or a commit prefix
	case $ref in
	[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]*)
		vsn="0.0.0+g${ref:0:8}" ;;
	*) vsn=${ref#v}; vsn=${vsn//\//-} ;;
	esac
	for f in "$co/$name"/src/*.app.src; do
		[ -e "$f" ] || continue
		sed -i -e "s|{vsn, *git}|{vsn, \"$vsn\"}|" "$f"
	done
done
# eleveldb clones basho/leveldb when c_src/leveldb is missing
unpack leveldb "$co/eleveldb/c_src"
unpack leveldb_ee "$co/eleveldb/c_src/leveldb"

# gpb: its version comes from git describe; its descriptor step looks for its
# beams under $REBAR_DEPS_DIR/gpb/ebin; a checkout's are in _build/default/checkouts
(cd "$co/gpb" && git init -q && git add -A &&
	git -c user.name=shoal -c user.email=shoal@localhost commit -qm 4.13.0 &&
	git tag 4.13.0)
sed -i -e 's/REBAR_DEPS_DIR = os:getenv("REBAR_DEPS_DIR")/REBAR_DEPS_DIR = os:getenv("SHOAL_GPB_DEPS_DIR")/' \
	"$co/gpb/build/compile_descriptor"
# riak_pb, riak_kv and riak_repl include ./_build/default/plugins/gpb/include
# (relative to where rebar3 runs; a plugin in _checkouts is not there)
for app in riak_pb riak_kv riak_repl; do
	sed -i -e "s|{i, \"./_build/default/plugins/gpb/include\"}|{i, \"$co/gpb/include\"}|" \
		"$co/$app/rebar.config"
	grep -q "$co/gpb/include" "$co/$app/rebar.config"
done
# rebar3_cuttlefish for rebar3 >= 3.14: relx's options, rebar_relx:do/2
for f in "$co"/rebar3_cuttlefish/src/rebar3_cuttlefish_{release,tar}.erl; do
	sed -i -e 's/{opts, \[\]}/{opts, rebar_relx:opt_spec_list()}/' \
		-e 's/rebar_relx:do(rlx_prv_release, "release", ?PROVIDER, \(State1\?\))/rebar_relx:do(release, \1)/' \
		-e 's/rebar_relx:do(rlx_prv_release, "tar", ?PROVIDER, \(State1\?\))/rebar_relx:do(tar, \1)/' \
		"$f"
done

cd "$here/riak"
export SHOAL_GPB_DEPS_DIR=$here/riak/_build/alpine/checkouts REBAR_COLOR=none
export HOME=$here/home REBAR_CACHE_DIR=$here/rebar-cache REBAR_OFFLINE=1
mkdir -p "$HOME"
# the alpine profile: /usr/lib/riak, /etc/riak, /var/lib/riak, no su
step "compiling and releasing (rebar3 $(./rebar3 version 2>/dev/null | cut -d' ' -f2), alpine profile)"
./rebar3 as alpine release
rel=_build/alpine/rel/riak
mv "$rel/usr/bin/riak-nosu" "$rel/usr/bin/riak"

step "installing into the image tree"
mkdir -p "$out/usr/lib" "$out/usr/sbin" "$out/etc"
cp -a "$rel" "$out/usr/lib/riak"
mv "$out/usr/lib/riak/usr/bin/riak" "$out/usr/sbin/riak"
rm -rf "$out/usr/lib/riak/usr" "$out/usr/lib/riak/data" "$out/usr/lib/riak/log"
mv "$out/usr/lib/riak/etc" "$out/etc/riak"
ln -s /etc/riak "$out/usr/lib/riak/etc"
