#!/bin/sh
# Install the Debian packages listed in deps/debian.txt that are missing.
# Does nothing (and needs no network) when all are present.
set -eu
list=${1:-deps/debian.txt}
missing=
for p in $(sed -e 's/#.*//' "$list"); do
	s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$s" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing" >&2
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
