#!/bin/sh
# lab-vf-entry.sh: runs INSIDE the lab VM as its lab-entry (tests/lab/test-lab-vf.sh
# copies it into the vrlab share). Issue 17 item 1, first half: the igb PF's VFs on a
# real kernel, and virt-router's own VF lookup, IOMMU group check and vfio-pci binding
# on them. The project's build comes in read-only through a second 9p share, vrbuild.
# Prints PASS:/FAIL:/SKIP: lines on the console; the host counts them.
# Exit status: 0 all passed, 1 something failed.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
failed=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failed=1; }
info() { echo "# $*"; }
finish() { echo "LAB-VF-END failed=$failed"; exit "$failed"; }
# shellcheck disable=SC2317 # the predicates below are called through wait_for
# wait_for SECONDS CMD...: polls until CMD succeeds (udev and drivers probe asynchronously)
wait_for() {
	n=$(($1 * 5))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.2
		n=$((n - 1))
	done
	return 1
}
link_base() { l=$(readlink "$1" 2>/dev/null) && basename "$l"; }
driver_of() { link_base "/sys/bus/pci/devices/$1/driver"; }

# --- the project's build, from the host --------------------------------------
B=/mnt/vrbuild
mkdir -p "$B"
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro vrbuild "$B"; then
	fail "cannot mount the vrbuild 9p share (the host's build directory)"
	finish
fi
missing=''
for bin in virt-router virt-router-hook virt-router-hook-full; do
	[ -x "$B/$bin" ] || { fail "$B/$bin is not in the shared build"; finish; }
	m=$(ldd "$B/$bin" 2>&1 | sed -n 's/^[[:space:]]*\([^ ]*\) => not found.*/\1/p' | tr '\n' ' ')
	[ -n "$m" ] && missing="$missing$bin: $m"
done
if [ -n "$missing" ]; then
	fail "the host's binaries lack shared libraries in the lab: $missing"
	finish
fi
pass "the host's build runs here: ldd finds every library of virt-router, virt-router-hook, virt-router-hook-full ($(ldd "$B/virt-router" | grep -c '=>') for virt-router)"

# --- the igb PF ---------------------------------------------------------------
pf_pci=''
for d in /sys/bus/pci/devices/*; do
	if [ "$(cat "$d/vendor")" = 0x8086 ] && [ "$(cat "$d/device")" = 0x10c9 ]; then
		pf_pci=$(basename "$d")
		break
	fi
done
if [ -z "$pf_pci" ]; then
	fail "no 82576 PF (8086:10c9) under /sys/bus/pci/devices"
	finish
fi
PFDEV=/sys/bus/pci/devices/$pf_pci
pass "igb PF $pf_pci (8086:10c9), sriov_totalvfs $(cat "$PFDEV/sriov_totalvfs" 2>/dev/null || echo '?'), iommu_group $(link_base "$PFDEV/iommu_group" || echo none)"
[ -n "$(driver_of "$pf_pci")" ] || modprobe igb
has_netdev() { [ -n "$(ls "$PFDEV/net" 2>/dev/null)" ]; }
if ! wait_for 20 has_netdev; then
	fail "PF $pf_pci: no network interface after modprobe igb (driver: $(driver_of "$pf_pci" || echo none))"
	finish
fi
# udev may rename it (eth0 -> enp0s1): wait until the name holds still
pf=$(ls "$PFDEV/net")
sleep 1
pf=$(ls "$PFDEV/net")
ip link set "$pf" up 2>/dev/null || true
pass "PF bound to $(driver_of "$pf_pci"), netdev $pf"

# --- the VFs --------------------------------------------------------------------
if ! echo 2 >"$PFDEV/sriov_numvfs"; then
	fail "echo 2 > $PFDEV/sriov_numvfs refused"
	finish
fi
two_vfs() { [ -L "$PFDEV/virtfn1" ]; }
wait_for 10 two_vfs || true
vfs=''
for i in 0 1; do
	vf=$(link_base "$PFDEV/virtfn$i") || { fail "sriov_numvfs=2 but no $PFDEV/virtfn$i"; continue; }
	vfs="$vfs $vf"
	dev=$(cat "/sys/bus/pci/devices/$vf/vendor"):$(cat "/sys/bus/pci/devices/$vf/device")
	back=$(link_base "/sys/bus/pci/devices/$vf/physfn" || echo none)
	group=$(link_base "/sys/bus/pci/devices/$vf/iommu_group" || echo none)
	if [ "$dev" = 0x8086:0x10ca ] && [ "$back" = "$pf_pci" ] && [ "$group" != none ]; then
		pass "VF virtfn$i -> $vf ($dev, physfn $back, iommu_group $group, driver $(driver_of "$vf" || echo none))"
	else
		fail "VF virtfn$i -> $vf: expected 0x8086:0x10ca, physfn $pf_pci and an iommu_group; got $dev, physfn $back, iommu_group $group"
	fi
done
set -- $vfs
[ $# -eq 2 ] || finish
vf0=$1 vf1=$2
info "sriov_numvfs $(cat "$PFDEV/sriov_numvfs"); lspci: $(lspci -nn -s "${vf0#0000:}" 2>/dev/null)"

# igbvf binds a VF (the netdev a container would be given)
[ -n "$(driver_of "$vf1")" ] || modprobe igbvf
vf1_netdev() { [ "$(driver_of "$vf1")" = igbvf ] && [ -n "$(ls "/sys/bus/pci/devices/$vf1/net" 2>/dev/null)" ]; }
if wait_for 20 vf1_netdev; then
	sleep 1 # udev renames it (eth1 -> enp0s1v1)
	pass "igbvf binds VF $vf1: netdev $(ls "/sys/bus/pci/devices/$vf1/net")"
else
	fail "igbvf does not bind VF $vf1 (driver: $(driver_of "$vf1" || echo none))"
fi

# --- virt-router's VF lookup against this sysfs -----------------------------------
T=/run/vr-lab-vf
mkdir -p "$T"
printf '[host]\n' >"$T/host.conf"
cat >"$T/vflab.xml" <<EOF
<domain type='kvm'>
  <name>vflab</name>
  <vcpu>1</vcpu>
  <metadata>
    <vr:router xmlns:vr='urn:virt-router:1'>
      <vr:port name='wan' mode='vf' pf='$pf'/>
    </vr:router>
  </metadata>
  <devices/>
</domain>
EOF
out=$("$B/virt-router" check --config "$T/host.conf" --sysroot / "$T/vflab.xml" 2>&1)
rc=$?
echo "$out" | sed 's/^/# check: /'
if [ $rc -eq 0 ] && echo "$out" | grep -q "of VF $vf0"; then
	pass "virt-router check --sysroot / of <vr:port mode='vf' pf='$pf'/>: valid, VF $vf0 looked up"
else
	fail "virt-router check --sysroot / of pf='$pf' (exit $rc): expected VF $vf0 from the real sysfs"
fi
if "$B/virt-router" apply --config "$T/host.conf" --sysroot / -o "$T/applied.xml" "$T/vflab.xml" 2>"$T/apply.err"; then
	addr=$(sed -n "s/.*<address type='pci' domain='0x\([0-9a-f]*\)' bus='0x\([0-9a-f]*\)' slot='0x\([0-9a-f]*\)' function='0x\([0-9a-f]*\)'.*/\1:\2:\3.\4/p" "$T/applied.xml" | head -n1)
	if [ "$addr" = "$vf0" ]; then
		pass "virt-router apply --sysroot / gives port wan <interface type='hostdev'> of VF $addr"
	else
		fail "virt-router apply --sysroot /: hostdev address '$addr', expected $vf0"
		sed 's/^/# /' "$T/applied.xml"
	fi
