#!/usr/bin/env bats
# Where overlayfs cannot be mounted (forced here with --no-overlay), a node
# gets a private copy of its image: same isolation, writes stay in the copy,
# the shared image is never touched, files from node.create are there.

load agent_helpers

setup_file() {
	export AGENT_OPTS=--no-overlay
	agent_setup_file
	agent_node_create cp n1 "$IMG" '{"files":[{"path":"/etc/app/app.conf",
		"content":"answer=42\n","mode":416}]}' | agent_ok
}

teardown_file() {
	agent_stop
}

@test "copy root: host.facts says overlay is off and the node runs" {
	agent_call '{"op":"host.facts"}' | jq -e '.overlay == false'
	[ "$(agent_inspect cp n1 | jq -r .state)" = running ]
	[ -f "$AGENT_ROOT/nodes/cp/n1/rootfs.copied" ]
}

@test "copy root: files from node.create are in place with their mode" {
	run agent_exec cp n1 cat /etc/app/app.conf
	[ "$output" = "answer=42" ]
	run agent_exec cp n1 stat -c %a /etc/app/app.conf
	[ "$output" = 640 ]
}

@test "copy root: writes stay in the node's copy; isolation holds" {
	agent_exec cp n1 sh -c 'echo mine > /etc/written'
	[ -f "$AGENT_ROOT/nodes/cp/n1/rootfs/etc/written" ]
	[ ! -e "$AGENT_ROOT/images/${IMG#sha256:}/rootfs/etc/written" ]
	run agent_exec cp n1 cat /proc/1/status
	echo "$output" | grep -q '^NoNewPrivs:.1$'
	echo "$output" | grep -q '^Seccomp:.2$'
	run agent_exec cp n1 ls /proc/1/fd
	[ "$(echo $output)" = "0 1 2" ]
}

@test "copy root: the copied root is mounted nosuid,nodev" {
	agent_mount_has cp n1 / nosuid nodev
}
