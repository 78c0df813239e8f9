# agent_helpers.bash - shared setup for the agent_*.bats scenarios.
#
# AGENT_OPTS (e.g. --no-overlay) is passed to every `connect`, so to the
# daemon it starts.
#
# Runs a real shoal-agent daemon ($SHOAL_BUILD/shoal-agent) with a private
# root and run dir, builds a tiny OCI image from Debian's static busybox and
# commits it through the protocol.  Each test talks to the daemon with
# `shoal-agent connect`, one session per call, as the operator does over SSH.
#
#   agent_start                  daemon up; AGENT_ROOT, AGENT_RUN set
#   agent_stop                   nodes removed, daemon stopped, folders gone
#   agent_call JSON              one request; prints the final answer line
#   agent_call_all JSON          prints every line (streams, then the answer)
#   agent_busybox_image          prints the manifest digest of the test image
#   agent_setup_file             agent_start + the image in $IMG
#   agent_redis_image            builds and commits node-images/redis.cfg
#   agent_wait_restart C N PID   wait until the node runs under a new pid
#   agent_wait_state C N STATE [SECS]   wait for a node state

: "${SHOAL_BUILD:?SHOAL_BUILD must point at the build folder}"
AGENT_BIN="$SHOAL_BUILD/shoal-agent"
BUSYBOX=${BUSYBOX:-/bin/busybox}
APPLETS="sh ash ps ls cat echo sleep mount umount id grep head tail dd touch mkdir
rm env true false kill hostname wc ln stat readlink tr sed seq yes unshare"

agent_start() {
	AGENT_TMP=$(mktemp -d /tmp/shoal-agent-test.XXXXXX)
	AGENT_ROOT="$AGENT_TMP/root"
	AGENT_RUN="$AGENT_TMP/run"
	export AGENT_TMP AGENT_ROOT AGENT_RUN
	agent_call '{"op":"hello"}' >/dev/null
}

# For setup_file: daemon up, test image committed ($IMG).
agent_setup_file() {
	agent_start
	IMG=$(agent_busybox_image)
	export IMG
}

# agent_wait_restart CLUSTER NODE OLD-PID: prints the new pid once the node
# runs again under another pid (30 s at most).
agent_wait_restart() {
	local new
	for _ in $(seq 300); do
		new=$(agent_inspect "$1" "$2" | jq -r 'select(.state == "running") | .pid')
		if [ -n "$new" ] && [ "$new" != "$3" ]; then
			echo "$new"
			return 0
		fi
		sleep 0.1
	done
	echo "node $1/$2 did not restart" >&2
	return 1
}

agent_daemon_pid() {
	cat "$AGENT_RUN/agent.lock" 2>/dev/null
}

agent_stop() {
	[ -n "${AGENT_ROOT:-}" ] || return 0
	if [ -S "$AGENT_RUN/agent.sock" ]; then
		for n in $(agent_call '{"op":"node.list"}' | jq -r '.nodes[]? | "\(.cluster)/\(.node)"'); do
			agent_call "{\"op\":\"node.remove\",\"cluster\":\"${n%/*}\",\"node\":\"${n#*/}\",\"force\":true}" >/dev/null || true
		done
	fi
	pid=$(agent_daemon_pid)
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	# Anything still mounted below the root (a failed test) goes too.
	{ grep -o " $AGENT_TMP[^ ]*" /proc/self/mounts || true; } | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$AGENT_TMP"
	AGENT_ROOT=
}

agent_call_all() {
	printf '%s\n' "$(jq -c '. + {id: 1}' <<<"$1")" |
		timeout 60 "$AGENT_BIN" connect --root "$AGENT_ROOT" --run-dir "$AGENT_RUN" \
		${AGENT_OPTS:-}
}

agent_call() {
	agent_call_all "$1" | grep -v '"stream"' | tail -n 1
}

# Exit 0 when the answer line on stdin says ok:true.
agent_ok() {
	jq -e '.ok == true' >/dev/null
}

agent_commit_blob() {
	local file=$1 hex
	hex=$(sha256sum "$file" | cut -d' ' -f1)
	cp "$file" "$AGENT_ROOT/blobs/tmp/up-$hex"
	agent_call "{\"op\":\"blob.commit\",\"digest\":\"sha256:$hex\",\"tmp\":\"up-$hex\"}" | agent_ok
	echo "sha256:$hex"
}

agent_busybox_image() {
	local d="$AGENT_TMP/img" layer cfg man
	mkdir -p "$d/rootfs/bin" "$d/rootfs/etc" "$d/rootfs/tmp" "$d/rootfs/proc" \
		"$d/rootfs/dev" "$d/rootfs/sys" "$d/rootfs/home/app"
	cp "$BUSYBOX" "$d/rootfs/bin/busybox"
	for a in $APPLETS; do ln -sf busybox "$d/rootfs/bin/$a"; done
	printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$d/rootfs/etc/passwd"
	printf 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n' >"$d/rootfs/etc/group"
	chmod 1777 "$d/rootfs/tmp"
	tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
		-C "$d/rootfs" -czf "$d/layer.tar.gz" .
	layer=$(agent_commit_blob "$d/layer.tar.gz") || return 1
	printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sleep","3600"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":[]}}' >"$d/config.json"
	cfg=$(agent_commit_blob "$d/config.json") || return 1
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}' \
		"$cfg" "$(stat -c %s "$d/config.json")" "$layer" "$(stat -c %s "$d/layer.tar.gz")" >"$d/manifest.json"
	agent_commit_blob "$d/manifest.json"
}

