# shellcheck shell=bash
# scripts/lib-build.sh: build steps shared by scripts/check and scripts/demo.
# Source it; do not execute it.  Each step runs only when its inputs changed,
# so a second run of check or demo goes straight to `make`.

# The repository root (this file lives in scripts/).
VR_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VR_BUILDDIR=$VR_TOP/build

vr_step() {
	echo "==> $*"
}

# autogen.sh, then configure in build/ with the given configure arguments,
# then make.  configure is rerun only when build/ has no Makefile or
# config.status is older than configure (the generated Makefile reruns
# automake/config.status itself when Makefile.am or configure.ac change).
vr_build() {
	if [[ ! -x "$VR_TOP/configure" || "$VR_TOP/configure.ac" -nt "$VR_TOP/configure" ||
		"$VR_TOP/Makefile.am" -nt "$VR_TOP/configure" ]]; then
		vr_step "autogen.sh"
		(cd "$VR_TOP" && ./autogen.sh)
	fi
	mkdir -p "$VR_BUILDDIR"
	if [[ ! -f "$VR_BUILDDIR/Makefile" || ! -f "$VR_BUILDDIR/config.status" ||
		"$VR_BUILDDIR/config.status" -ot "$VR_TOP/configure" ]]; then
		vr_step "configure $*"
		(cd "$VR_BUILDDIR" && ../configure "$@")
	fi
	vr_step "make -j$(nproc)"
	make -C "$VR_BUILDDIR" -j"$(nproc)"
}
