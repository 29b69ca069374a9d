#!/usr/bin/env bash
# The isolation scenario, short form (make bench-isolation runs the full one): VR1 and
# VR2, real type='qemu' routers on a real libvirtd, share CPU 1; VR1 is offered a fixed
# rate, VR2 nothing and then more than twice what it can forward. Without a policy VR1
# must lose packets; with CPU shares (4:1), libvirt's written by hand (the peer) or
# virt-router's, it must keep >= 95% of its rate.
#
# This host's CPUs see 10-25% steal time from the machine under it, so a point that
# misses is measured once more before the test fails (and the log says so).
set -euo pipefail

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/build}"
# shellcheck source=tests/lib/result.sh
. "$top_srcdir/tests/lib/result.sh"

if [[ $EUID -ne 0 ]]; then
	echo "SKIP: needs root (libvirtd, namespaces, macvtap)"
	exit 77
fi
if [[ ! -e ${GUEST_IMAGE_DIR:-$top_srcdir/images}/vmlinuz ]]; then
	echo "SKIP: no guest image (make guest; test-guest-boot builds it)"
	exit 77
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/virt-router-isolation.XXXXXX")
trap 'rm -rf "$out"' EXIT

# column of the isolation CSV for MODE at VR2 load LOAD
iso_value() { awk -F, -v m="$1" -v l="$2" -v c="$3" '$1 == m && $2 == l { print $c }' "$out/isolation.csv"; }

run() {
	ISO_MODES="$1" ISO_VR2="0 250k" ISO_REPEAT=2 ISO_DURATION=2s ISO_OUT=$out \
		"$top_srcdir/tests/bench/bench-isolation.sh" >"$out/run.log" 2>&1
	local rc=$?
	sed 's/^/    /' "$out/run.log" | grep -v '^\s*\[' || true
	return $rc
}

check_modes() {
	local rc=0 mode ratio fwd2
	for mode in "$@"; do
		ratio=$(iso_value "$mode" 250000 7)
		fwd2=$(iso_value "$mode" 250000 4)
		alone=$(iso_value "$mode" 0 7)
		[[ -n $ratio && -n $fwd2 && -n $alone ]] || { echo "no result for mode $mode"; return 1; }
		echo "mode $mode: VR1 alone $alone, with VR2 offered 250000 (forwarding $fwd2) VR1 keeps $ratio"
		case $mode in
		none) awk -v r="$ratio" 'BEGIN { exit !(r < 0.95) }' || rc=1 ;;
		shares | libvirt) awk -v r="$ratio" -v a="$alone" -v f="$fwd2" 'BEGIN { exit !(r >= 0.95 && a >= 0.98 && 250000 >= 2 * f) }' || rc=1 ;;
		esac
	done
	return $rc
}

modes="none libvirt shares"
if run "$modes" && check_modes $modes; then
	pass "isolation: loss without a policy, >= 95% with CPU shares (libvirt's by hand and virt-router's)"
else
	echo "    a point missed; measuring once more (steal time on this host)"
	if run "$modes" && check_modes $modes; then
		pass "isolation: loss without a policy, >= 95% with CPU shares, both kinds (second run)"
	else
		fail "isolation thresholds"
	fi
fi
# The peer is what it says: libvirt's weight written into VR1's <cputune>, none by virt-router.
grep -q "vr-iso-1 ready after .* cpu_shares 4096" <(sed -n '/== mode libvirt/,/== mode shares/p' "$out/run.log") &&
	pass "libvirt mode: VR1 runs with the <shares>4096</shares> written by hand" ||
	fail "libvirt mode: VR1 does not run with cpu_shares 4096 (see the bench log above)"
for f in none-summary.csv shares-summary.csv none.png shares.png isolation.png; do
	[[ -s $out/$f ]] && pass "bench wrote $f" || fail "bench wrote no $f"
done
rows=$(awk -F, 'NR > 1 && $3 == "VR1"' "$out/shares-samples.csv" | wc -l)
[[ $rows -eq 4 ]] && pass "samples: 2 steps x 2 runs for VR1" || fail "samples: $rows rows for VR1, expected 4"
vr_test_summary
