# Helpers for the `shoal up` scenario tests: a lab spec rewritten for this
# file's lab id, private state and image store, and checks that ask Redis
# itself (CLUSTER NODES), never shoal's own record.

load '../lab/helpers'

SHOAL="${SHOAL_BUILD:-$BATS_TEST_DIRNAME/../../build/asan}/shoal"
KEYS_DRIVER="${SHOAL_BUILD:-$BATS_TEST_DIRNAME/../../build/asan}/bench/keys_driver"

# up_setup N SPEC: lab of N hosts, $SPEC = SPEC rewritten for the lab id.
up_setup() {
	lab_setup "$1" || return
	export SHOAL_STATE_DIR="$BATS_FILE_TMPDIR/state"
	export SHOAL_HOME="${SHOAL_TEST_HOME:-$BATS_FILE_TMPDIR/home}"
	export SPEC="$BATS_FILE_TMPDIR/$(basename "$2")"
	sed -e "s|10\.213\.0\.|$LAB_NET.|g" -e "s|/var/tmp/shoal-lab/0/|$LAB_DIR/|g" \
		"$BATS_TEST_DIRNAME/../../$2" >"$SPEC"
}

up_teardown() {
	# Best effort: the lab's power-off takes every container with it anyway.
	[ -n "${SPEC:-}" ] && timeout 60 "$SHOAL" down --purge "$SPEC" >/dev/null 2>&1
	lab_teardown
}

# The cluster password, from shoal env.
redis_auth() {
	eval "$("$SHOAL" env "$SPEC" cache)"
	export REDISCLI_AUTH
}

# rcli ADDR PORT ARGS...: redis-cli against one node, with the password.
rcli() {
	local a=$1 p=$2
	shift 2
	redis-cli --no-auth-warning -h "$a" -p "$p" "$@"
}

# keys_write ADDR PORT [N]: SET key:1..N (default 1000) to value:1..N through
# the cluster, seeded at ADDR:PORT; fails unless every SET was acknowledged.
# bench/keys_driver.c sends each key to its slot's master, pipelined, and
# follows MOVED/ASK (redis-cli -c waits for each answer: minutes for 100,000
# keys on a loaded machine).
keys_write() {
	"$KEYS_DRIVER" write "$1" "$2" "${3:-1000}"
}

# keys_read ADDR PORT [N]: how many of key:1..N read back with their value.
keys_read() {
	"$KEYS_DRIVER" read "$1" "$2" "${3:-1000}"
}

# cluster_nodes_check ADDR PORT MASTERS REPLICAS: from CLUSTER NODES as Redis
# reports it: the counts, every node connected, and every replica on another
# address than its master.
cluster_nodes_check() {
	local out masters replicas bad
	out=$(rcli "$1" "$2" cluster nodes) || return
	masters=$(echo "$out" | awk '$3 ~ /master/ && $3 !~ /fail/' | wc -l)
	replicas=$(echo "$out" | awk '$3 ~ /slave/ && $3 !~ /fail/' | wc -l)
	[ "$masters" -eq "$3" ] || { echo "masters: $masters, want $3"; echo "$out"; return 1; }
	[ "$replicas" -eq "$4" ] || { echo "replicas: $replicas, want $4"; echo "$out"; return 1; }
	# replica address (col 2 before ':') must differ from its master's
	bad=$(echo "$out" | awk '
		{ split($2, a, ":"); addr[$1] = a[1]; role[$1] = $3; master[$1] = $4 }
		END { for (id in role) if (role[id] ~ /slave/ && addr[id] == addr[master[id]]) print id }')
	[ -z "$bad" ] || { echo "replica beside its master: $bad"; echo "$out"; return 1; }
}
