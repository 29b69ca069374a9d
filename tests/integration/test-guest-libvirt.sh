#!/usr/bin/env bash
# The forwarding guest in a real libvirt domain (type='qemu'): two macvtap ports on
# veths whose peers sit in two network namespaces. The guest must come up (VR-READY on
# its serial console), forward UDP from one namespace to the other (counted on both
# sides), and its ingress policer must drop above its rate and pass below it.
# Builds the guest image (make guest) when images/ has none. Needs root.
set -euo pipefail

# shellcheck source=tests/lib/integration.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/integration.sh"
vr_require_root_or_skip ip python3
vr_require_built "$VIRT_ROUTER"
if [[ ! -r $IMAGES/vmlinuz || ! -r $IMAGES/initrd.img ]]; then
	command -v debootstrap >/dev/null || { echo "SKIP: no guest image and no debootstrap to build one"; exit 77; }
	echo "# building the guest image (make guest)"
	make -C "$top_builddir" guest GUEST_IMAGE_DIR="$IMAGES" >"${TMPDIR:-/tmp}/vrtest-guest-build.log" 2>&1 ||
		{ tail -20 "${TMPDIR:-/tmp}/vrtest-guest-build.log"; echo "FAIL: make guest"; echo "0 passed, 1 failed"; exit 1; }
fi

tag=$$
dom="vrtest-$tag-guest"
nsa="vrta$tag" nsb="vrtb$tag"
wa="vgwa$tag" wb="vgwb$tag" la="vgla$tag" lb="vglb$tag"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vrtest-guest.XXXXXX")
console=$tmp/console.log
cleanup() {
	trap '' INT TERM
	timeout 30 virsh -q destroy "$dom" >/dev/null 2>&1 || true
	timeout 30 virsh -q undefine "$dom" >/dev/null 2>&1 || true
	ip netns del "$nsa" 2>/dev/null || true
	ip netns del "$nsb" 2>/dev/null || true
	ip link del "$wa" 2>/dev/null || true
	ip link del "$la" 2>/dev/null || true
	rm -rf "$tmp"
	vr_libvirtd_stop
}
trap cleanup EXIT
trap 'exit 1' INT TERM
vr_libvirtd_start_or_fail

# wan: ns A <-> router, lan: router <-> ns B. The macvtaps sit on wa and la; the peers
# wb and lb go into the namespaces.
vr_host_side "$nsa" "$wa" "$wb" 192.0.2.2/24 192.0.2.1
vr_host_side "$nsb" "$la" "$lb" 198.51.100.2/24 198.51.100.1

cat >"$tmp/policy.xml" <<XML
<vr:router xmlns:vr='urn:virt-router:1'>
  <vr:port name='wan' mode='macvtap' dev='$wa' queue='50'/>
  <vr:port name='lan' mode='macvtap' dev='$la' queue='50'/>
  <vr:address port='wan' ip='192.0.2.1/24'/>
  <vr:address port='lan' ip='198.51.100.1/24'/>
  <vr:guarantee rate='2kpps' burst='50' delay='50ms'/>
  <vr:strip devices='sound graphics video input usb memballoon'/>
</vr:router>
XML
"$VIRT_ROUTER" render kvm-macvtap --type qemu -n "$dom" --memory 256 --image-dir "$IMAGES" --policy "$tmp/policy.xml" >"$tmp/dom.xml"
# The serial console into a file, to read the guest's VR-READY line.
python3 - "$tmp/dom.xml" "$console" <<'PY'
import sys
p, log = sys.argv[1:]
s = open(p).read()
s = s.replace("<serial type='pty'>", "<serial type='pty'>\n      <log file='%s' append='off'/>" % log, 1)
open(p, "w").write(s)
PY
virsh -q define "$tmp/dom.xml" >/dev/null
t0=$(date +%s%N)
virsh -q start "$dom" >/dev/null
ready=""
for ((i = 0; i < 600; i++)); do
	ready=$(grep -a -m1 "VR-READY" "$console" 2>/dev/null || true)
	[[ -n $ready ]] && break
	sleep 0.05
done
t1=$(date +%s%N)
if [[ -n $ready ]]; then
	pass "guest ready $(((t1 - t0) / 1000000)) ms after virsh start: $ready"
else
	fail "no VR-READY on the console within 30 s"; tail -c 2000 "$console" 2>/dev/null | tr -d '\r'
fi
[[ $ready == *"ports=wan,lan"* || $ready == *"ports=lan,wan"* ]] && pass "the guest found both ports by their MACs" || fail "ports in '$ready'"

# UDP from A to B through the router: COUNT packets at RATE, counted in B.
udp() { vr_udp_through "$nsa" "$nsb" 198.51.100.2 "$1" "$2"; }
# The first packets also resolve ARP on both sides: warm up.
udp 20 100 >/dev/null
got=$(udp 500 500)
if ((got >= 490)); then pass "forwarded $got of 500 packets at 500 pps (below the 2 kpps policer)"; else fail "forwarded $got of 500 at 500 pps"; fi
rx=$(ip netns exec "$nsb" cat "/sys/class/net/$lb/statistics/rx_packets")
tx=$(ip netns exec "$nsa" cat "/sys/class/net/$wb/statistics/tx_packets")
((rx >= got && tx >= 500)) && pass "counters: A sent $tx, B received $rx" || fail "counters: A tx $tx, B rx $rx"
got=$(udp 4000 20000)
if ((got < 3000)); then pass "policer: $got of 4000 packets sent at ~20 kpps passed a 2 kpps bucket of 50"; else fail "policer let $got of 4000 through"; fi

vr_test_summary
