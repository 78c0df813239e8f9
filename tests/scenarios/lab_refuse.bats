#!/usr/bin/env bats
# `lab up` refuses to start when the lab's network 10.213.<ID>.0/24 is already
# used on the machine, or when a bridge of the lab's name exists that the lab
# did not make — and `lab down` never removes such things.

load '../lab/helpers'

setup_file() {
	export LAB_ID="${SHOAL_LAB_ID:-0}"
	lab down >/dev/null
}

teardown() {
	ip link del "lt${LAB_ID}x" 2>/dev/null || true
	if [ "$(cat "/sys/class/net/shoal-br$LAB_ID/ifalias" 2>/dev/null)" != "shoal-lab$LAB_ID" ]; then
		ip link del "shoal-br$LAB_ID" 2>/dev/null || true
	fi
	lab down >/dev/null
}

@test "an address of the lab network on another interface stops lab up" {
	ip link add "lt${LAB_ID}x" type veth peer name "lt${LAB_ID}y"
	ip addr add "10.213.$LAB_ID.200/24" dev "lt${LAB_ID}x"
	run lab up 2
	[ "$status" -ne 0 ]
	[[ "$output" == *"10.213.$LAB_ID.0/24 is already in use"* ]]
	[[ "$output" == *"lt${LAB_ID}x"* ]]
	[ ! -e "/sys/class/net/shoal-br$LAB_ID" ]
	[ -z "$(ip netns list | grep "^shoal$LAB_ID-")" ]
	lab down
	# The foreign interface is untouched.
	ip -4 -o addr show dev "lt${LAB_ID}x" | grep -q "10.213.$LAB_ID.200/24"
}

@test "a bridge of the lab's name that the lab did not make is left alone" {
	ip link add "shoal-br$LAB_ID" type bridge
	run lab up 1
	[ "$status" -ne 0 ]
	[[ "$output" == *"the lab did not make it"* ]]
	run lab down
	[ "$status" -eq 0 ]
	[ -e "/sys/class/net/shoal-br$LAB_ID" ]
}

@test "bad host counts, host names and lab ids are refused" {
	run lab up 0
	[ "$status" -ne 0 ]
	run lab up 33
	[ "$status" -ne 0 ]
	run lab up many
	[ "$status" -ne 0 ]
	run lab addr h0
	[ "$status" -ne 0 ]
	run lab addr x1
	[ "$status" -ne 0 ]
	run env SHOAL_LAB_ID=12 "$LAB_SCRIPT" status
	[ "$status" -ne 0 ]
	[[ "$output" == *"SHOAL_LAB_ID must be a digit"* ]]
	run lab addr h3
	[ "$output" = "10.213.$LAB_ID.13" ]
}
