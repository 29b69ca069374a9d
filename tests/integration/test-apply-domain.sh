#!/usr/bin/env bash
# The libvirt-native way to make a router, on a real libvirtd: a domain written by
# virt-install (two macvtap NICs on veths) is defined, a policy attached with
# `virsh metadata --set`, and `virt-router apply --domain` shows the change (--dry-run
# changes nothing), redefines it, and then has nothing left to change. The domain starts
# with the hook installed, says VR-READY on its console and forwards UDP between two
# network namespaces. A policy changed while it runs reaches only the persistent
# definition. Needs root, libvirt, QEMU, virt-install and the guest image (make guest).
set -euo pipefail

# shellcheck source=tests/lib/integration.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/integration.sh"
vr_require_root_or_skip ip python3 virt-install diff
vr_require_built "$VIRT_ROUTER" "$HOOK" "$TUNE"
if [[ ! -r $IMAGES/vmlinuz || ! -r $IMAGES/initrd.img ]]; then
	echo "SKIP: no guest image in $IMAGES (make guest; test-guest-boot.sh builds it)"
	exit 77
fi

# The domain $dom between namespaces A ($nsa) and B ($nsb); its NICs sit on wa and la.
vr_one_router_setup d apply
conf=$tmp/host.conf state=$tmp/state
cat >"$conf" <<CONF
[host]
router-cpus=1
housekeeping-cpus=0
mode=best-effort
state-dir=$state
CONF
vr_hook_install qemu "virt-router-apply-$$" "$conf" "$HOOK" "$TUNE"

# The domain as a user makes it: virt-install's NICs (no model given: its default, not
# virtio) and the console logged to a file, to read VR-READY from.
# Its VNC password must survive the redefine and never be shown.
vnc_pw=vrpw$((RANDOM % 10000)) # QEMU takes 8 characters at most
if ! virt-install --connect qemu:///system --print-xml --name "$dom" --virt-type qemu \
	--memory 256 --vcpus 1 --disk none --osinfo detect=on,require=off --graphics "vnc,listen=127.0.0.1,password=$vnc_pw" \
	--boot "kernel=$IMAGES/vmlinuz,initrd=$IMAGES/initrd.img,kernel_args=console=ttyS0" \
	--network "type=direct,source=$wa,source.mode=bridge" \
	--network "type=direct,source=$la,source.mode=bridge" \
	--serial "pty,log.file=$console" >"$tmp/install.xml" 2>"$tmp/err"; then
	fail "virt-install --print-xml: $(tr '\n' ' ' <"$tmp/err")"
	vr_test_summary
	exit 1
fi
virsh -q define "$tmp/install.xml" >/dev/null
policy() { # [CPU-ATTRS]: the policy, as one writes it on the command line
	echo "<router><cpu placement='shared' cpus='1'${1:-}/><port name='wan' mode='macvtap' dev='$wa'/><port name='lan' mode='macvtap' dev='$la'/><address port='wan' ip='192.0.2.1/24'/><address port='lan' ip='198.51.100.1/24'/></router>"
}
if virsh -q metadata "$dom" urn:virt-router:1 --key vr --config --set "$(policy)" >/dev/null; then
	pass "policy attached with virsh metadata --set --config"
else
	fail "virsh metadata --set"
fi
echo "# libvirt stored it as:"
virsh dumpxml --inactive "$dom" | sed -n '/<metadata>/,/<\/metadata>/s/^/#   /p'

apply() { # ARGS...: virt-router apply --domain with the test's config; sets rc
	rc=0
	"$VIRT_ROUTER" apply --domain "$dom" --config "$conf" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}
dumpxml() { virsh dumpxml --inactive --security-info "$dom"; }

dumpxml >"$tmp/before.xml"
apply --dry-run
if ((rc == 0)) && grep -qxF -- "--- a/$dom.xml" "$tmp/out" && grep -qF "+      <alias name='ua-vr-wan'/>" "$tmp/out"; then
	pass "apply --domain --dry-run shows a diff ($(grep -c '^[-+][^-+]' "$tmp/out") lines change)"
	sed 's/^/#   /' "$tmp/out"
