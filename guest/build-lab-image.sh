#!/usr/bin/env bash
# build-lab-image.sh: the host lab's VM image (issue 17; what `make lab` runs).
#
#   build-lab-image.sh --out DIR
#
# Makes, from Debian packages only (debootstrap bookworm, the mirror this machine's apt
# uses, plus bookworm-backports for the kernel):
#   DIR/vmlinuz      the bookworm-backports generic kernel (6.12: vhost_task workers,
#                    igb/igbvf, vfio-pci, intel_iommu, act_police, pktgen as modules)
#   DIR/initrd.img   its initramfs-tools initramfs (MODULES=most: finds virtio_blk + ext4)
#   DIR/lab.img      the root filesystem: a raw ext4 image, no partition table
#   DIR/cmdline      the kernel command line to boot it with
#   DIR/manifest     what went in: sizes, download size, build time, package versions
# Boot: qemu-system-x86_64 -kernel DIR/vmlinuz -initrd DIR/initrd.img
#       -append "$(cat DIR/cmdline)" -drive file=DIR/lab.img,format=raw,if=virtio
#
# Why a bare ext4 filesystem and -kernel/-initrd: the lab is always started by our own
# scripts with QEMU's direct kernel boot, so a bootloader, partition table and EFI
# image would be dead weight (and grub-install cannot run in a chroot without loop
# devices); mke2fs -d fills the filesystem from the chroot directory without mounting
# anything, so the build needs no loop device and leaves nothing mounted.
#
# Inside: systemd as PID 1 on the unified cgroup v2 hierarchy, libvirt 9.0 with its
# QEMU and LXC drivers, bookworm's QEMU 7.2 (for nested routers), iproute2, ethtool,
# pciutils, kmod. root has no password and is logged in on ttyS0. The unit
# vr-lab-ready.service prints one line on the console once multi-user.target is
# reached:
#   LAB-READY kernel=... cgroup=cgroup2fs pid1=systemd multi-user=active uptime=...
# then runs the lab's tests if the host shares them (9p tag "vrlab", see vr-lab-ready
# below) and powers off when the command line says vr_lab.poweroff.
#
# The chroot is kept in DIR/.chroot and reused; the image is rebuilt only when an
# input changed (this script, the chroot's package versions).
#
# Environment:
#   GUEST_MIRROR   Debian mirror (default: the one apt uses here for bookworm)
#   LAB_SIZE_MB    free space to leave in lab.img (default 1024)
set -euo pipefail

SUITE=bookworm
# debootstrap's part: what systemd as PID 1 needs; the rest is installed with apt,
# which resolves the backports kernel and libvirt's dependencies better.
BOOT_PACKAGES=systemd,systemd-sysv,udev,dbus,kmod,iproute2
LAB_PACKAGES="libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-daemon-driver-lxc libvirt-clients
	qemu-system-x86 iproute2 ethtool pciutils kmod procps"
PROG=build-lab-image
START=$SECONDS

say() { echo "$PROG: [$((SECONDS - START))s] $*"; }
die() { echo "$PROG: error: $*" >&2; exit 1; }

usage() { echo "usage: $0 --out DIR" >&2; exit 2; }
OUT=''
while (($#)); do
	case $1 in
	--out) OUT=${2:?}; shift 2 ;;
	*) usage ;;
	esac
done
[[ -n $OUT ]] || usage
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
CHROOT=$OUT/.chroot
SCRIPT=$(realpath "${BASH_SOURCE[0]}")

exec 9>>"$OUT/.lock" 2>/dev/null || exec 9<"$OUT/.lock"
flock -w 1800 9 || die "$OUT is locked by another build for 30 minutes"

# shellcheck source=guest/apt-mirror.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt-mirror.sh"

# Filesystems mounted into a chroot while apt runs there; always unmounted on exit.
MOUNTED=()
unmount_all() {
	local i
	for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
		umount -l "${MOUNTED[i]}" 2>/dev/null || true
	done
	MOUNTED=()
}
trap unmount_all EXIT
chroot_mounts() {
	local root=$1
	mount -t proc proc "$root/proc" && MOUNTED+=("$root/proc")
	mount -t sysfs sysfs "$root/sys" && MOUNTED+=("$root/sys")
	mount --bind /dev "$root/dev" && MOUNTED+=("$root/dev")
	mount -t devpts -o newinstance devpts "$root/dev/pts" && MOUNTED+=("$root/dev/pts")
}

