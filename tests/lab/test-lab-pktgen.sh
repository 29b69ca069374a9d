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
# Environment: see tests/lab/lib.sh (LAB_IMAGE_DIR, LAB_QEMU_DIR, top_builddir,
# LAB_BOOT_TIMEOUT, LAB_KEEP_LOG).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=$(cd "${top_srcdir:-$here/../..}" && pwd)
# shellcheck source=tests/lib/result.sh
. "$top_srcdir/tests/lib/result.sh"
# shellcheck source=tests/lab/lib.sh
. "$here/lib.sh"

lab_preflight pktgen virt-router-traffic
# No NIC: the traffic runs between two namespaces inside.
lab_boot "$here/lab-pktgen-entry.sh" "vr_pktgen.rate=${LAB_PKTGEN_RATE:-20000} vr_pktgen.seconds=${LAB_PKTGEN_SECONDS:-2}" -- -M q35
lab_report LAB-PKTGEN-END
