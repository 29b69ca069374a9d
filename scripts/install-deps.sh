#!/usr/bin/env bash
# Install every Debian package virt-router needs to build, test and demo.
# Idempotent: a machine that already has everything makes no apt call at all,
# so the test command and CI can run it unconditionally.
set -euo pipefail

# One list, grouped by purpose. Keep it in sync with README's "Requirements".
PACKAGES=(
	# build: compiler, autotools, libraries linked by lib/ and tools/
	build-essential autoconf automake libtool pkg-config
	libglib2.0-dev libxml2-dev libvirt-dev libsystemd-dev
	# runtime and integration tests: a real libvirtd with QEMU and LXC drivers
	libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-daemon-driver-lxc
	libvirt-clients qemu-system-x86 qemu-utils
	# virt-install writes the domain test-apply-domain attaches a policy to
	virtinst
	# test tools: virt-xml-validate/xmllint, veths, leak checks, guest images
	libxml2-utils iproute2 valgrind debootstrap
	# the sanitizer pass of scripts/check: gcc's ASan and UBSan runtimes (gcc-12 pulls
	# them in today; named so that a leaner compiler package cannot drop them)
	libasan8 libubsan1
	# make fuzz: clang and libFuzzer, whose runtime (libclang_rt.fuzzer) is only a
	# Recommends of clang-14, which --no-install-recommends below skips
	clang-14 libclang-rt-14-dev
	# tests and the demo: traffic generators, JSON checks, namespaces
	python3 util-linux e2fsprogs zstd cpio gnuplot-nox
	# man pages are rendered and checked; pgrep/pkill; modprobe for macvtap
	man-db groff-base procps kmod
)

# A package counts as present only when dpkg says "install ok installed"
# (a removed-but-configured package still has a dpkg entry).
missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	if [[ "$status" != "install ok installed" ]]; then
		missing+=("$pkg")
	fi
done

if ((${#missing[@]} == 0)); then
	echo "install-deps: all ${#PACKAGES[@]} packages already installed"
	exit 0
fi

if [[ $EUID -ne 0 ]]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root (sudo $0) to install them" >&2
	exit 1
fi

echo "install-deps: installing ${#missing[@]} missing packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# No stdin in CI: make sure neither apt nor dpkg ever asks a question.
apt-get -q update </dev/null
apt-get -q install -y --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	"${missing[@]}" </dev/null
echo "install-deps: done"
