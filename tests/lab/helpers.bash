# Bats helpers for scenario tests that need lab hosts (see docs/lab.md).
#
#   load '../lab/helpers'
#   setup_file()    { lab_setup 3; }     # a lab of hosts h1..h3
#   teardown_file() { lab_teardown; }    # always removes the whole lab
#
# lab_setup exports, for the tests of the file:
#   LAB_ID           the lab id ($SHOAL_LAB_ID, default 0)
#   LAB_DIR          /var/tmp/shoal-lab/<ID>, the lab's state
#   LAB_IDENTITY     the client private key every host accepts for root
#   LAB_KNOWN_HOSTS  known_hosts with every host's ed25519 key under its address
#   LAB_SSH_CONFIG   an ssh_config naming h1..hN (ssh -F "$LAB_SSH_CONFIG" h2)
#   LAB_NET          the first three octets of the lab network, e.g. 10.213.0
#   LAB_HOSTS        the host names, e.g. "h1 h2 h3"
# and the functions below work in setup_file, setup, tests and teardown.

LAB_SCRIPT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lab"

# lab ARGS...: the lab script, for this file's lab id.
lab() {
	SHOAL_LAB_ID="${LAB_ID:-${SHOAL_LAB_ID:-0}}" "$LAB_SCRIPT" "$@"
}

# lab_setup N: a fresh lab of N hosts (anything left by an earlier run of the
# same lab id is removed first).  On failure the lab is taken down again.
lab_setup() {
	local n=${1:?lab_setup N}
	export LAB_ID="${SHOAL_LAB_ID:-0}"
	export LAB_DIR="/var/tmp/shoal-lab/$LAB_ID"
	export LAB_IDENTITY="$LAB_DIR/keys/id_ed25519"
	export LAB_KNOWN_HOSTS="$LAB_DIR/known_hosts"
	export LAB_SSH_CONFIG="$LAB_DIR/ssh_config"
	export LAB_NET="10.213.$LAB_ID"
	LAB_HOSTS=$(seq -f 'h%g' -s ' ' 1 "$n")
	export LAB_HOSTS
	if ! lab down >/dev/null || ! lab up "$n"; then
		lab down >/dev/null 2>&1
		echo "lab_setup: lab up $n failed (lab id $LAB_ID)" >&2
		return 1
	fi
}

# lab_teardown: remove the lab, whatever state the tests left it in.
lab_teardown() {
	lab down
}

# lab_addr H: the address of host H (e.g. 10.213.0.12 for h2).
lab_addr() {
	lab addr "$1"
}

# lab_exec H CMD...: run CMD inside host H's namespaces and cgroup (as root).
lab_exec() {
	lab exec "$@"
}

# lab_ssh H CMD...: run CMD on host H as root over OpenSSH, checking H's host
# key strictly against the lab's known_hosts and using only the lab identity.
lab_ssh() {
	local addr
	addr=$(lab_addr "$1") || return
	shift
	ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$LAB_KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null \
		-o IdentitiesOnly=yes -o IdentityFile="$LAB_IDENTITY" \
		-o ConnectTimeout=5 -o LogLevel=ERROR "root@$addr" -- "$@"
}
