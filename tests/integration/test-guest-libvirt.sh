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

# The domain $dom between namespaces A ($nsa) and B ($nsb): the macvtaps sit on wa and
# la, the peers wb and lb are in the namespaces.
vr_one_router_setup g guest

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
ready=$(vr_console_ready "$console")
t1=$(date +%s%N)
if [[ -n $ready ]]; then
	pass "guest ready $(((t1 - t0) / 1000000)) ms after virsh start: $ready"
else
	fail "no VR-READY on the console within 30 s"; tail -c 2000 "$console" 2>/dev/null | tr -d '\r'
fi
[[ $ready == *"ports=wan,lan"* || $ready == *"ports=lan,wan"* ]] && pass "the guest found both ports by their MACs" || fail "ports in '$ready'"

# UDP from A to B through the router. The first packets also resolve ARP on both
# sides: warm up.
vr_udp_a_to_b 20 100 >/dev/null
got=$(vr_udp_a_to_b 500 500)
if ((got >= 490)); then pass "forwarded $got of 500 packets at 500 pps (below the 2 kpps policer)"; else fail "forwarded $got of 500 at 500 pps"; fi
rx=$(ip netns exec "$nsb" cat "/sys/class/net/$lb/statistics/rx_packets")
tx=$(ip netns exec "$nsa" cat "/sys/class/net/$wb/statistics/tx_packets")
((rx >= got && tx >= 500)) && pass "counters: A sent $tx, B received $rx" || fail "counters: A tx $tx, B rx $rx"
got=$(vr_udp_a_to_b 4000 20000)
if ((got < 3000)); then pass "policer: $got of 4000 packets sent at ~20 kpps passed a 2 kpps bucket of 50"; else fail "policer let $got of 4000 through"; fi

vr_test_summary
