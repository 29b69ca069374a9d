# shellcheck shell=bash
# tests/lib/integration.sh: how the libvirt integration tests (tests/integration/*.sh)
# begin, and the one router between two hosts that the guest-booting ones share.
# Source it first thing; do not execute it:
#   # shellcheck source=tests/lib/integration.sh
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib/integration.sh"
#
# It sources result.sh, libvirtd.sh and netns.sh, and sets from the environment (which
# AM_TESTS_ENVIRONMENT exports), else defaults that suit a manual run from anywhere:
#   top_srcdir    the source tree, absolute (default: this file's ../..)
#   top_builddir  the build tree (default: $top_srcdir/build)
#   VIRT_ROUTER   the CLI (default: $top_builddir/virt-router)
#   HOOK, TUNE    this build's hook and tuner
#   VIRT_ROUTER_TEMPLATE_DIR  exported, templates for the CLI (default: $top_srcdir/xml-templates)
#   IMAGES        the guest image (default: $GUEST_IMAGE_DIR, else $top_srcdir/images)
# Functions:
#   vr_require_built FILE...     exit 77 (skip) unless every FILE is built
#   vr_libvirtd_start_or_fail    vr_libvirtd_start, else FAIL and exit 1
#   vr_hook_test_vars NAME L     the names a test that installs the hook uses (below)
#   vr_hook_test_setup NAME L    those, vr_hook_test_cleanup at EXIT, libvirtd started
#   vr_one_router_setup L NAME   one router domain between hosts A and B (below)
#   vr_console_ready CONSOLE     (tests/lib/libvirtd.sh) the guest's VR-READY line
#   vr_udp_a_to_b COUNT RATE     UDP from host A to host B through the router

top_srcdir=$(cd "${top_srcdir:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
# shellcheck source=tests/lib/result.sh
. "$top_srcdir/tests/lib/result.sh"
top_builddir=${top_builddir:-$top_srcdir/build}
VIRT_ROUTER=${VIRT_ROUTER:-$top_builddir/virt-router}
export VIRT_ROUTER_TEMPLATE_DIR=${VIRT_ROUTER_TEMPLATE_DIR:-$top_srcdir/xml-templates}
# shellcheck disable=SC2034 # for the tests that source this
HOOK=$top_builddir/virt-router-hook TUNE=$top_builddir/virt-router-tune IMAGES=${GUEST_IMAGE_DIR:-$top_srcdir/images}

# shellcheck source=tests/lib/libvirtd.sh
. "$top_srcdir/tests/lib/libvirtd.sh"
# shellcheck source=tests/lib/netns.sh
. "$top_srcdir/tests/lib/netns.sh"

vr_require_built() {
	local f
	for f in "$@"; do
		[[ -x $f ]] || { echo "SKIP: $f not built (run make first)"; exit 77; }
	done
}

# A test that cannot start libvirtd fails: one FAIL line and the count CI reads.
vr_libvirtd_start_or_fail() {
	vr_libvirtd_start || { echo "FAIL: could not start libvirtd"; echo "0 passed, 1 failed"; exit 1; }
}

# vr_hook_test_vars NAME L
# For a test that installs the hook. Sets
#   prefix    vrtest-$$-, which begins the name of every domain the test defines
#   tmp       a new temporary directory, vrtest-NAME.*
#   state     $tmp/state, the hook's state directory; conf=$tmp/host.conf its config
#   va, vb    a veth pair's names, of the letter L and the pid
vr_hook_test_vars() {
	# shellcheck disable=SC2034 # for the test
	prefix="vrtest-$$-" va="vr$2$$a" vb="vr$2$$b"
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/vrtest-$1.XXXXXX")
	# shellcheck disable=SC2034 # for the test
	state=$tmp/state conf=$tmp/host.conf
}

# vr_hook_test_setup NAME L: vr_hook_test_vars, then vr_hook_test_cleanup as the EXIT
# trap, and libvirtd started (or FAIL). For a test with nothing else to clean up.
vr_hook_test_setup() {
	vr_hook_test_vars "$1" "$2"
	trap vr_hook_test_cleanup EXIT
	trap 'exit 1' INT TERM
	vr_libvirtd_start_or_fail
}

# The test's domains (KVM and LXC), then vr_hook_test_teardown.
vr_hook_test_cleanup() {
	trap '' INT TERM
	vr_domains_remove "$prefix" qemu:///system lxc:///system
	vr_hook_test_teardown "$state" "$va" "$tmp"
}

# vr_one_router_setup L NAME
# For a test that boots the guest as a router between two hosts. Sets
#   dom       the domain's name, vrtest-$$-NAME
#   tmp       a new temporary directory; console=$tmp/console.log for the serial log
#   nsa, nsb  host A (192.0.2.2/24) and host B (198.51.100.2/24), network namespaces
#   wa, la    the veths the router's wan and lan sit on, wb and lb their peers in A and B
# (names made of the letter L, the test's own, and the pid: parallel runs never share
# one), makes vr_one_router_cleanup the EXIT trap, starts libvirtd (or FAILs) and makes
# the two hosts. The test defines the domain.
vr_one_router_setup() {
	local l=$1
	dom="vrtest-$$-$2"
	nsa="vr${l}a$$" nsb="vr${l}b$$"
	wa="v${l}wa$$" wb="v${l}wb$$" la="v${l}la$$" lb="v${l}lb$$"
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/vrtest-$2.XXXXXX")
	# shellcheck disable=SC2034 # for the test
	console=$tmp/console.log
	trap vr_one_router_cleanup EXIT
	trap 'exit 1' INT TERM
	vr_libvirtd_start_or_fail
	# wan: host A <-> router, lan: router <-> host B.
	vr_host_side "$nsa" "$wa" "$wb" 192.0.2.2/24 192.0.2.1
	vr_host_side "$nsb" "$la" "$lb" 198.51.100.2/24 198.51.100.1
}

# The domain, the hooks the test installed, the hosts, the temporary directory, libvirtd.
vr_one_router_cleanup() {
	trap '' INT TERM
	timeout 30 virsh -q destroy "$dom" >/dev/null 2>&1 || true
	timeout 30 virsh -q undefine "$dom" >/dev/null 2>&1 || true
	vr_hooks_remove
	ip netns del "$nsa" 2>/dev/null || true
	ip netns del "$nsb" 2>/dev/null || true
	ip link del "$wa" 2>/dev/null || true
	ip link del "$la" 2>/dev/null || true
	rm -rf "$tmp"
	vr_libvirtd_stop
}

# COUNT packets at RATE from host A to host B (198.51.100.2) through the router: prints
# how many B counted.
vr_udp_a_to_b() {
	vr_udp_through "$nsa" "$nsb" 198.51.100.2 "$1" "$2"
}
