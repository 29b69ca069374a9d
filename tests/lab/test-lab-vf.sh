#!/usr/bin/env bash
# The lab's SR-IOV step (issue 17, item 1, first half): the lab image boots under the
# private QEMU 10 with q35, a split irqchip, intel-iommu (intremap, caching-mode) and an
# igb (82576) on a restricted user-mode netdev (no traffic leaves QEMU), 2 vCPUs, 2 GiB.
# Its lab-entry (tests/lab/lab-vf-entry.sh, through the vrlab 9p share) runs inside as
# root: it loads igb, makes 2 VFs with sriov_numvfs, checks them (8086:10ca, virtfn and
# physfn links, IOMMU groups), lets igbvf bind one, and runs the project's build (this
# build directory, shared read-only as vrbuild; the lab is bookworm like the host) on
# the real sysfs: `virt-router check` and `apply --sysroot /` of a
# <vr:port mode='vf' pf='PF'/> policy look the VF up, and `virt-router-hook NAME
# prepare` checks its IOMMU group and binds it to vfio-pci through driver_override.
# The lab's PASS/FAIL/SKIP lines are counted here.
#
# Needs root (the QEMU wrapper's mount namespace), the lab image (make lab) and QEMU 10
# (make lab-qemu); exits 77 without them. Does not fetch or build either.
# Environment: see tests/lab/lib.sh (LAB_IMAGE_DIR, LAB_QEMU_DIR, top_builddir,
# LAB_BOOT_TIMEOUT, LAB_KEEP_LOG).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=$(cd "${top_srcdir:-$here/../..}" && pwd)
# shellcheck source=tests/lib/result.sh
. "$top_srcdir/tests/lib/result.sh"
# shellcheck source=tests/lab/lib.sh
. "$here/lib.sh"

lab_preflight vf virt-router virt-router-hook virt-router-hook-full
# restrict=on: the igb's traffic stays inside QEMU.
lab_boot "$here/lab-vf-entry.sh" "" -- -M q35,kernel-irqchip=split \
	-device intel-iommu,intremap=on,caching-mode=on \
	-netdev user,id=lab0,restrict=on -device igb,netdev=lab0,mac=52:54:00:17:00:02
grep -m1 -o 'DMAR: IOMMU enabled' <<<"$LAB_CONSOLE" | sed 's/^/# kernel: /' || true
grep -m1 -o 'DMAR-IR: Enabled IRQ remapping.*' <<<"$LAB_CONSOLE" | sed 's/^/# kernel: /' || true
lab_report LAB-VF-END
