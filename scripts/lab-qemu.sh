#!/usr/bin/env bash
# lab-qemu.sh: a private QEMU 10 for the host lab (issue 17), beside the system's 7.2.
#
#   lab-qemu.sh [--out DIR]      fetch and unpack it once (what `make lab-qemu` runs)
#
# QEMU 10 emulates an SR-IOV NIC (-device igb) and VT-d (-device intel-iommu); bookworm's
# 7.2 emulates neither. bookworm-backports carries 10.0. It is never installed: libvirt 9.0
# keeps using the system's QEMU. Instead:
#   1. apt-get download qemu-system-x86, qemu-system-common and qemu-system-data (and
#      seabios, see below) from bookworm-backports, through an apt configuration of our
#      own in DIR/apt: the host's /etc/apt stays as it is, so no later `apt-get upgrade`
#      on the host can pull backports in and replace the QEMU libvirt runs;
#   2. dpkg -x them into DIR/root;
#   3. DIR/qemu-system-x86_64, a wrapper, runs DIR/root's binary with -L at its data,
#      inside a mount namespace (unshare -m) where DIR/root's module dir is bind-mounted
#      over /usr/lib/x86_64-linux-gnu/qemu: QEMU loads its modules from that fixed path,
#      and 7.2's there make 10.0 abort. The namespace ends with the process.
# Cached like `make guest`: DIR/.stamp names what was fetched; with it in place a second
# run does nothing, without the network. LAB_QEMU_REFRESH=1 fetches again.
#
# Default DIR: images/.lab/qemu-10 in the source tree (images/ is not committed).
# Environment: LAB_QEMU_MIRROR (default: the mirror apt uses here for bookworm),
# LAB_QEMU_SUITE (default: bookworm-backports).
# Exit status: 0 ready, 1 failed, 77 cannot be had here (no apt, no archive reachable).
set -euo pipefail