else
	fail "virt-router apply --sysroot / failed: $(cat "$T/apply.err")"
	finish
fi

# --- the hook's prepare: IOMMU group check and vfio-pci binding ---------------------
# managed='no': the VF is the admin's, and the hook binds it to vfio-pci (libvirt would
# for managed='yes'). Everything else as libvirt calls the hook; VIRT_ROUTER_ROOT unset:
# the real /sys.
sed "s/managed='yes'/managed='no'/" "$T/applied.xml" >"$T/unmanaged.xml"
vfio_loaded=$(test -d /sys/bus/pci/drivers/vfio-pci && echo yes || echo no)
info "before prepare: VF $vf0 driver $(driver_of "$vf0" || echo none), vfio-pci loaded: $vfio_loaded"
hook() { # OP
	VIRT_ROUTER_STATE_DIR=$T/state VIRT_ROUTER_CONFIG=$T/host.conf VIRT_ROUTER_NO_TUNER=1 VIRT_ROUTER_LOG=stderr \
		"$B/virt-router-hook" vflab "$1" begin - <"$T/unmanaged.xml" >"$T/hook.out" 2>"$T/hook.err"
}
# vfio-pci is a module that nothing has loaded yet: prepare must refuse, naming the
# cause, and leave the VF on its driver (it used to unbind it for no driver at all)
if [ "$vfio_loaded" = no ]; then
	hook prepare
	rc=$?
	sed 's/^/# hook: /' "$T/hook.err"
	drv=$(driver_of "$vf0" || echo none)
	if [ $rc -ne 0 ] && grep -q 'the vfio-pci driver is not loaded' "$T/hook.err" && [ "$drv" = igbvf ]; then
		pass "virt-router-hook prepare without vfio-pci loaded: refused with the cause, VF $vf0 still on igbvf"
	else
		fail "virt-router-hook prepare without vfio-pci loaded (exit $rc): VF $vf0 driver '$drv'; expected a refusal naming vfio-pci and igbvf kept"
	fi
	modprobe vfio-pci
fi
hook prepare
rc=$?
sed 's/^/# hook: /' "$T/hook.err"
drv=$(driver_of "$vf0" || echo none)
group=$(link_base "/sys/bus/pci/devices/$vf0/iommu_group" || echo none)
if [ $rc -eq 0 ] && [ "$drv" = vfio-pci ] && [ -c "/dev/vfio/$group" ]; then
	pass "virt-router-hook prepare: IOMMU group $group checked, VF $vf0 moved from igbvf to vfio-pci through driver_override, /dev/vfio/$group exists"
else
	fail "virt-router-hook prepare (exit $rc): VF $vf0 driver is '$drv' (expected vfio-pci), /dev/vfio/$group $(test -c "/dev/vfio/$group" && echo exists || echo missing)"
fi
info "driver_override of $vf0: $(cat "/sys/bus/pci/devices/$vf0/driver_override")"
hook release
# The other VF stays with igbvf: the hook touched only its own
[ "$(driver_of "$vf1")" = igbvf ] && pass "VF $vf1 left on igbvf" || fail "VF $vf1 moved to '$(driver_of "$vf1" || echo none)'"

# The real layout, for fake trees copied from it (tests/data/sysroot)
for l in "$PFDEV"/virtfn* "/sys/bus/pci/devices/$vf0/physfn" "/sys/bus/pci/devices/$vf0/iommu_group" \
	"/sys/bus/pci/devices/$vf0/driver" "/sys/class/net/$pf" "/sys/bus/pci/devices/$pf_pci"; do
	info "link $l -> $(readlink "$l")"
done
umount "$B" 2>/dev/null || true
finish
