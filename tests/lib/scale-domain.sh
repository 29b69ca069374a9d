# shellcheck shell=bash
# scale_domain TYPE PORTS [ADDRESSES [ROUTES]]: a router domain on stdout with PORTS
# ports (macvtap for kvm, macvlan for lxc, on eth0-eth3), ADDRESSES addresses (default:
# one per port, 10.X.Y.1/24) and ROUTES routes via the first port's subnet. Used by
# tests/test-scale.sh and tests/bench/bench-scale.sh.
scale_domain() {
	awk -v type="$1" -v ports="$2" -v addrs="${3:-$2}" -v routes="${4:-0}" 'BEGIN {
		mode = type == "lxc" ? "macvlan" : "macvtap"
		printf "<domain type=\x27%s\x27>\n  <name>scale</name>\n  <vcpu placement=\x27static\x27>2</vcpu>\n", type
		print "  <metadata>\n    <vr:router xmlns:vr=\x27urn:virt-router:1\x27>"
		for (i = 0; i < ports; i++)
			printf "      <vr:port name=\x27p%d\x27 mode=\x27%s\x27 dev=\x27eth%d\x27/>\n", i, mode, i % 4
		for (i = 0; i < addrs; i++)
			printf "      <vr:address port=\x27p%d\x27 ip=\x2710.%d.%d.1/24\x27/>\n", ports ? i % ports : 0, int(i / 256) % 256, i % 256
		for (i = 0; i < routes; i++)
			printf "      <vr:route to=\x27172.%d.%d.0/24\x27 via=\x2710.0.0.2\x27/>\n", 16 + int(i / 256) % 16, i % 256
		print "    </vr:router>\n  </metadata>"
		if (type == "lxc")
			print "  <os><type>exe</type><init>/sbin/init</init></os>"
		print "  <devices>\n  </devices>\n</domain>"
	}'
}
