#!/bin/sh
# make demo / make demo-down: a 3-host lab and a Redis Cluster on it.
#
#   sh tests/lab/demo.sh        lab up 3, shoal up, status, keys through the cluster
#   sh tests/lab/demo.sh down   shoal down --purge, lab down
#
# State goes to .shoal/ in the source tree, images to $SHOAL_HOME
# (default ~/.local/share/shoal).  Lab id 0: hosts 10.213.0.11-13.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
lab="$top/tests/lab/lab"
shoal="$top/build/shoal"
spec=cluster-specs/lab-redis.cfg
export SHOAL_LAB_ID=0

if [ "${1:-}" = down ]; then
	[ -x "$shoal" ] && "$shoal" down --purge "$spec" || true
	"$lab" down
	exit 0
fi

echo "== lab: 3 hosts in network namespaces (docs/lab.md)"
"$lab" up 3
echo
echo "== shoal up $spec"
"$shoal" up "$spec"
echo
echo "== shoal status $spec"
"$shoal" status "$spec"
echo
echo "== 1000 keys written and read back through the cluster (redis-cli -c)"
eval "$("$shoal" env "$spec" cache)"
export REDISCLI_AUTH
seed_host=${SHOAL_HOST:-10.213.0.11} seed_port=${SHOAL_PORT:-7000}
seq 1 1000 | sed 's/.*/SET demo:& value-&/' |
	redis-cli --no-auth-warning -c -h "$seed_host" -p "$seed_port" >/dev/null
got=$(seq 1 1000 | sed 's/.*/GET demo:&/' |
	redis-cli --no-auth-warning -c -h "$seed_host" -p "$seed_port" | grep -c '^value-')
echo "read back $got of 1000 keys"
cat <<EOT

Next:
  eval "\$(build/shoal env $spec cache)"; redis-cli -c -h \$SHOAL_HOST -p \$SHOAL_PORT
  build/shoal exec $spec cache-0 -- /usr/bin/redis-cli -h 10.213.0.11 -p 7000 --no-auth-warning -a "\$REDISCLI_AUTH" cluster nodes
  build/shoal logs $spec cache-0
  tests/lab/lab poweroff h2; build/shoal status $spec     # pull the plug on a host, see it
  make demo-down                                          # remove the cluster and the lab
EOT
