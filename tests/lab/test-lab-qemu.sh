#!/usr/bin/env bash
# The lab's QEMU (issue 17): the private QEMU 10 of scripts/lab-qemu.sh emulates what the
# lab needs and 7.2 does not, and boots the project's guest kernel with it.
# Checks: `-device help` lists igb (82576, SR-IOV) and intel-iommu (VT-d); the system's
# QEMU, the one libvirt runs, is untouched; under TCG with q35, a split irqchip,
# intel-iommu (intremap, caching-mode) and an igb on a user-mode netdev (restricted: no
# traffic leaves QEMU), the kernel on the serial console enables the IOMMU and IRQ
# remapping and finds the 82576 PF (8086:10c9) behind the IOMMU; the wrapper's mount
# namespace is gone afterwards.
# Fetches QEMU 10 first (quick when cached); the guest image comes from `make guest`.
# Needs root. Environment: LAB_QEMU (a QEMU to test instead of the private one; the
# system's 7.2 must fail), LAB_QEMU_DIR, GUEST_IMAGE_DIR, LAB_BOOT_TIMEOUT (s, 120).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=$(cd "${top_srcdir:-$here/../..}" && pwd)
# shellcheck source=tests/lib/result.sh
. "$top_srcdir/tests/lib/result.sh"
IMAGES=${GUEST_IMAGE_DIR:-$top_srcdir/images}
LAB_QEMU_DIR=${LAB_QEMU_DIR:-$top_srcdir/images/.lab/qemu-10}
TIMEOUT=${LAB_BOOT_TIMEOUT:-120}
MODDIR=/usr/lib/x86_64-linux-gnu/qemu

skip() { echo "SKIP: $*"; exit 77; }
finish() { vr_test_summary; exit; }
[[ $EUID -eq 0 ]] || skip "needs root (the QEMU wrapper bind-mounts in a mount namespace)"
for cmd in unshare timeout; do
	command -v "$cmd" >/dev/null || skip "'$cmd' not found"
done

if [[ -z ${LAB_QEMU:-} ]]; then
	rc=0
	out=$("$top_srcdir/scripts/lab-qemu.sh" --out "$LAB_QEMU_DIR" 2>&1) || rc=$?
	((rc == 77)) && skip "QEMU 10 cannot be had here: $(tail -n1 <<<"$out")"
	if ((rc != 0)); then
		echo "$out"
		fail "scripts/lab-qemu.sh failed (exit $rc)"
		finish
	fi
	sed 's/^/# /' <<<"$out"
	LAB_QEMU=$LAB_QEMU_DIR/qemu-system-x86_64
fi
mounts_before=$(grep -c " $MODDIR " /proc/self/mountinfo || true)
system_before=$(qemu-system-x86_64 --version 2>/dev/null | head -n1 || true)

version=$("$LAB_QEMU" --version 2>&1 | head -n1 || true)
major=$(sed -n 's/^QEMU emulator version \([0-9]*\)\..*/\1/p' <<<"$version")
((${major:-0} >= 10)) && pass "lab QEMU: $version" || fail "lab QEMU is not 10 or newer: '$version'"

devices=$("$LAB_QEMU" -machine none -device help 2>&1 || true)
grep -q '^name "igb", bus PCI' <<<"$devices" && pass "-device help lists igb: $(grep '^name "igb"' <<<"$devices")" ||
	fail "-device help does not list igb (an SR-IOV NIC)"
grep -q '^name "intel-iommu"' <<<"$devices" && pass "-device help lists intel-iommu: $(grep '^name "intel-iommu"' <<<"$devices")" ||
	fail "-device help does not list intel-iommu (VT-d)"

# The system's QEMU (libvirt's) is still what it was, and the namespace left no mount.
system_after=$(qemu-system-x86_64 --version 2>/dev/null | head -n1 || true)
if [[ $system_after != "$system_before" ]]; then
	fail "system QEMU changed: '$system_before' -> '$system_after'"
elif [[ $system_after == "$version" ]]; then
	fail "the lab QEMU is the system's own: $version"
else
	pass "system QEMU unchanged beside it: ${system_after:-none}"
fi