# agent_redis_image: build node-images/redis.cfg with `shoal image build`
# (engineer C's recipe) into a private store, commit its manifest, config and
# layers to the agent as a push would, and print the manifest digest.
agent_redis_image() {
	local top store man blobs d
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	store="$AGENT_TMP/store"
	man=$(SHOAL_HOME="$store" "$SHOAL_BUILD/shoal" --json image build \
		"$top/node-images/redis.cfg" | jq -r .manifest) || return 1
	blobs="$store/oci/blobs/sha256"
	for d in $(jq -r '.config.digest, .layers[].digest' "$blobs/${man#sha256:}") "$man"; do
		agent_commit_blob "$blobs/${d#sha256:}" >/dev/null || return 1
	done
	echo "$man"
}

# agent_node_create CLUSTER NODE IMAGE [EXTRA-JSON]
agent_node_create() {
	local req
	req=$(jq -cn --arg c "$1" --arg n "$2" --arg i "$3" --argjson x "${4:-{\}}" \
		'{op:"node.create",cluster:$c,node:$n,image:$i,start:true} + $x')
	agent_call "$req"
}

# agent_exec CLUSTER NODE ARG... : prints stdout, exits with the command's code
agent_exec() {
	local c=$1 n=$2 out argv
	shift 2
	argv=$(jq -cn '$ARGS.positional' --args -- "$@")
	out=$(agent_call_all "$(jq -cn --arg c "$c" --arg n "$n" --argjson a "$argv" \
		'{op:"exec",cluster:$c,node:$n,argv:$a}')")
	jq -j 'select(.stream == "stdout") | .data' <<<"$out"
	jq -j 'select(.stream == "stderr") | .data' <<<"$out" >&2
	jq -r 'select(.ok == false) | .error.message' <<<"$out" >&2
	return "$(jq -r 'select(.stream == null) | if .ok then (.exit_code // (128 + .signal)) else 255 end' <<<"$out" | tail -n1)"
}

agent_inspect() {
	agent_call "{\"op\":\"node.inspect\",\"cluster\":\"$1\",\"node\":\"$2\"}"
}

agent_wait_state() {
	local want=$3 secs=${4:-30} s
	for _ in $(seq $((secs * 10))); do
		s=$(agent_inspect "$1" "$2" | jq -r .state)
		[ "$s" = "$want" ] && return 0
		sleep 0.1
	done
	echo "node $1/$2 is $s, not $want" >&2
	return 1
}

# Event subscriptions, waited on by their conditions, not by sleeps:
#   agent_events_start FILE   subscribe; returns once the agent answered the
#                             subscription (30 s at most), events go to FILE
#   agent_events_wait REGEX [SECS]   until a line of FILE matches (60 s);
#                             fails at once when the subscriber has exited
#   agent_events_stop         end the session (its stdin closes), reap it
agent_events_start() {
	AGENT_EV_FILE=$1
	rm -f "$AGENT_TMP/events.in"
	mkfifo "$AGENT_TMP/events.in"
	timeout 600 "$AGENT_BIN" connect --root "$AGENT_ROOT" --run-dir "$AGENT_RUN" \
		<"$AGENT_TMP/events.in" >"$AGENT_EV_FILE" 3>&- &
	AGENT_EV_PID=$!
	exec {AGENT_EV_FD}>"$AGENT_TMP/events.in"
	echo '{"id":1,"op":"events.subscribe"}' >&"$AGENT_EV_FD"
	agent_events_wait '^\{.*"id": *1.*"ok": *true' 30
}

agent_events_wait() {
	local until=$((SECONDS + ${2:-60}))
	until grep -qE "$1" "$AGENT_EV_FILE" 2>/dev/null; do
		if ! kill -0 "$AGENT_EV_PID" 2>/dev/null; then
			grep -qE "$1" "$AGENT_EV_FILE" 2>/dev/null && return 0
			echo "agent_events_wait: the subscriber exited before /$1/ (events: $AGENT_EV_FILE)" >&2
			return 1
		fi
		if [ "$SECONDS" -ge "$until" ]; then
			echo "agent_events_wait: no /$1/ within ${2:-60} s (events: $AGENT_EV_FILE)" >&2
			return 1
		fi
		sleep 0.1
	done
}

agent_events_stop() {
	exec {AGENT_EV_FD}>&-
	wait "$AGENT_EV_PID" 2>/dev/null || true
}

# agent_mount_has C N MOUNTPOINT OPT...: the node's mount at MOUNTPOINT
# carries every OPT among its per-mount options (mountinfo field 6).
agent_mount_has() {
	local c=$1 n=$2 mp=$3 opts o
	shift 3
	opts=$(agent_exec "$c" "$n" cat /proc/1/mountinfo |
		awk -v mp="$mp" '$5 == mp { print $6 }')
	[ -n "$opts" ] || return 1
	for o in "$@"; do
		echo ",$opts," | grep -q ",$o," || return 1
	done
}
