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

# scale_root DIR: a fake host under DIR/root (the SR-IOV sysfs of tests/data, CPUs 0-3)
# and its host config DIR/host.conf, exported for the hook and the CLI as the tests do.
scale_root() {
	local top=${top_srcdir:-$top}
	cp -a "$top/tests/data/sysroot/sriov" "$1/root"
	chmod -R u+w "$1/root"
	mkdir -p "$1/root/proc/sys/kernel" "$1/root/sys/devices/system/cpu" "$1/root/run/libvirt/qemu"
	echo 0-3 >"$1/root/sys/devices/system/cpu/online"
	printf '[host]\nrouter-cpus=1-3\nhousekeeping-cpus=0\n' >"$1/host.conf"
	export VIRT_ROUTER_ROOT=$1/root VIRT_ROUTER_STATE_DIR=$1/state VIRT_ROUTER_CONFIG=$1/host.conf
	export VIRT_ROUTER_NO_TUNER=1 VIRT_ROUTER_LOG=stderr
}