PROG=lab-qemu
START=$SECONDS
say() { echo "$PROG: [$((SECONDS - START))s] $*"; }
die() { echo "$PROG: error: $*" >&2; exit 1; }
unavailable() { echo "$PROG: unavailable: $*" >&2; exit 77; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=$(cd "$here/.." && pwd)
OUT=$top_srcdir/images/.lab/qemu-10
while (($#)); do
	case $1 in
	--out) OUT=${2:?}; shift 2 ;;
	*) echo "usage: $0 [--out DIR]" >&2; exit 2 ;;
	esac
done
BACKPORTS=${LAB_QEMU_SUITE:-bookworm-backports}
# The three the issue names; seabios because qemu-system-x86 10.0 depends on
# seabios >> 1.16.3-1~ and bookworm has 1.16.2 (its bios-256k.bin is found through a
# second -L). Its other dependencies are bookworm's own libraries: checked with ldd below.
PACKAGES=(qemu-system-x86 qemu-system-common qemu-system-data seabios)
MODDIR=/usr/lib/x86_64-linux-gnu/qemu

mkdir -p "$OUT"
OUT=$(realpath "$OUT")
ROOT=$OUT/root
exec 9>>"$OUT/.lock"
flock -w 600 9 || die "$OUT is locked by another fetch for 10 minutes"

if [[ -f $OUT/.stamp && -x $ROOT/usr/bin/qemu-system-x86_64 && -x $OUT/qemu-system-x86_64 &&
	${LAB_QEMU_REFRESH:-0} != 1 ]]; then
	say "up to date: $OUT/qemu-system-x86_64 ($(sed -n 's/^qemu-system-x86 //p' "$OUT/.stamp"))"
	exit 0
fi

for cmd in apt-get dpkg ldd; do
	command -v $cmd >/dev/null || unavailable "needs $cmd (Debian)"
done
command -v unshare >/dev/null || unavailable "needs unshare (util-linux)"
# shellcheck source=guest/apt-mirror.sh
# shellcheck disable=SC2034 # read by find_mirror
SUITE=bookworm
. "$top_srcdir/guest/apt-mirror.sh"
mirror=${LAB_QEMU_MIRROR:-$(find_mirror | head -n1)}
[[ -n $mirror ]] || unavailable "no apt source for bookworm in /etc/apt; set LAB_QEMU_MIRROR"

# The private apt: its own sources list, lists and cache; the host's sources.list.d and
# preferences are not read (Dir::Etc::sourceparts and preferencesparts point at empty dirs).
APT=$OUT/apt
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/sources.list.d" "$APT/preferences.d"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$APT/sources.list" <<EOF
# written by scripts/lab-qemu.sh: bookworm for libraries the host may lack, $BACKPORTS for QEMU 10
deb [signed-by=$keyring] $mirror bookworm main
deb [signed-by=$keyring] $mirror $BACKPORTS main
EOF
apt_opts=(
	-o "Dir::Etc::sourcelist=$APT/sources.list" -o "Dir::Etc::sourceparts=$APT/sources.list.d"
	-o "Dir::Etc::preferencesparts=$APT/preferences.d" -o "Dir::State::Lists=$APT/lists"
	-o "Dir::Cache=$APT/cache"
	# the build tree is root's; apt's _apt user could not write there
	-o APT::Sandbox::User=root
)
say "apt-get update ($mirror bookworm and $BACKPORTS, private lists in $APT)"
apt-get -q "${apt_opts[@]}" update >"$OUT/apt-update.log" 2>&1 ||
	unavailable "apt-get update failed (no network to the archive?); see $OUT/apt-update.log"

DEBS=$OUT/debs
rm -rf "$DEBS" "$ROOT.new"
mkdir -p "$DEBS" "$ROOT.new"
want=()
for p in "${PACKAGES[@]}"; do want+=("$p/$BACKPORTS"); done
say "apt-get download ${want[*]}"
(cd "$DEBS" && apt-get -q "${apt_opts[@]}" download "${want[@]}") >"$OUT/apt-download.log" 2>&1 ||
	unavailable "apt-get download failed; see $OUT/apt-download.log"

# ldd: libraries QEMU 10 needs that this host lacks. qemu-system-x86 7.2 (installed for
# libvirt) pulls in nearly the same set, so none so far; on a host without it, the
# dependencies of the three packages that dpkg does not have installed are fetched from
# bookworm and unpacked beside QEMU (the wrapper sets LD_LIBRARY_PATH).
unpack() { for deb in "$DEBS"/*.deb; do dpkg -x "$deb" "$ROOT.new"; done; }
missing_libs() {
	local f
	for f in "$ROOT.new/usr/bin/qemu-system-x86_64" "$ROOT.new$MODDIR"/*.so; do
		LD_LIBRARY_PATH=$ROOT.new/usr/lib/x86_64-linux-gnu ldd "$f" 2>&1 | sed -n "s|^[[:space:]]*\(.*not found.*\)|${f##*/}: \1|p"
	done
}
unpack
missing=$(missing_libs)
if [[ -n $missing ]]; then
	echo "$missing" | sed "s/^/$PROG: missing here: /"
	extra=()
	for deb in "$DEBS"/qemu-system-x86_*.deb "$DEBS"/qemu-system-common_*.deb; do
		# "libaio1 (>= 0.3.93), libbpf1 (>= 1:0.0.8), ..."; alternatives take the first
		for p in $(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g'); do
			case $p in qemu-* | seabios | ipxe-qemu) continue ;; esac
			[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == "install ok installed" ]] || extra+=("$p")
		done
	done
	((${#extra[@]})) || die "libraries missing but every dependency is installed: $missing"
	say "apt-get download from bookworm: ${extra[*]}"
	(cd "$DEBS" && apt-get -q "${apt_opts[@]}" download "${extra[@]}") >>"$OUT/apt-download.log" 2>&1 ||
		die "apt-get download ${extra[*]} failed; see $OUT/apt-download.log"
	unpack
	missing=$(missing_libs)
	[[ -z $missing ]] || die "still missing after unpacking ${extra[*]}: $missing"
fi
rm -rf "$ROOT"
mv "$ROOT.new" "$ROOT"

# The wrapper: a root gets a private mount namespace; another user a user namespace
# with one as well, where it may bind-mount (if the kernel allows unprivileged ones).
cat >"$OUT/qemu-system-x86_64.new" <<EOF
#!/bin/sh
# Written by scripts/lab-qemu.sh: QEMU 10 from $BACKPORTS, unpacked in $ROOT.
# Its modules over $MODDIR in a mount namespace of its own (7.2's there abort it).
root='$ROOT'
if [ "\$(id -u)" = 0 ]; then ns=-m; else ns=-rm; fi
LD_LIBRARY_PATH="\$root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
QEMU_MODULE_DIR="\$root$MODDIR"
export LD_LIBRARY_PATH QEMU_MODULE_DIR
exec unshare \$ns --propagation private sh -c '
	if [ -d $MODDIR ]; then mount --bind "\$0" $MODDIR || exit 125; fi
	exec "\$@"' "\$root$MODDIR" \\
	"\$root/usr/bin/qemu-system-x86_64" -L "\$root/usr/share/qemu" -L "\$root/usr/share/seabios" "\$@"
EOF
chmod 0755 "$OUT/qemu-system-x86_64.new"
mv "$OUT/qemu-system-x86_64.new" "$OUT/qemu-system-x86_64"

version=$("$OUT/qemu-system-x86_64" --version | head -n1) || die "the unpacked QEMU does not run: $("$OUT/qemu-system-x86_64" --version 2>&1 | tail -n3)"
{
	for deb in "$DEBS"/*.deb; do dpkg-deb -f "$deb" Package Version | sed 's/^[^:]*: //' | paste -sd' '; done
	echo "mirror $mirror $BACKPORTS"
	echo "download_bytes $(cat "$DEBS"/*.deb | wc -c)"
	echo "version $version"
} >"$OUT/.stamp"
say "ready: $OUT/qemu-system-x86_64: $version ($(($(sed -n 's/^download_bytes //p' "$OUT/.stamp") / 1024)) KiB fetched)"
