#!/usr/bin/env bats
# The isolation checks again, with the node run by runc from an OCI bundle
# the agent wrote (runtime = "runc").

AGENT_TEST_RUNTIME=runc
load agent_helpers

setup_file() {
	command -v runc >/dev/null || skip "runc is not installed"
	agent_setup_file
	agent_node_create oci n1 "$IMG" \
		'{"runtime":"runc","caps":["CAP_NET_BIND_SERVICE"],"restart":"always"}' | agent_ok
}

teardown_file() {
	agent_stop
}

@test "runc: ps shows only the node's tree" {
	run agent_exec oci n1 ps -o pid,comm
	[ "$status" -eq 0 ]
	echo "$output" | grep -qE '^ *1 +sleep'
	if echo "$output" | grep -q shoal-agent; then false; fi
}

@test "runc: configured CapEff, no_new_privs, seccomp, mount refused, no extra fds" {
	run agent_exec oci n1 cat /proc/1/status
	echo "$output" | grep -q '^CapEff:.*0000000000000400$'
	echo "$output" | grep -q '^NoNewPrivs:.1$'
	echo "$output" | grep -q '^Seccomp:.2$'
	run agent_exec oci n1 mount -t tmpfs none /tmp
	[ "$status" -ne 0 ]
	run agent_exec oci n1 ls /proc/1/fd
	[ "$(echo $output)" = "0 1 2" ]
}

@test "runc: kill -9 of the node restarts it, data dir intact" {
	agent_exec oci n1 sh -c 'echo keep > /data/k'
	pid=$(agent_inspect oci n1 | jq -r .pid)
	kill -9 "$pid"
	agent_wait_restart oci n1 "$pid"
	[ "$(agent_inspect oci n1 | jq -r .restarts)" -ge 1 ]
	run agent_exec oci n1 cat /data/k
	[ "$output" = keep ]
}

@test "crun on this host: refused with the reason, never a hang" {
	command -v crun >/dev/null || skip "crun is not installed"
	run agent_node_create oci c1 "$IMG" '{"runtime":"crun"}'
	facts=$(agent_call '{"op":"host.facts"}')
	if [ "$(jq -r '.runtimes[] | select(.name == "crun") | .usable' <<<"$facts")" = false ]; then
		jq -e '.ok == false' <<<"$output"
		jq -r .error.message <<<"$output" | grep -q 'crun'
	else
		jq -e '.ok == true' <<<"$output"
	fi
}

@test "runc: root and data mounts are nosuid,nodev" {
	agent_mount_has oci n1 / nosuid nodev
	agent_mount_has oci n1 /data nosuid nodev
}
