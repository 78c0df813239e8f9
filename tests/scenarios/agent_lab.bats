#!/usr/bin/env bats
# The agent on a lab host, reached over SSH as the operator reaches it:
# `shoal-agent connect` through an OpenSSH session starts the daemon; nodes
# nest their cgroups under the host's; closing the SSH session leaves nodes
# running; after a power-off and power-on the next contact brings the agent
# back and the agent brings the node back, data intact.

load '../lab/helpers'
load agent_helpers
load ssh_helpers

# One SSH session per request, like every operator command.
agent_call_all() {
	printf '%s\n' "$(jq -c '. + {id: 1}' <<<"$1")" | lab_ssh h1 "$AGENT_BIN" connect
}

setup_file() {
	export SHOAL_LAB_ID=${SHOAL_LAB_ID:-3}
	lab_setup 1
	AGENT_TMP=$(mktemp -d /tmp/shoal-agent-lab.XXXXXX)
	# h1's /var/lib/shoal seen from here: blobs are dropped into its
	# blobs/tmp as an SFTP push would, then committed through the protocol.
	AGENT_ROOT="$LAB_DIR/hosts/h1/var-lib-shoal"
	export AGENT_TMP AGENT_ROOT
	agent_call '{"op":"hello"}' | agent_ok
	IMG=$(agent_busybox_image)
	export IMG
}

teardown_file() {
	lab_teardown
	rm -rf "$AGENT_TMP"
}

@test "lab: a node runs on h1, its cgroups nested under the host's own" {
	agent_node_create lab n1 "$IMG" '{"restart":"always","memory":"64M"}' | agent_ok
	pid=$(agent_inspect lab n1 | jq -r .pid)
	run lab_exec h1 cat "/proc/$pid/cgroup"
	echo "$output" | grep -q ":memory:.*/shoal-lab$LAB_ID/h1/shoal.lab.n1$"
	echo "$output" | grep -q ":pids:.*/shoal-lab$LAB_ID/h1/shoal.lab.n1$"
	run agent_exec lab n1 ps -o pid,comm
	echo "$output" | grep -qE '^ *1 +sleep'
	[ "$(echo "$output" | sed 1d | wc -l)" -eq 2 ]
}

@test "lab: the SSH session ends, the node keeps running under the daemon" {
	pid=$(agent_inspect lab n1 | jq -r .pid)
	# No SSH session of ours is left on h1; the node and the daemon are.
	run lab_exec h1 pgrep -f 'shoal-agent connect'
	[ "$status" -ne 0 ]
	lab_exec h1 kill -0 "$pid"
	lab_exec h1 pgrep -f 'shoal-agent daemon'
}

@test "lab: power-off and power-on; the next contact restarts agent and nodes" {
	agent_node_create lab r1 "$IMG" '{"restart":"always","runtime":"runc"}' | agent_ok
	agent_exec lab n1 sh -c 'echo survived > /data/mark'
	agent_exec lab r1 sh -c 'echo runc-survived > /data/mark'
	old=$(agent_inspect lab n1 | jq -r .pid)
	old_r=$(agent_inspect lab r1 | jq -r .pid)
	lab poweroff h1
	lab poweron h1
	# The first SSH contact starts the daemon, which starts the nodes.
	agent_wait_restart lab n1 "$old" >/dev/null
	agent_wait_restart lab r1 "$old_r" >/dev/null
	run agent_exec lab n1 cat /data/mark
	[ "$output" = survived ]
	run agent_exec lab r1 cat /data/mark
	[ "$output" = runc-survived ]
	[ "$(agent_inspect lab r1 | jq -r .runtime)" = runc ]
}

@test "lab: shoal node --host SPEC:h1 reaches the same agent over libssh2" {
	lab_spec "$AGENT_TMP/spec.cfg" h1
	# The transport pushes its own agent build (content addressed) and runs
	# its `connect`, which finds the daemon already serving h1.
	run "$SHOAL_BUILD/shoal" node --host "$AGENT_TMP/spec.cfg:h1" ls lab
	[ "$status" -eq 0 ]
	echo "$output" | grep -qE '^lab +n1 +running'
	run "$SHOAL_BUILD/shoal" node --host "$AGENT_TMP/spec.cfg:h1" exec lab n1 -- cat /data/mark
	[ "$output" = survived ]
	run "$SHOAL_BUILD/shoal" node --host "$AGENT_TMP/spec.cfg:nope" ls
	[ "$status" -eq 2 ]
}
