# Helpers for the ssh_*.bats and push_*.bats scenarios (engineer D).
#
#   load '../lab/helpers'; load 'ssh_helpers'
#   lab_spec FILE [HOST...]    a spec reaching those lab hosts (all when none);
#                              $IDENTITY, $KNOWN_HOSTS and $SSH_USER override
#                              the lab's key, known_hosts and root
#   shoal ARGS...              the binary under test ($SHOAL_BUILD/shoal)

SHOAL_BIN="${SHOAL_BUILD:-$SHOAL_TOP/build/asan}/shoal"
export SHOAL_DATA="${SHOAL_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"

shoal() {
	"$SHOAL_BIN" "$@"
}

lab_spec() {
	local file=$1 sep="" h
	shift
	local hosts="${*:-$LAB_HOSTS}"
	{
		echo 'name = "d-scenario";'
		echo "ssh = { user = \"${SSH_USER:-root}\"; identity = \"${IDENTITY:-$LAB_IDENTITY}\";"
		echo "        known_hosts = \"${KNOWN_HOSTS:-$LAB_KNOWN_HOSTS}\"; connect_timeout_ms = \"5s\"; };"
		echo 'hosts = ('
		for h in $hosts; do
			printf '%s  { name = "%s"; address = "%s"; cpus = 2; memory = "2G"; }\n' \
				"$sep" "$h" "$(lab_addr "$h")"
			sep=,
		done
		echo ');'
		echo 'services = ( { name = "cache"; template = "redis"; nodes = 6;'
		echo '  ports = { base = 7000; }; resources = { memory = "64M"; cpus = 0.1; }; } );'
	} >"$file"
}

# blob_path HEX: where a blob lives on a host.
blob_path() {
	echo "/var/lib/shoal/blobs/sha256/$1"
}
