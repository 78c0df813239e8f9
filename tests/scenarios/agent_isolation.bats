#!/usr/bin/env bats
# A node started by the builtin runtime is isolated: its own pid namespace,
# no capabilities beyond the configured set, no_new_privs, seccomp, no mount,
# read-only /proc/sys and /sys, nothing of the host reachable, no inherited
# descriptors, and /proc/<pid>/exe never leads back to the agent.

load agent_helpers

RUNTIME=${AGENT_TEST_RUNTIME:-builtin}

setup_file() {
	agent_setup_file
	agent_node_create iso n1 "$IMG" \
		"{\"runtime\":\"$RUNTIME\",\"caps\":[\"CAP_NET_BIND_SERVICE\"],\"pids\":64,
		  \"files\":[{\"path\":\"/etc/node/node.conf\",\"content\":\"port=7000\\n\"}]}" | agent_ok
	agent_node_create iso n2 "$IMG" "{\"runtime\":\"$RUNTIME\",\"user\":\"app\"}" | agent_ok
}

teardown_file() {
	agent_stop
}

@test "ps inside a node shows only the node's own processes" {
	run agent_exec iso n1 ps -o pid,comm
	[ "$status" -eq 0 ]
	# pid 1 is the node's entrypoint; the only other process is ps itself.
	[ "$(echo "$output" | sed 1d | wc -l)" -eq 2 ]
	echo "$output" | grep -qE '^ *1 +sleep'
	if echo "$output" | grep -q shoal-agent; then false; fi
}

@test "the node's init has the configured capabilities, no_new_privs and seccomp" {
	run agent_exec iso n1 cat /proc/1/status
	[ "$status" -eq 0 ]
	# CAP_NET_BIND_SERVICE is bit 10: 0x400, in every set but inheritable/ambient.
	echo "$output" | grep -q '^CapEff:.*0000000000000400$'
	echo "$output" | grep -q '^CapBnd:.*0000000000000400$'
	echo "$output" | grep -q '^CapInh:.*0000000000000000$'
	echo "$output" | grep -q '^CapAmb:.*0000000000000000$'
	echo "$output" | grep -q '^NoNewPrivs:.1$'
	echo "$output" | grep -q '^Seccomp:.2$'
}

@test "files given at create are in the node, not in the shared image" {
	run agent_exec iso n1 cat /etc/node/node.conf
	[ "$output" = port=7000 ]
	[ ! -e "$AGENT_ROOT/images/${IMG#sha256:}/rootfs/etc/node" ]
	# The folder the file needed copies its image folder's owner and mode.
	[ "$(stat -c %a "$AGENT_ROOT/nodes/iso/n1/upper/etc")" = 755 ]
}

@test "a non-root image user gets no capabilities at all" {
	run agent_exec iso n2 sh -c 'id -u; grep -E "^Cap(Eff|Prm|Bnd)" /proc/1/status'
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | head -1)" = 1000 ]
	[ "$(echo "$output" | grep -c '0000000000000000$')" -eq 3 ]
}

@test "mount, unshare and writes to /proc/sys and /sys fail" {
	run agent_exec iso n1 mount -t tmpfs none /tmp
	[ "$status" -ne 0 ]
	run agent_exec iso n1 unshare -m true
	[ "$status" -ne 0 ]
	run agent_exec iso n1 sh -c 'echo x > /proc/sys/kernel/hostname'
	[ "$status" -ne 0 ]
	run agent_exec iso n1 sh -c 'echo 1 > /proc/sysrq-trigger'
	[ "$status" -ne 0 ]
	run agent_exec iso n1 sh -c 'echo x > /sys/kernel/uevent_helper'
	[ "$status" -ne 0 ]
}

@test "writes land in the node's upper layer and data dir, never on the host" {
	marker="$AGENT_TMP/host-marker"
	echo host >"$marker"
	run agent_exec iso n1 sh -c "cat $marker"
	[ "$status" -ne 0 ]
	run agent_exec iso n1 sh -c 'echo mine > /etc/written && echo d > /data/file && cat /etc/written'
	[ "$status" -eq 0 ]
	[ "$output" = mine ]
	# The shared image stays untouched; the write is in n1's upper dir only.
	hex=${IMG#sha256:}
	[ ! -e "$AGENT_ROOT/images/$hex/rootfs/etc/written" ]
	[ -f "$AGENT_ROOT/nodes/iso/n1/upper/etc/written" ]
	[ "$(cat "$AGENT_ROOT/nodes/iso/n1/data/file")" = d ]
	run agent_exec iso n2 cat /etc/written
	[ "$status" -ne 0 ]
}

@test "the node holds no descriptor beyond 0-2 (CVE-2024-21626) and its cwd is its own root" {
	run agent_exec iso n1 ls /proc/1/fd
	[ "$status" -eq 0 ]
	[ "$(echo $output)" = "0 1 2" ]
	run agent_exec iso n1 readlink /proc/1/cwd
	[ "$output" = / ]
}

@test "/proc/<pid>/exe of node processes is the node's program, not the agent (CVE-2019-5736)" {
	run agent_exec iso n1 readlink /proc/1/exe
	[ "$status" -eq 0 ]
	[ "$output" = /bin/busybox ]
	# Same from the host's side: the node's init runs busybox, not shoal-agent.
	pid=$(agent_inspect iso n1 | jq -r .pid)
	host_exe=$(readlink "/proc/$pid/exe")
	[[ "$host_exe" != *shoal-agent* ]]
	# And no process of the node can open the agent's binary.
	run agent_exec iso n1 sh -c 'for p in /proc/[0-9]*; do readlink $p/exe; done'
	if echo "$output" | grep -q shoal-agent; then false; fi
}

@test "a pids limit stops a fork bomb inside the node" {
	run agent_exec iso n1 sh -c 'i=0; while [ $i -lt 100 ]; do sleep 3 & i=$((i+1)); done'
	# The node's pids cgroup is capped at 64: the shell hits it and fails.
	[ "$status" -ne 0 ]
	echo "$output" | grep -qi "can't fork"
	[ "$(agent_inspect iso n1 | jq -r .state)" = running ]
}

@test "a node created without a pids limit gets the default one (4096)" {
	pid=$(agent_inspect iso n2 | jq -r .pid)
	line=$(grep -E '^[0-9]+:(pids:|:)' "/proc/$pid/cgroup" | head -1)
	rel=${line##*:}
	if [[ $line == *:pids:* ]]; then max=/sys/fs/cgroup/pids$rel/pids.max
	else max=/sys/fs/cgroup$rel/pids.max; fi
	[ "$(cat "$max")" = 4096 ]
}

@test "the node's root and data mounts are nosuid,nodev" {
	agent_mount_has iso n1 / nosuid nodev
	agent_mount_has iso n1 /data nosuid nodev
}