else
	fail "apply --dry-run: exit $rc"; sed 's/^/  | /' "$tmp/out" "$tmp/err"
fi
dumpxml >"$tmp/after-dry.xml"
cmp -s "$tmp/before.xml" "$tmp/after-dry.xml" && pass "--dry-run leaves the definition as it was" ||
	{ fail "--dry-run changed the definition"; diff -u "$tmp/before.xml" "$tmp/after-dry.xml" | head -20; }

apply
if ((rc == 0)) && grep -qF "domain '$dom' redefined" "$tmp/err" && grep -qF "+  <cputune>" "$tmp/out"; then
	pass "apply --domain redefines"
else
	fail "apply --domain: exit $rc"; sed 's/^/  | /' "$tmp/out" "$tmp/err"
fi
dumpxml >"$tmp/applied.xml"
nics=$(grep -c "<interface type='direct'" "$tmp/applied.xml" || true)
if grep -qF "<alias name='ua-vr-lan'/>" "$tmp/applied.xml" && grep -qF "<vcpupin vcpu='0' cpuset='1'/>" "$tmp/applied.xml" &&
	grep -qF "<model type='virtio'/>" "$tmp/applied.xml" && ((nics == 2)); then
	pass "libvirt holds the router: virt-install's two NICs are the ports (virtio), vCPU pinned"
else
	fail "the redefined domain ($nics direct NICs)"; sed -n '/<cputune>/,/<\/cputune>/p;/<interface/,/<\/interface>/p' "$tmp/applied.xml"
fi
grep -qF "passwd='$vnc_pw'" "$tmp/applied.xml" && pass "the redefined domain keeps its VNC password" ||
	{ fail "the VNC password is lost"; grep -F "<graphics" "$tmp/applied.xml"; }
if grep -qF "$vnc_pw" "$tmp/out" "$tmp/err"; then fail "apply --domain printed the VNC password"; else pass "apply --domain printed no secret"; fi

apply
if ((rc == 0)) && [[ ! -s $tmp/out ]] && grep -qF "domain '$dom' already honours its router policy: nothing to change" "$tmp/err"; then
	pass "a second apply --domain has nothing to change"
else
	fail "second apply: exit $rc"; sed 's/^/  | /' "$tmp/out" "$tmp/err"
fi

t0=$(date +%s%N)
if ! virsh -q start "$dom" >/dev/null 2>"$tmp/err"; then
	fail "virsh start: $(tr '\n' ' ' <"$tmp/err")"
fi
ready=$(vr_console_ready "$console")
if [[ $ready == *"ports=wan,lan"* || $ready == *"ports=lan,wan"* ]]; then
	pass "started, ready $((($(date +%s%N) - t0) / 1000000)) ms after virsh start: $(tr -d '\r' <<<"$ready")"
else
	fail "no VR-READY with both ports on the console within 30 s"; tail -c 1500 "$console" 2>/dev/null | tr -d '\r'
fi
grep -qF "\"$dom\"" "$state/ledger" 2>/dev/null && pass "the hook took the router in (ledger)" ||
	fail "the hook did not record $dom in $state/ledger"

vr_udp_a_to_b 20 100 >/dev/null # ARP on both sides
got=$(vr_udp_a_to_b 300 300)
if [[ $got =~ ^[0-9]+$ ]] && ((got >= 295)); then
	pass "forwarded $got of 300 UDP packets from $nsa to $nsb"
else
	fail "forwarded '$got' of 300 UDP packets"
fi

# A policy changed while the router runs goes into the persistent definition only.
virsh -q metadata "$dom" urn:virt-router:1 --key vr --config --set "$(policy " shares='2048'")" >/dev/null
apply
if ((rc == 0)) && grep -qF "domain '$dom' is running: the new definition takes effect at its next start" "$tmp/err" &&
	dumpxml | grep -qF "<shares>2048</shares>" && ! virsh dumpxml "$dom" | grep -qF "<shares>2048</shares>"; then
	pass "apply --domain of a running router: the next start gets it, the running guest is untouched"
else
	fail "apply --domain while running: exit $rc"; sed 's/^/  | /' "$tmp/err"
fi

vr_test_summary