# ---------------------------------------------------------------------------
# The chroot: made once, reused until this part of the recipe changes.
chroot_key="suite=$SUITE boot=$BOOT_PACKAGES lab=$(echo $LAB_PACKAGES) kernel=bookworm-backports v1"
if [[ ! -f $CHROOT/.vr-chroot || $(cat "$CHROOT/.vr-chroot") != "$chroot_key" ]]; then
	[[ $EUID -eq 0 ]] || die "the lab image must be built as root (debootstrap, chroot)"
	command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
	command -v mke2fs >/dev/null || die "mke2fs is missing: apt-get install e2fsprogs"
	mirror=${GUEST_MIRROR:-$(SUITE=$SUITE find_mirror | head -n1)}
	[[ -n $mirror ]] || die "no apt source for $SUITE found in /etc/apt; set GUEST_MIRROR"
	NEW=$CHROOT.new
	rm -rf "$NEW"
	say "debootstrap $SUITE (minbase + $BOOT_PACKAGES) from $mirror into $NEW"
	debootstrap --variant=minbase --include="$BOOT_PACKAGES" "$SUITE" "$NEW" "$mirror" \
		>"$OUT/debootstrap.log" 2>&1 || die "debootstrap failed; see $OUT/debootstrap.log"
	# what debootstrap fetched, counted before apt-get clean empties the cache
	download=$(find "$NEW/var/cache/apt/archives" -name '*.deb' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	cp /etc/resolv.conf "$NEW/etc/resolv.conf"
	cat >"$NEW/etc/apt/sources.list" <<-EOF
		deb $mirror $SUITE main
		deb $mirror $SUITE-updates main
		deb $mirror $SUITE-backports main
	EOF
	chroot_mounts "$NEW"
	say "apt: linux-image-amd64 from $SUITE-backports, then $(echo $LAB_PACKAGES)"
	# no daemon starts in the chroot: there is no systemd running in it, and policy-rc.d
	# stops sysvinit-style starts
	printf '#!/bin/sh\nexit 101\n' >"$NEW/usr/sbin/policy-rc.d"
	chmod 0755 "$NEW/usr/sbin/policy-rc.d"
	apt_env=(env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8)
	# shellcheck disable=SC2086 # LAB_PACKAGES: one word per package
	{
		chroot "$NEW" apt-get -q update &&
			chroot "$NEW" "${apt_env[@]}" apt-get -q -y --no-install-recommends \
				-t "$SUITE-backports" install linux-image-amd64 &&
			chroot "$NEW" "${apt_env[@]}" apt-get -q -y --no-install-recommends install $LAB_PACKAGES
	} >"$OUT/apt.log" 2>&1 || die "apt-get in the chroot failed; see $OUT/apt.log"
	download=$((download + $(find "$NEW/var/cache/apt/archives" -name '*.deb' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')))
	chroot "$NEW" apt-get clean
	rm -f "$NEW/usr/sbin/policy-rc.d"
	unmount_all
	echo "$download" >"$NEW/.vr-download"
	echo "$((SECONDS - START))" >"$NEW/.vr-chroot-seconds"
	echo "$chroot_key" >"$NEW/.vr-chroot"
	rm -rf "$CHROOT"
	mv "$NEW" "$CHROOT"
	say "chroot ready ($((download / 1048576)) MiB downloaded)"
fi

# ---------------------------------------------------------------------------
# Inputs and the stamp
versions=$(dpkg-query --admindir="$CHROOT/var/lib/dpkg" -W -f '${Package} ${Version}\n' | LC_ALL=C sort)
KVER=$(find "$CHROOT/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort -V | tail -n1)
[[ -n $KVER && -f $CHROOT/boot/vmlinuz-$KVER && -f $CHROOT/boot/initrd.img-$KVER ]] ||
	die "no kernel or initramfs in $CHROOT/boot"
stamp=$( {
	sha256sum <"$SCRIPT"
	echo "$versions"
	echo "kernel=$KVER size=${LAB_SIZE_MB:-1024}"
} | sha256sum | cut -d' ' -f1)
if [[ -f $OUT/.stamp && $(cat "$OUT/.stamp") == "$stamp" ]] &&
	[[ -f $OUT/vmlinuz && -f $OUT/initrd.img && -f $OUT/lab.img && -f $OUT/cmdline && -f $OUT/manifest ]]; then
	say "up to date: $OUT/lab.img (kernel $KVER)"
	exit 0
fi
[[ $EUID -eq 0 ]] || die "the lab image must be rebuilt as root"

# ---------------------------------------------------------------------------
# Configuration of the root filesystem (idempotent: rewritten on every image build)
say "configuring the root filesystem"
echo vr-lab >"$CHROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tvr-lab\n' >"$CHROOT/etc/hosts"
echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' >"$CHROOT/etc/fstab"
# the host's resolver means nothing in the lab
rm -f "$CHROOT/etc/resolv.conf"
# empty: systemd makes one on first boot (runs use snapshot=on, so every boot is a first)
: >"$CHROOT/etc/machine-id"
rm -f "$CHROOT/var/lib/dbus/machine-id"
chroot "$CHROOT" passwd -d root >/dev/null
# autologin on the serial console, for a person at the lab's console
mkdir -p "$CHROOT/etc/systemd/system/serial-getty@ttyS0.service.d"
cat >"$CHROOT/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
EOF
# libvirt's default network wants dnsmasq (not installed) and is no use to the lab
rm -f "$CHROOT/etc/libvirt/qemu/networks/autostart/default.xml"
# nothing in the lab waits for a network it does not have
ln -sf /dev/null "$CHROOT/etc/systemd/system/systemd-networkd-wait-online.service"

cat >"$CHROOT/usr/local/sbin/vr-lab-ready" <<'EOF'
#!/bin/sh
# vr-lab-ready: the lab's readiness line, then its tests (run by vr-lab-ready.service,
# after multi-user.target). Everything goes to the console (ttyS0), where the host reads it.
echo "LAB-READY kernel=$(uname -r) cgroup=$(stat -fc %T /sys/fs/cgroup) pid1=$(cat /proc/1/comm)" \
	"multi-user=$(systemctl is-active multi-user.target) uptime=$(cut -d' ' -f1 /proc/uptime)"
# The hook for the lab's tests: the host shares a directory with
#   -virtfs local,path=DIR,mount_tag=vrlab,security_model=none,readonly=on
# and DIR/lab-entry runs here as root; its output goes to the console, followed by
# "LAB-DONE rc=N".
if grep -qsx vrlab /sys/bus/virtio/drivers/9pnet_virtio/*/mount_tag 2>/dev/null ||
	{ modprobe 9pnet_virtio 2>/dev/null && grep -qsx vrlab /sys/bus/virtio/drivers/9pnet_virtio/*/mount_tag; }; then
	mkdir -p /mnt/vrlab
	if mount -t 9p -o trans=virtio,version=9p2000.L,ro vrlab /mnt/vrlab && [ -x /mnt/vrlab/lab-entry ]; then
		/mnt/vrlab/lab-entry
		echo "LAB-DONE rc=$?"
	else
		echo "LAB-DONE rc=127 (no executable lab-entry in the vrlab share)"
	fi
fi
if grep -qw vr_lab.poweroff /proc/cmdline; then
	systemctl --no-block poweroff
fi
EOF
chmod 0755 "$CHROOT/usr/local/sbin/vr-lab-ready"
cat >"$CHROOT/etc/systemd/system/vr-lab-ready.service" <<'EOF'
[Unit]
Description=virt-router lab: readiness line and tests on the console
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vr-lab-ready
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/vr-lab-ready.service "$CHROOT/etc/systemd/system/multi-user.target.wants/vr-lab-ready.service"

# ---------------------------------------------------------------------------
# The root filesystem image: mke2fs -d copies the tree (owners, modes, xattrs) without
# a mount. Size: the tree plus 25% for ext4's metadata, plus LAB_SIZE_MB free.
say "making lab.img (mke2fs -d)"
tree_kb=$(du -sk "$CHROOT" | cut -f1)
size_mb=$((tree_kb * 5 / 4 / 1024 + ${LAB_SIZE_MB:-1024}))
rm -f "$OUT/lab.img.tmp"
mke2fs -q -t ext4 -L vr-lab -d "$CHROOT" "$OUT/lab.img.tmp" "${size_mb}M" >"$OUT/mke2fs.log" 2>&1 ||
	die "mke2fs failed; see $OUT/mke2fs.log"
cp "$CHROOT/boot/vmlinuz-$KVER" "$OUT/vmlinuz.tmp"
cp "$CHROOT/boot/initrd.img-$KVER" "$OUT/initrd.img.tmp"
# systemd.unified_cgroup_hierarchy=1: bookworm's systemd defaults to it already; said
# here so the lab stays on cgroup v2 whatever the default becomes. intel_iommu=on:
# Debian's kernel leaves VT-d off by default (CONFIG_INTEL_IOMMU_DEFAULT_ON unset), and
# the lab's VFs need it under -device intel-iommu; without that device it does nothing.
echo "console=ttyS0 root=/dev/vda rw systemd.unified_cgroup_hierarchy=1 intel_iommu=on panic=-1" >"$OUT/cmdline"

download=$(cat "$CHROOT/.vr-download" 2>/dev/null || echo 0)
{
	echo "# virt-router lab image, made by guest/build-lab-image.sh"
	echo "suite $SUITE (+ $SUITE-backports kernel)"
	echo "kernel $KVER"
	echo "cmdline $(cat "$OUT/cmdline")"
	echo "download $download bytes ($((download / 1048576)) MiB, debootstrap + apt)"
	echo "chroot-build $(cat "$CHROOT/.vr-chroot-seconds" 2>/dev/null || echo '?') s"
	echo "image-build $((SECONDS - START)) s (this run)"
	echo "tree $((tree_kb / 1024)) MiB"
	echo "lab.img $(stat -c %s "$OUT/lab.img.tmp") bytes apparent, $(($(stat -c %b "$OUT/lab.img.tmp") * 512 / 1048576)) MiB on disk"
	echo "vmlinuz $(stat -c %s "$OUT/vmlinuz.tmp")"
	echo "initrd.img $(stat -c %s "$OUT/initrd.img.tmp")"
	echo
	echo "# packages"
	echo "$versions"
} >"$OUT/manifest.tmp"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
mv "$OUT/initrd.img.tmp" "$OUT/initrd.img"
mv "$OUT/lab.img.tmp" "$OUT/lab.img"
mv "$OUT/manifest.tmp" "$OUT/manifest"
echo "$stamp" >"$OUT/.stamp"
say "done: $OUT/lab.img ($((size_mb)) MiB), kernel $KVER"
