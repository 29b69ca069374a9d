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

# vr_udp_through SRC_NS DST_NS DST COUNT RATE
# Sends COUNT small UDP datagrams at RATE per second from SRC_NS to DST (an address in
# DST_NS, port 9999) and prints how many a receiver there counted (it stops 2 s after
# the last one). Slow and exact, for checks; benches use virt-router-traffic.
vr_udp_through() {
	local src=$1 dst_ns=$2 dst=$3 count=$4 rate=$5 out rpid
	out=$(mktemp "${TMPDIR:-/tmp}/vr-udp.XXXXXX")
	ip netns exec "$dst_ns" python3 - "$dst" >"$out" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9999))
s.settimeout(2.0)
n = 0
try:
    while True:
        s.recv(2048)
        n += 1
except socket.timeout:
    pass
print(n)
PY
	rpid=$!
	sleep 0.3
	ip netns exec "$src" python3 - "$dst" "$count" "$rate" <<'PY'
import socket, sys, time
dst, count, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t0 = time.monotonic()
for i in range(count):
    s.sendto(b"x" * 18, (dst, 9999))
    delay = t0 + (i + 1) / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
PY
	wait "$rpid" || true
	cat "$out"
	rm -f "$out"
}