if [[ ! -r $IMAGES/vmlinuz || ! -r $IMAGES/initrd.img ]]; then
	echo "# SKIP boot: no guest image in $IMAGES (make guest)"
	vr_test_summary || exit 1
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vrtest-lab-qemu.XXXXXX")
console=$tmp/console.log
qemu_pid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	trap '' INT TERM
	if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# restrict=on: the guest reaches nothing outside QEMU; the lab's traffic will have its
# own backend (tap), this only gives the PF a link.
netdev=user,id=lab0,restrict=on
"$LAB_QEMU" -netdev help 2>&1 | grep -qx user || netdev=socket,id=lab0,udp=127.0.0.1:9,localaddr=127.0.0.1:0
start=$SECONDS
# The unshare and sh of the wrapper exec QEMU: $! is QEMU itself.
"$LAB_QEMU" -machine q35,kernel-irqchip=split,accel=tcg -m 512 -smp 2 -nodefaults -no-user-config \
	-display none -no-reboot \
	-device intel-iommu,intremap=on,caching-mode=on \
	-netdev "$netdev" -device igb,netdev=lab0,mac=52:54:00:17:00:01 \
	-kernel "$IMAGES/vmlinuz" -initrd "$IMAGES/initrd.img" -append "console=ttyS0 intel_iommu=on panic=-1" \
	-serial file:"$console" </dev/null >"$tmp/qemu.out" 2>&1 &
qemu_pid=$!

# The guest's vr-init, without a configuration, reports VR-ERROR and then VR-READY with
# no ports (guest/vr-init.c): by then the kernel has enumerated PCI and the IOMMU.
outcome=timeout
while ((SECONDS - start < TIMEOUT)); do
	if grep -a -q '^VR-READY' "$console" 2>/dev/null; then outcome=ready; break; fi
	if grep -a -q 'Kernel panic' "$console" 2>/dev/null; then outcome=panic; break; fi
	kill -0 "$qemu_pid" 2>/dev/null || { outcome=exited; break; }
	sleep 0.2
done
secs=$((SECONDS - start))
kill "$qemu_pid" 2>/dev/null || true
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=
log=$(tr -d '\r' <"$console" 2>/dev/null || true)
show_console() { tail -n 25 <<<"$log" | sed 's/^/# console: /'; sed 's/^/# qemu: /' "$tmp/qemu.out"; }

case $outcome in
ready) pass "guest kernel booted to vr-init under TCG in ${secs} s: $(grep -a -m1 '^VR-READY' <<<"$log")" ;;
*) fail "guest did not reach VR-READY ($outcome after ${secs} s)"; show_console ;;
esac
line=$(grep -a -m1 'DMAR: IOMMU enabled' <<<"$log" || true)
[[ -n $line ]] && pass "kernel: ${line#*] }" || fail "no 'DMAR: IOMMU enabled' on the console"
line=$(grep -a -m1 'DMAR-IR: Enabled IRQ remapping' <<<"$log" || true)
[[ -n $line ]] && pass "kernel: ${line#*] }" || fail "no 'DMAR-IR: Enabled IRQ remapping' on the console"
# "pci 0000:00:01.0: [8086:10c9] type 00 class 0x020000 ..." and the same BDF in a group
line=$(grep -a -m1 'pci [0-9a-f:.]*: \[8086:10c9\]' <<<"$log" || true)
bdf=$(sed -n 's/.*pci \([0-9a-f:.]*\): \[8086:10c9\].*/\1/p' <<<"$line")
[[ -n $line ]] && pass "kernel: the 82576 PF: ${line#*] }" || fail "no PCI device 8086:10c9 (igb) on the console"
group=$(grep -a -m1 "pci ${bdf:-none}: Adding to iommu group" <<<"$log" || true)
[[ -n $group ]] && pass "kernel: the PF is behind the IOMMU: ${group#*] }" || fail "the igb PF ${bdf:-?} is in no IOMMU group"

mounts_after=$(grep -c " $MODDIR " /proc/self/mountinfo || true)
((mounts_after == mounts_before)) && pass "no mount left on $MODDIR ($mounts_after before and after)" ||
	fail "mounts on $MODDIR: $mounts_before before, $mounts_after after"
finish
