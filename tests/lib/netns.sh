# shellcheck shell=bash
# Hosts on either side of a router, in network namespaces of this machine.

# vr_host_side NS VETH PEER ADDR/PREFIX GATEWAY
# Makes namespace NS holding PEER, the far end of a new veth VETH; VETH stays in the
# root namespace, up, for the router's macvtap to sit on. PEER gets ADDR/PREFIX and a
# default route via GATEWAY (the router's address on that link).
vr_host_side() {
	local ns=$1 veth=$2 peer=$3 addr=$4 gw=$5
	ip netns add "$ns"
	ip link add "$veth" type veth peer name "$peer"
	ip link set "$peer" netns "$ns"
	ip link set "$veth" up
	ip -n "$ns" addr add "$addr" dev "$peer"
	ip -n "$ns" link set "$peer" up
	ip -n "$ns" route add default via "$gw"
}
