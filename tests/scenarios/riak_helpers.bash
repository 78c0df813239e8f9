# Helpers for the Riak scenario tests (up_riak.bats, monitor_riak.bats):
# where the Riak sources are, member-status read inside a node, and keys
# PUT with w=quorum and read back over Riak's HTTP API with curl.

load 'up_helpers'

TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

riak_sources() {
	local d
	for d in "${SHOAL_RIAK_SOURCES:-}" "$TOP/../shared/vendor/riak" "$TOP/../../shared/vendor/riak"; do
		[ -n "$d" ] && [ -f "$d/MANIFEST.tsv" ] && { echo "$d"; return 0; }
	done
	return 1
}

# member-status as node $1 prints it (riak admin, inside the node).
member_status() {
	"$SHOAL" exec "$SPEC" "$1" -- /usr/sbin/riak admin member-status
}

# keys_put ADDR N: PUT key k1..kN = v1..vN with w=quorum through ADDR's HTTP
# (one curl for all, 16 at once); prints the HTTP codes, one a line.
keys_put() {
	local i cfg="$BATS_FILE_TMPDIR/put.curl"
	: >"$cfg"
	for i in $(seq 1 "$2"); do
		# `next` between entries only: after the last, curl wants one more URL
		[ "$i" -eq 1 ] || echo next >>"$cfg"
		printf 'url = "http://%s:8098/types/default/buckets/shoal/keys/k%d?w=quorum"\nrequest = "PUT"\nheader = "Content-Type: text/plain"\ndata-binary = "v%d"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
			"$1" "$i" "$i" >>"$cfg"
	done
	# (--parallel draws a progress meter on stderr even with -s)
	curl -s -m 600 --parallel --parallel-max 16 -K "$cfg" 2>/dev/null
}

# keys_fetch ADDR FILE DIR: GET each key listed in FILE through ADDR (one
# curl, 16 at once) into DIR/<key>; a key not found leaves no file.
keys_fetch() {
	local cfg="$3.curl" k first=1
	rm -rf "$3"
	mkdir -p "$3"
	: >"$cfg"
	while read -r k; do
		[ "$first" -eq 1 ] || echo next >>"$cfg"
		first=0
		printf 'url = "http://%s:8098/types/default/buckets/shoal/keys/%s"\noutput = "%s/%s"\nfail\n' \
			"$1" "$k" "$3" "$k" >>"$cfg"
	done <"$2"
	[ "$first" -eq 1 ] || curl -s -m 600 --parallel --parallel-max 16 -K "$cfg" 2>/dev/null || true
}

# keys_get ADDR N: how many of k1..kN read back through ADDR as v1..vN.
keys_get() {
	local d="$BATS_FILE_TMPDIR/get.$$"
	seq -f 'k%g' 1 "$2" >"$d.list"
	keys_fetch "$1" "$d.list" "$d"
	find "$d" -type f -exec awk 'FNR == 1 { n = FILENAME; sub(".*/k", "v", n); if ($0 == n) ok++ } END { print ok + 0 }' {} + |
		awk '{ s += $1 } END { print s + 0 }'
}

# riak_setup_file N SPEC: the sources found (else each test skips, see
# setup), then up_setup N SPEC.
riak_setup_file() {
	export SHOAL_LAB_ID=${SHOAL_LAB_ID:-5}
	if ! SRC=$(riak_sources); then
		# bats 1.8 cannot skip from setup_file: each test skips in setup()
		export RIAK_ABSENT="outside input absent: the Riak sources (set SHOAL_RIAK_SOURCES to the archives of shared/vendor/riak/MANIFEST.tsv)"
		return 0
	fi
	export SHOAL_RIAK_SOURCES=$SRC
	up_setup "$@"
}

# member_valid NODE N: NODE's member-status shows N valid members and
# nothing else.
member_valid() {
	member_status "$1" | grep -q "Valid:$2 / Leaving:0 / Exiting:0 / Joining:0 / Down:0"
}

# spec_add_hosts H...: lab hosts H... appended to $SPEC's hosts (after h5).
spec_add_hosts() {
	local h line=""
	for h in "$@"; do
		line="$line,\n  { name = \"$h\"; address = \"$(lab_addr "$h")\"; cpus = 2; memory = \"2G\"; }"
	done
	sed -i -e "s|^\(  { name = \"h5\";.*}\)\$|\1$line|" "$SPEC"
	for h in "$@"; do
		grep -q "name = \"$h\"" "$SPEC" || return
	done
}

# writer_start PREFIX ADDR...: a writer in the background PUTs keys
# PREFIX1, PREFIX2 ... (each its own name as value) with w=quorum, 20 a
# curl, through the nodes at ADDR... in turn, until writer_stop; every key
# acknowledged (204) is appended to $BATS_FILE_TMPDIR/acked.
writer_start() {
	local prefix=$1
	shift
	rm -f "$BATS_FILE_TMPDIR/writer.stop"
	(
		i=0
		cfg="$BATS_FILE_TMPDIR/writer.curl"
		while [ ! -e "$BATS_FILE_TMPDIR/writer.stop" ]; do
			for a in "$@"; do
				: >"$cfg"
				keys=()
				for _ in $(seq 1 20); do
					i=$((i + 1))
					[ "${#keys[@]}" -eq 0 ] || echo next >>"$cfg"
					keys+=("$prefix$i")
					printf 'url = "http://%s:8098/types/default/buckets/shoal/keys/%s%d?w=quorum"\nrequest = "PUT"\nheader = "Content-Type: text/plain"\ndata-binary = "%s%d"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
						"$a" "$prefix" "$i" "$prefix" "$i" >>"$cfg"
				done
				curl -s -m 30 -K "$cfg" | paste <(printf '%s\n' "${keys[@]}") - |
					awk '$2 == 204 || $2 == 200 { print $1 }' >>"$BATS_FILE_TMPDIR/acked"
			done
		done
	) 3>&- &
	echo $! >"$BATS_FILE_TMPDIR/writer.pid"
}

# writer_stop: the writer ends its batch and stops.
writer_stop() {
	touch "$BATS_FILE_TMPDIR/writer.stop"
	wait "$(cat "$BATS_FILE_TMPDIR/writer.pid")" || true
}

# keys_read_list ADDR FILE: how many of the keys listed in FILE read back
# through ADDR with their own name as value.
keys_read_list() {
	local d="$BATS_FILE_TMPDIR/read.$$"
	keys_fetch "$1" "$2" "$d"
	find "$d" -type f -exec awk 'FNR == 1 { n = FILENAME; sub(".*/", "", n); if ($0 == n) ok++ } END { print ok + 0 }' {} + |
		awk '{ s += $1 } END { print s + 0 }'
}
