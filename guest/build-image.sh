#!/usr/bin/env bash
# build-image.sh: the virt-router guest image (what `make guest` runs).
#
#   build-image.sh --vr-init PATH --out DIR
#
# Makes DIR/vmlinuz (Debian's cloud kernel), DIR/initrd.img (vr-init as /init, the
# kernel modules it loads, ip and tc with their libraries, nothing else) and
# DIR/manifest (what went in, sizes, package versions), from Debian packages only:
# a debootstrap chroot kept in DIR/.chroot and reused, from the mirror this machine's
# apt uses. Rebuilds only when an input changed (this script, vr-init, the chroot's
# package versions, SOURCE_DATE_EPOCH); the same inputs give the same bytes.
#
# Environment:
#   SOURCE_DATE_EPOCH   timestamp of every file in the initramfs (default: the kernel's)
#   GUEST_MIRROR        Debian mirror (default: the one apt uses here for GUEST_SUITE)
#   GUEST_SUITE         Debian suite (default: bookworm)
#   GUEST_REFRESH=1     upgrade the cached chroot's packages first (apt-get dist-upgrade)
set -euo pipefail

SUITE=${GUEST_SUITE:-bookworm}
# linux-image-cloud-amd64: virtio and the VF drivers as modules; zstd and cpio pack
# the initramfs with Debian's own tools, so the host needs nothing but debootstrap.
PACKAGES=linux-image-cloud-amd64,iproute2,cpio,zstd
PROG=build-image
START=$SECONDS

say() { echo "$PROG: [$((SECONDS - START))s] $*"; }
die() { echo "$PROG: error: $*" >&2; exit 1; }

usage() { echo "usage: $0 --vr-init PATH --out DIR" >&2; exit 2; }
VR_INIT='' OUT=''
while (($#)); do
	case $1 in
	--vr-init) VR_INIT=${2:?}; shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	*) usage ;;
	esac
done
[[ -n $VR_INIT && -n $OUT ]] || usage
[[ -x $VR_INIT ]] || die "$VR_INIT: not an executable (build it with make guest)"
VR_INIT=$(realpath "$VR_INIT")
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
CHROOT=$OUT/.chroot
SCRIPT=$(realpath "${BASH_SOURCE[0]}")

# One build at a time per output dir (make guest from a test and by hand).
# (read-only when someone else built it: checking the stamp needs no write access)
exec 9>>"$OUT/.lock" 2>/dev/null || exec 9<"$OUT/.lock"
flock -w 600 9 || die "$OUT is locked by another build for 10 minutes"

# shellcheck source=guest/apt-mirror.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt-mirror.sh"

# ---------------------------------------------------------------------------
# The chroot: made once, reused until the package list or suite changes.
chroot_key="suite=$SUITE packages=$PACKAGES"
if [[ ! -f $CHROOT/.vr-chroot || $(cat "$CHROOT/.vr-chroot") != "$chroot_key" ]]; then
	[[ $EUID -eq 0 ]] || die "the image must be built as root (debootstrap); or point GUEST_IMAGE_DIR at a built one"
	command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
	mirror=${GUEST_MIRROR:-$(find_mirror | head -n1)}
	[[ -n $mirror ]] || die "no apt source for $SUITE found in /etc/apt; set GUEST_MIRROR"
	say "debootstrap $SUITE (minbase + $PACKAGES) from $mirror into $CHROOT"
	rm -rf "$CHROOT.new"
	# INITRD=No: the kernel package would otherwise build an initramfs we never use
	INITRD=No debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$CHROOT.new" "$mirror" \
		>"$OUT/debootstrap.log" 2>&1 ||
		die "debootstrap failed; see $OUT/debootstrap.log"
	chroot "$CHROOT.new" apt-get clean
	echo "$chroot_key" >"$CHROOT.new/.vr-chroot"
	rm -rf "$CHROOT"
	mv "$CHROOT.new" "$CHROOT"
	say "chroot ready"
elif [[ ${GUEST_REFRESH:-0} == 1 ]]; then
	[[ $EUID -eq 0 ]] || die "refreshing the chroot needs root"
	say "refreshing the chroot's packages"
	if ! { chroot "$CHROOT" apt-get -q update &&
		chroot "$CHROOT" env INITRD=No DEBIAN_FRONTEND=noninteractive apt-get -q -y dist-upgrade &&
		chroot "$CHROOT" apt-get clean; } >"$OUT/refresh.log" 2>&1; then
		die "refresh failed; see $OUT/refresh.log"
	fi
fi

