# shellcheck shell=bash
# tests/lib/integration.sh: how the libvirt integration tests (tests/integration/*.sh)
# begin.
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
