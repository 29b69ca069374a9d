#!/usr/bin/env bash
# The lab's pktgen step (issue 17, item 8): the lab image boots under the private QEMU 10
# (q35, TCG, 2 vCPUs, 2 GiB, no NIC). Its lab-entry (tests/lab/lab-pktgen-entry.sh,
# through the vrlab 9p share) runs inside as root on Debian's 6.12: two network
# namespaces joined by a veth pair, modprobe pktgen, and the project's own
# `virt-router-traffic pktgen` (from this build, shared read-only as vrbuild) drives the
# real /proc/net/pktgen towards a `virt-router-traffic recv` in the other namespace.
# The lab checks that the kernel accepted every command, that recv counted at least 95%
# of what pktgen reports sent, and prints both. The lab's PASS/FAIL/SKIP lines are
# counted here. LAB_PKTGEN_RATE (pps, default 20000) and LAB_PKTGEN_SECONDS (default 2)
# go to the lab on its kernel command line.
#
# Needs root (the QEMU wrapper's mount namespace), the lab image (make lab) and QEMU 10
# (make lab-qemu); exits 77 without them. Does not fetch or build either.
# Environment: LAB_IMAGE_DIR (default images/.lab), LAB_QEMU_DIR (default
# images/.lab/qemu-10), top_builddir (the build to share; default top_srcdir/build),
# LAB_BOOT_TIMEOUT (s, default 400), LAB_KEEP_LOG=1 keeps the console log.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=$(cd "${top_srcdir:-$here/../..}" && pwd)
# shellcheck source=tests/lib/result.sh
. "$top_srcdir/tests/lib/result.sh"
top_builddir=$(cd "${top_builddir:-$top_srcdir/build}" 2>/dev/null && pwd) || top_builddir=''
IMG=${LAB_IMAGE_DIR:-$top_srcdir/images/.lab}
LAB_QEMU_DIR=${LAB_QEMU_DIR:-$IMG/qemu-10}
QEMU=$LAB_QEMU_DIR/qemu-system-x86_64
TIMEOUT=${LAB_BOOT_TIMEOUT:-400}
MODDIR=/usr/lib/x86_64-linux-gnu/qemu

skip() { echo "SKIP: $*"; exit 77; }
[[ $EUID -eq 0 ]] || skip "needs root (the QEMU wrapper bind-mounts in a mount namespace)"
for f in vmlinuz initrd.img lab.img cmdline; do
	[[ -r $IMG/$f ]] || skip "no lab image in $IMG ($f missing): build it with make lab (as root)"
done
[[ -x $QEMU ]] || skip "no QEMU 10 in $LAB_QEMU_DIR: fetch it with make lab-qemu"
for bin in virt-router-traffic; do
	[[ -n $top_builddir && -x $top_builddir/$bin ]] || skip "$bin not built in '${top_builddir:-?}'"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vrtest-lab-pktgen.XXXXXX")
LOG=$tmp/console.log
install -m 0755 "$here/lab-pktgen-entry.sh" "$tmp/share/lab-entry" -D
qpid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	trap '' INT TERM
	if [[ -n $qpid ]] && kill -0 "$qpid" 2>/dev/null; then
		kill "$qpid" 2>/dev/null || true
		wait "$qpid" 2>/dev/null || true
	fi
	if [[ ${LAB_KEEP_LOG:-0} == 1 ]]; then
		cp "$LOG" "${TMPDIR:-/tmp}/vrtest-lab-pktgen.console.log" 2>/dev/null && echo "# console log: ${TMPDIR:-/tmp}/vrtest-lab-pktgen.console.log"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
finish() { vr_test_summary; exit; }
mounts_before=$(grep -c " $MODDIR " /proc/self/mountinfo || true)

# -accel tcg: /dev/kvm here is a paravirtual KVM that stock kernels hang under.
# No NIC: the traffic runs between two namespaces inside. -no-reboot: a panic ends QEMU.
t0=$SECONDS
"$QEMU" -M q35 -accel tcg -smp 2 -m 2048 -nodefaults -no-user-config \
	-display none -no-reboot \
	-kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" -append "$(cat "$IMG/cmdline") vr_lab.poweroff vr_pktgen.rate=${LAB_PKTGEN_RATE:-20000} vr_pktgen.seconds=${LAB_PKTGEN_SECONDS:-2}" \
	-drive "file=$IMG/lab.img,format=raw,if=virtio,snapshot=on" \
	-virtfs "local,path=$tmp/share,mount_tag=vrlab,security_model=none,readonly=on" \
	-virtfs "local,path=$top_builddir,mount_tag=vrbuild,security_model=none,readonly=on" \
	-serial "file:$LOG" </dev/null >"$tmp/qemu.out" 2>&1 &
qpid=$!

# The lab powers itself off after lab-entry (vr_lab.poweroff).
while kill -0 "$qpid" 2>/dev/null && ((SECONDS - t0 < TIMEOUT)); do sleep 1; done
secs=$((SECONDS - t0))
if kill -0 "$qpid" 2>/dev/null; then
	fail "the lab did not finish within $TIMEOUT s"
	kill "$qpid" 2>/dev/null || true
fi
wait "$qpid" 2>/dev/null || true
qpid=
# journald prefixes the unit's lines: "[  12.3] vr-lab-ready[321]: PASS: ..."
console=$(tr -d '\r' <"$LOG" | sed 's/\x1b\[[0-9;]*m//g')
lines=$(sed -n 's/.*vr-lab-ready\[[0-9]*\]: //p' <<<"$console")
ready=$(grep -m1 -o 'LAB-READY .*' <<<"$lines" || true)
if [[ -z $ready ]]; then
	fail "no LAB-READY on the console after $secs s; last lines:"
	tail -n 25 <<<"$console" | sed 's/^/# /'
	sed 's/^/# qemu: /' "$tmp/qemu.out"
	finish
fi
echo "# $ready"
# The lab's own lines, counted as ours
while IFS= read -r l; do
	case $l in
	'PASS: '*) pass "lab: ${l#PASS: }" ;;
	'FAIL: '*) fail "lab: ${l#FAIL: }" ;;
	'SKIP: '*) echo "SKIP: lab: ${l#SKIP: }" ;;
	'# '*) echo "# lab: ${l#\# }" ;;
	esac
done <<<"$lines"
end=$(grep -m1 -o 'LAB-PKTGEN-END .*' <<<"$lines" || true)
done_line=$(grep -m1 -o 'LAB-DONE .*' <<<"$lines" || true)
[[ -n $end && $done_line == 'LAB-DONE rc='* ]] && pass "lab-entry ran to its end ($end, $done_line)" ||
	fail "lab-entry did not finish: '${end:-no LAB-PKTGEN-END}', '${done_line:-no LAB-DONE}'"
grep -q 'reboot: Power down' <<<"$console" && pass "the lab powered off: $secs s from QEMU's start" ||
	fail "no clean power down ($secs s)"
mounts_after=$(grep -c " $MODDIR " /proc/self/mountinfo || true)
((mounts_after == mounts_before)) || fail "mounts on $MODDIR: $mounts_before before, $mounts_after after"
finish