# ---------------------------------------------------------------------------
# Inputs and the stamp
versions=$(dpkg-query --admindir="$CHROOT/var/lib/dpkg" -W -f '${Package} ${Version}\n' | LC_ALL=C sort)
# the newest kernel (a refresh leaves the old one installed)
KVER=$(find "$CHROOT/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort -V | tail -n1)
[[ -n $KVER && -f $CHROOT/boot/vmlinuz-$KVER ]] || die "no kernel in $CHROOT"
epoch=${SOURCE_DATE_EPOCH:-$(stat -c %Y "$CHROOT/boot/vmlinuz-$KVER")}
if grep -q '^CONFIG_RD_ZSTD=y' "$CHROOT/boot/config-$KVER"; then compress=zstd; else compress=gzip; fi
stamp=$( {
	sha256sum <"$SCRIPT"
	sha256sum <"$VR_INIT"
	echo "$versions"
	echo "epoch=$epoch compress=$compress kernel=$KVER"
} | sha256sum | cut -d' ' -f1)
if [[ -f $OUT/.stamp && $(cat "$OUT/.stamp") == "$stamp" && -f $OUT/vmlinuz && -f $OUT/initrd.img && -f $OUT/manifest ]]; then
	say "up to date: $OUT/vmlinuz $OUT/initrd.img (kernel $KVER)"
	exit 0
fi
[[ $EUID -eq 0 ]] || die "the image must be rebuilt as root (it runs tools in the chroot)"

# ---------------------------------------------------------------------------
# Staging tree, inside the chroot so its cpio can read it
STAGE_REL=/tmp/vr-initramfs
STAGE=$CHROOT$STAGE_REL
rm -rf "$STAGE"
mkdir -p "$STAGE"/{proc,sys,dev,run,tmp,sbin,lib64,lib/x86_64-linux-gnu,lib/modules/"$KVER"}
chmod 1777 "$STAGE/tmp"
install -m 0755 "$VR_INIT" "$STAGE/init"

say "ip and tc with their libraries"
for prog in /sbin/ip /sbin/tc; do
	real=$(chroot "$CHROOT" readlink -f "$prog")
	install -m 0755 "$CHROOT$real" "$STAGE$prog"
	# "libx.so.1 => /lib/x86_64-linux-gnu/libx.so.1 (0x...)" and the loader's own line
	while read -r lib; do
		[[ -e $STAGE$lib ]] && continue
		mkdir -p "$STAGE$(dirname "$lib")"
		cp -L "$CHROOT$lib" "$STAGE$lib"
	done < <(chroot "$CHROOT" ldd "$real" | sed -n 's|.*=> \(/[^ ]*\) .*|\1|p; s|^[[:space:]]*\(/[^ ]*\) (.*|\1|p')
done

say "kernel modules for $KVER"
MODDIR=$CHROOT/lib/modules/$KVER
# vr-init knows which modules it loads and when: "boot NAME", "pci NAME", "tc NAME"
wanted=() pci_drivers=()
while read -r when name; do
	wanted+=("$name")
	[[ $when == pci ]] && pci_drivers+=("$name")
done < <("$VR_INIT" --modules)
# modules.dep: "path: dep dep ..."; names treat '-' and '_' alike
declare -A path_of=() deps_of=()
while IFS=: read -r path deps; do
	base=${path##*/}; base=${base%%.ko*}; base=${base//-/_}
	path_of[$base]=$path
	deps_of[$path]=$deps
done <"$MODDIR/modules.dep"
declare -A have=()
absent=() queue=()
for name in "${wanted[@]}"; do
	if [[ -n ${path_of[$name]:-} ]]; then queue+=("${path_of[$name]}");
	elif ! grep -q "/$name.ko" "$MODDIR/modules.builtin" 2>/dev/null; then absent+=("$name"); fi
done
while ((${#queue[@]})); do
	path=${queue[0]}; queue=("${queue[@]:1}")
	[[ -n ${have[$path]:-} ]] && continue
	have[$path]=1
	for dep in ${deps_of[$path]}; do queue+=("$dep"); done
done
: >"$STAGE/lib/modules/$KVER/modules.dep"
: >"$STAGE/lib/modules/$KVER/modules.alias"
for path in $(printf '%s\n' "${!have[@]}" | LC_ALL=C sort); do
	ko=${path%.ko*}.ko
	mkdir -p "$STAGE/lib/modules/$KVER/$(dirname "$ko")"
	# decompressed here, so the guest needs no decompressor
	case $path in
	*.ko) cp "$MODDIR/$path" "$STAGE/lib/modules/$KVER/$ko" ;;
	*.ko.xz) xz -dc "$MODDIR/$path" >"$STAGE/lib/modules/$KVER/$ko" ;;
	*.ko.zst) zstd -q -dc "$MODDIR/$path" >"$STAGE/lib/modules/$KVER/$ko" ;;
	*.ko.gz) gzip -dc "$MODDIR/$path" >"$STAGE/lib/modules/$KVER/$ko" ;;
	esac
	deps=
	for dep in ${deps_of[$path]}; do deps+=" ${dep%.ko*}.ko"; done
	echo "$ko:$deps" >>"$STAGE/lib/modules/$KVER/modules.dep"
done
# PCI aliases of the drivers vr-init loads only for a device they claim
for name in "${pci_drivers[@]}"; do
	grep -E " $name\$" "$MODDIR/modules.alias" >>"$STAGE/lib/modules/$KVER/modules.alias" || true
done
LC_ALL=C sort -o "$STAGE/lib/modules/$KVER/modules.alias" "$STAGE/lib/modules/$KVER/modules.alias"

# ---------------------------------------------------------------------------
# Pack: sorted names, owner root, every mtime clamped to SOURCE_DATE_EPOCH
say "packing the initramfs ($compress)"
find "$STAGE" -newermt "@$epoch" -exec touch -h -d "@$epoch" {} +
tmp_initrd=$OUT/initrd.img.tmp
chroot "$CHROOT" sh -c "cd $STAGE_REL && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc --reproducible -R 0:0 --quiet" >"$OUT/initrd.cpio.tmp"
if [[ $compress == zstd ]]; then
	# -T1: the same bytes whatever the host's CPU count
	chroot "$CHROOT" zstd -q -19 -T1 -c <"$OUT/initrd.cpio.tmp" >"$tmp_initrd"
else
	gzip -n -9 -c <"$OUT/initrd.cpio.tmp" >"$tmp_initrd"
fi
cpio_size=$(stat -c %s "$OUT/initrd.cpio.tmp")
rm -f "$OUT/initrd.cpio.tmp"
cp "$CHROOT/boot/vmlinuz-$KVER" "$OUT/vmlinuz.tmp"
touch -d "@$epoch" "$OUT/vmlinuz.tmp" "$tmp_initrd"

# ---------------------------------------------------------------------------
# Manifest: what went in, from which package, how big
say "manifest"
kernel_size=$(stat -c %s "$OUT/vmlinuz.tmp")
initrd_size=$(stat -c %s "$tmp_initrd")
{
	echo "# virt-router guest image, made by guest/build-image.sh"
	echo "suite $SUITE"
	echo "kernel $KVER"
	echo "source_date_epoch $epoch"
	echo "compression $compress"
	echo "vmlinuz $kernel_size $(sha256sum <"$OUT/vmlinuz.tmp" | cut -d' ' -f1)"
	echo "initrd.img $initrd_size $(sha256sum <"$tmp_initrd" | cut -d' ' -f1) (cpio $cpio_size)"
	echo "total $((kernel_size + initrd_size)) bytes ($(((kernel_size + initrd_size + 1048575) / 1048576)) MiB)"
	echo "modules-absent ${absent[*]:-none}"
	echo
	echo "# initramfs: size path package"
	(cd "$STAGE" && find . -type f | LC_ALL=C sort | while read -r f; do
		echo "$(stat -c %s "$f") ${f#.}"
	done) | while read -r size f; do
		pkg=
		case $f in
		/init) pkg="virt-router vr-init" ;;
		/lib/modules/*/modules.*) pkg="(trimmed from linux-image-$KVER)" ;;
		/lib/modules/*) pkg=linux-image-$KVER ;;
		*) pkg=$(dpkg-query --admindir="$CHROOT/var/lib/dpkg" -S "*/${f##*/}" 2>/dev/null | head -n1 | cut -d: -f1) ;;
		esac
		echo "$size $f $pkg"
	done
	echo
	echo "# chroot packages (debootstrap $SUITE minbase + $PACKAGES)"
	echo "$versions"
} >"$OUT/manifest.tmp"

mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
mv "$tmp_initrd" "$OUT/initrd.img"
mv "$OUT/manifest.tmp" "$OUT/manifest"
echo "$stamp" >"$OUT/.stamp"
rm -rf "$STAGE"
say "done: $OUT/vmlinuz ($kernel_size) + $OUT/initrd.img ($initrd_size) = $(((kernel_size + initrd_size) / 1024)) KiB"
