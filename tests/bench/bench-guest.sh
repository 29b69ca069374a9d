#!/usr/bin/env bash
# bench-guest.sh: issue 5's benchmark.  Our forwarding guest (images/vmlinuz +
# images/initrd.img, vr-init as PID 1) beside a plain Debian guest with systemd,
# both booted the same way: a libvirt domain rendered by `virt-router render
# kvm-macvtap --type qemu` (direct kernel boot, full emulation, same memory), the
# same two macvtap ports with the same MACs on veths whose peers sit in two network
# namespaces, the same addresses (wan 192.0.2.1/24, lan 198.51.100.1/24),
# forwarding on.  Not a test: it prints figures.
#
#   a) image size: ours = vmlinuz + initrd.img; systemd = its kernel + its
#      initramfs + its raw ext4 root disk (apparent size).  Target (ours): <= 32 MiB.
#   b) READY, from `virsh start` (the moment it is called): ours = the VR-READY line
#      vr-init prints on the serial console; systemd = the VR-READY line a oneshot
#      unit (tests/bench/systemd-guest/vr-ready.service) writes to /dev/ttyS0 once
#      network-online.target is reached, i.e. after systemd-networkd-wait-online saw
#      both NICs configured.  Target (ours): median <= 5 s.
#   c) first packet, from `virsh start`: a sender in namespace A sends UDP to
#      198.51.100.2 through the router at BENCH_PPS (200) from before `virsh start`;
#      a receiver in namespace B timestamps the first datagram.  A has a permanent
#      neighbour entry for the router's MAC, so the figure is the guest's and not
#      A's ARP retry timer (1 s).  Target (ours): median <= 5 s.
#   Each of b) and c) BENCH_RUNS times (default 5), the two guests alternating;
#   median, min and max.  Then one line
#     BENCH-GUEST ours_mib=.. ours_ready_ms=.. ours_first_pkt_ms=.. systemd_mib=.. systemd_ready_ms=.. systemd_first_pkt_ms=..
#   (medians), or with --json a JSON object on stdout (everything else then goes to
#   stderr).
#
# The comparison image is built once, with debootstrap (bookworm minbase from the
# mirror guest/build-image.sh uses, + systemd, systemd-sysv, udev, dbus, e2fsprogs,
# linux-image-cloud-amd64, iproute2; Debian's own initramfs-tools initramfs), and
# cached in IMAGES/.systemd-guest/ with a stamp: tree/ (the chroot), vmlinuz,
# initrd.img and root.raw, made with `mke2fs -d` (no loop mount).  Each run boots a
# fresh sparse copy of root.raw, so every boot is the same boot.  The first build
# takes a few minutes.
#
# Usage: tests/bench/bench-guest.sh [--json] [--build-only]     (as root)
# Exit: 0 our targets met, 1 one missed (or a run timed out), 2 usage, 3 cannot run.
# Environment:
#   BENCH_RUNS (5)  BENCH_MEMORY (256, MiB)  BENCH_PPS (200)  BENCH_TIMEOUT (120, s per boot)
#   BENCH_TARGET_MIB (32)  BENCH_TARGET_READY_MS (5000)  BENCH_TARGET_PKT_MS (5000)
#   BENCH_SYSTEMD_CMDLINE  the systemd guest's kernel command line
#                   (default "root=/dev/vda rw console=ttyS0 quiet panic=-1")
#   BENCH_LOG_DIR   keep each boot's serial console log there (KIND.RUN.console.log)
#   GUEST_IMAGE_DIR (top_srcdir/images)  GUEST_MIRROR  GUEST_SUITE (bookworm)
#   top_srcdir, top_builddir, VIRT_ROUTER
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=$(cd "${top_srcdir:-$here/../..}" && pwd)
top_builddir=${top_builddir:-$top_srcdir/build}
VIRT_ROUTER=${VIRT_ROUTER:-$top_builddir/virt-router}
export VIRT_ROUTER_TEMPLATE_DIR=${VIRT_ROUTER_TEMPLATE_DIR:-$top_srcdir/xml-templates}
IMAGES=${GUEST_IMAGE_DIR:-$top_srcdir/images}
SG_FILES=$here/systemd-guest
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_MEMORY=${BENCH_MEMORY:-256}
BENCH_PPS=${BENCH_PPS:-200}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-120}
BENCH_TARGET_MIB=${BENCH_TARGET_MIB:-32}
# ours boots with "console=ttyS0 quiet panic=-1" (render's); the same for systemd
BENCH_SYSTEMD_CMDLINE=${BENCH_SYSTEMD_CMDLINE:-root=/dev/vda rw console=ttyS0 quiet panic=-1}
BENCH_TARGET_READY_MS=${BENCH_TARGET_READY_MS:-5000}
BENCH_TARGET_PKT_MS=${BENCH_TARGET_PKT_MS:-5000}
SUITE=${GUEST_SUITE:-bookworm}
# udev: networkd leaves a link "pending" until udev has seen it; dbus: every real
# Debian systemd system has it (systemd recommends it); zstd: initramfs-tools'
# default compressor; e2fsprogs: fsck of the ext4 root at boot, as on any Debian
# install (minbase lacks it).
SG_PACKAGES=systemd,systemd-sysv,udev,dbus,linux-image-cloud-amd64,iproute2,initramfs-tools,zstd,e2fsprogs
# Both domains get these MACs (the systemd guest's .network files match them).
MAC_WAN=52:54:00:be:0a:01
MAC_LAN=52:54:00:be:0b:01
PROG=bench-guest
START=$SECONDS

json=0 build_only=0
usage() { echo "usage: $0 [--json] [--build-only]" >&2; exit 2; }
while (($#)); do
	case $1 in
	--json) json=1 ;;
	--build-only) build_only=1 ;;
	-h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) usage ;;
	esac
	shift
done
[[ $BENCH_RUNS =~ ^[1-9][0-9]*$ ]] || usage
# With --json, stdout carries the JSON object only.
if ((json)); then exec 3>&1 1>&2; fi

say() { echo "$PROG: [$((SECONDS - START))s] $*"; }
cannot() { echo "$PROG: cannot run: $*" >&2; exit 3; }

[[ $EUID -eq 0 ]] || cannot "needs root (debootstrap, libvirtd, veths, namespaces)"
for cmd in debootstrap mke2fs virsh libvirtd virtlogd qemu-system-x86_64 ip flock; do
	command -v "$cmd" >/dev/null || cannot "'$cmd' not found (scripts/install-deps.sh; apt-get install debootstrap e2fsprogs)"
done
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3) || cannot "python3 not found"
[[ -x $VIRT_ROUTER ]] || cannot "$VIRT_ROUTER not built"
mkdir -p "$IMAGES"
IMAGES=$(realpath "$IMAGES")
if [[ ! -r $IMAGES/vmlinuz || ! -r $IMAGES/initrd.img ]]; then
	say "no guest image in $IMAGES: make guest"
	make -C "$top_builddir" guest GUEST_IMAGE_DIR="$IMAGES" >"$IMAGES/bench-make-guest.log" 2>&1 ||
		cannot "make guest failed; see $IMAGES/bench-make-guest.log"
fi

# ---------------------------------------------------------------------------
# The comparison image
SG=$IMAGES/.systemd-guest
TREE=$SG/tree
mkdir -p "$SG"
exec 9>>"$SG/.lock"
flock -w 1800 9 || cannot "$SG is locked by another build"

# shellcheck source=guest/apt-mirror.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../guest/apt-mirror.sh"

# 1. The chroot, made once per suite and package list.  Its kernel and initramfs
# move out of /boot (libvirt boots them directly), so the root disk does not carry
# them twice.
chroot_key="suite=$SUITE packages=$SG_PACKAGES"
if [[ ! -f $TREE/.vr-bench-chroot || $(cat "$TREE/.vr-bench-chroot") != "$chroot_key" ||
	! -f $SG/vmlinuz || ! -f $SG/initrd.img ]]; then
	mirror=${GUEST_MIRROR:-$(find_mirror | head -n1)}
	[[ -n $mirror ]] || cannot "no apt source for $SUITE found in /etc/apt; set GUEST_MIRROR"
	say "building the systemd comparison image (once; a few minutes): debootstrap $SUITE minbase + $SG_PACKAGES from $mirror into $TREE (log: $SG/debootstrap.log)"
	rm -rf "$TREE.new" "$SG/.stamp"
	debootstrap --variant=minbase --include="$SG_PACKAGES" "$SUITE" "$TREE.new" "$mirror" >"$SG/debootstrap.log" 2>&1 &
	dpid=$!
	# progress: debootstrap's own stage lines
	while kill -0 "$dpid" 2>/dev/null; do
		sleep 15
		say "  ... $(grep -aE '^I: (Retrieving|Validating|Extracting|Installing|Configuring|Unpacking)' "$SG/debootstrap.log" 2>/dev/null | tail -n1 | cut -c1-90)"
	done
	wait "$dpid" || cannot "debootstrap failed; see $SG/debootstrap.log"
	kver=$(find "$TREE.new/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort -V | tail -n1)
	[[ -n $kver && -f $TREE.new/boot/vmlinuz-$kver ]] || cannot "no kernel in $TREE.new"
	if [[ ! -f $TREE.new/boot/initrd.img-$kver ]]; then
		say "update-initramfs -c -k $kver"
		mount -t proc proc "$TREE.new/proc"
		chroot "$TREE.new" update-initramfs -c -k "$kver" >>"$SG/debootstrap.log" 2>&1 || { umount "$TREE.new/proc"; cannot "update-initramfs failed; see $SG/debootstrap.log"; }
		umount "$TREE.new/proc"
	fi
	chroot "$TREE.new" apt-get clean
	mv "$TREE.new/boot/vmlinuz-$kver" "$SG/vmlinuz"
	mv "$TREE.new/boot/initrd.img-$kver" "$SG/initrd.img"
	echo "$kver" >"$SG/kernel"
	echo "$chroot_key" >"$TREE.new/.vr-bench-chroot"
	rm -rf "$TREE"
	mv "$TREE.new" "$TREE"
	say "chroot ready (kernel $kver)"
fi

# 2. Its configuration and the root disk, remade when this script or the files in
# systemd-guest/ change.
stamp=$( {
	sha256sum <"${BASH_SOURCE[0]}"
	cat "$SG_FILES"/*
	echo "$chroot_key $MAC_WAN $MAC_LAN"
} | sha256sum | cut -d' ' -f1)
if [[ ! -f $SG/.stamp || $(cat "$SG/.stamp") != "$stamp" || ! -f $SG/root.raw ]]; then
	say "configuring the systemd guest: networkd (.network by MAC), sysctl forwarding, vr-ready.service"
	rm -f "$SG/.stamp"
	rm -f "$TREE"/etc/systemd/network/*-vr-*.network
	port_network() { # NAME MAC ADDRESS
		sed -e "s|@MAC@|$2|" -e "s|@ADDRESS@|$3|" "$SG_FILES/port.network.in" >"$TREE/etc/systemd/network/10-vr-$1.network"
	}
	port_network wan "$MAC_WAN" 192.0.2.1/24
	port_network lan "$MAC_LAN" 198.51.100.1/24
	install -m 0644 "$SG_FILES/90-vr-forward.conf" "$TREE/etc/sysctl.d/90-vr-forward.conf"
	install -m 0644 "$SG_FILES/vr-ready.service" "$TREE/etc/systemd/system/vr-ready.service"
	chroot "$TREE" systemctl enable systemd-networkd.service systemd-networkd-wait-online.service vr-ready.service >>"$SG/configure.log" 2>&1 ||
		cannot "systemctl enable in the chroot failed; see $SG/configure.log"
	# debootstrap leaves apt's package lists (~50 MiB); an image that is shipped does not
	rm -rf "$TREE"/var/lib/apt/lists/*
	echo "vrbench-systemd" >"$TREE/etc/hostname"
	# a fixed machine-id: every boot of the copy is the same boot, not a first boot
	echo 6b1e0c6a5f3d4e2c9a8b7c6d5e4f3a2b >"$TREE/etc/machine-id"
	echo "/dev/vda / ext4 rw,relatime 0 1" >"$TREE/etc/fstab"
	used_kib=$(du -sxk "$TREE" | cut -f1)
	# the tree + a quarter for ext4's metadata + 64 MiB for the guest's journal and logs
	size_mib=$(((used_kib * 5 / 4) / 1024 + 64))
	say "mke2fs -t ext4 -d $TREE root.raw ${size_mib}M (tree: $((used_kib / 1024)) MiB)"
	rm -f "$SG/root.raw.tmp"
	mke2fs -q -F -t ext4 -L root -d "$TREE" "$SG/root.raw.tmp" "${size_mib}M" >>"$SG/configure.log" 2>&1 ||
		cannot "mke2fs failed; see $SG/configure.log"
	mv "$SG/root.raw.tmp" "$SG/root.raw"
	echo "$stamp" >"$SG/.stamp"
	say "systemd comparison image ready"
else
	say "systemd comparison image up to date ($SG)"
fi
((build_only)) && exit 0
# (a daemon started below must not inherit the build lock)
exec 9>&-

# ---------------------------------------------------------------------------
# Sizes
fsize() { stat -c %s "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
ours_kernel=$(fsize "$IMAGES/vmlinuz") ours_initrd=$(fsize "$IMAGES/initrd.img")
ours_bytes=$((ours_kernel + ours_initrd))
sd_kernel=$(fsize "$SG/vmlinuz") sd_initrd=$(fsize "$SG/initrd.img") sd_root=$(fsize "$SG/root.raw")
sd_root_alloc=$(($(du -k "$SG/root.raw" | cut -f1) * 1024))
sd_bytes=$((sd_kernel + sd_initrd + sd_root))
ours_kver=$(sed -n 's/^kernel //p' "$IMAGES/manifest" 2>/dev/null || true)
sd_kver=$(cat "$SG/kernel" 2>/dev/null || true)

# ---------------------------------------------------------------------------
# Network, libvirtd, the two domains
# shellcheck source=tests/lib/libvirtd.sh
. "$top_srcdir/tests/lib/libvirtd.sh"
# shellcheck source=tests/lib/netns.sh
. "$top_srcdir/tests/lib/netns.sh"
tag=$$
dom_ours="vrbench-$tag-ours" dom_sd="vrbench-$tag-systemd"
nsa="vrba$tag" nsb="vrbb$tag"
wa="vbwa$tag" wb="vbwb$tag" la="vbla$tag" lb="vblb$tag"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vrbench-guest.XXXXXX")
rundisk=$SG/run-$tag.raw
sender_pid='' watcher_pid=''
cleanup() {
	trap '' INT TERM
	if [[ -n $sender_pid ]]; then kill "$sender_pid" 2>/dev/null || true; fi
	if [[ -n $watcher_pid ]]; then kill "$watcher_pid" 2>/dev/null || true; fi
	for d in "$dom_ours" "$dom_sd"; do
		timeout 30 virsh -q destroy "$d" >/dev/null 2>&1 || true
		timeout 30 virsh -q undefine "$d" >/dev/null 2>&1 || true
	done
	ip netns del "$nsa" 2>/dev/null || true
	ip netns del "$nsb" 2>/dev/null || true
	ip link del "$wa" 2>/dev/null || true
	ip link del "$la" 2>/dev/null || true
	rm -rf "$tmp"
	rm -f "$rundisk"
	vr_libvirtd_stop
}
trap cleanup EXIT
trap 'exit 1' INT TERM
vr_libvirtd_start || cannot "libvirtd does not answer"

vr_host_side "$nsa" "$wa" "$wb" 192.0.2.2/24 192.0.2.1
# the router's MAC is known: no ARP retries (1 s apart) while the guest boots
ip -n "$nsa" neigh replace 192.0.2.1 lladdr "$MAC_WAN" dev "$wb" nud permanent
vr_host_side "$nsb" "$la" "$lb" 198.51.100.2/24 198.51.100.1

cat >"$tmp/policy.xml" <<XML
<vr:router xmlns:vr='urn:virt-router:1'>
  <vr:port name='wan' mode='macvtap' dev='$wa' mac='$MAC_WAN' queue='50'/>
  <vr:port name='lan' mode='macvtap' dev='$la' mac='$MAC_LAN' queue='50'/>
  <vr:address port='wan' ip='192.0.2.1/24'/>
  <vr:address port='lan' ip='198.51.100.1/24'/>
  <vr:strip devices='sound graphics video input usb memballoon'/>
</vr:router>
XML
render() { # NAME OUT
	"$VIRT_ROUTER" render kvm-macvtap --type qemu -n "$1" --memory "$BENCH_MEMORY" \
		--image-dir "$IMAGES" --policy "$tmp/policy.xml" >"$2"
}
render "$dom_ours" "$tmp/ours.xml"
render "$dom_sd" "$tmp/systemd.xml"
# The console into a file; the systemd guest: its kernel, initramfs, cmdline and disk.
"$PY" - "$tmp/ours.xml" "$tmp/ours.console" <<'PY'
import sys
p, log = sys.argv[1:]
s = open(p).read()
s = s.replace("<serial type='pty'>", "<serial type='pty'>\n      <log file='%s' append='off'/>" % log, 1)
open(p, "w").write(s)
PY
"$PY" - "$tmp/systemd.xml" "$tmp/systemd.console" "$SG" "$rundisk" "$BENCH_SYSTEMD_CMDLINE" <<'PY'
import re, sys
from xml.sax.saxutils import escape
p, log, sg, disk, cmdline = sys.argv[1:]
s = open(p).read()
s = s.replace("<serial type='pty'>", "<serial type='pty'>\n      <log file='%s' append='off'/>" % log, 1)
s, n1 = re.subn(r"<kernel>[^<]*</kernel>", "<kernel>%s/vmlinuz</kernel>" % sg, s)
s, n2 = re.subn(r"<initrd>[^<]*</initrd>", "<initrd>%s/initrd.img</initrd>" % sg, s)
s, n3 = re.subn(r"<cmdline>[^<]*</cmdline>", lambda m: "<cmdline>%s</cmdline>" % escape(cmdline), s)
disk_xml = ("<devices>\n    <disk type='file' device='disk'>\n      <driver name='qemu' type='raw'/>\n"
            "      <source file='%s'/>\n      <target dev='vda' bus='virtio'/>\n    </disk>" % disk)
s, n4 = re.subn(r"<devices>", disk_xml, s, count=1)
if (n1, n2, n3, n4) != (1, 1, 1, 1):
    sys.exit("bench-guest: unexpected rendered XML (kernel/initrd/cmdline/devices: %d %d %d %d)" % (n1, n2, n3, n4))
open(p, "w").write(s)
PY
virsh -q define "$tmp/ours.xml" >/dev/null
virsh -q define "$tmp/systemd.xml" >/dev/null

# The sender (namespace A): UDP to B through the router at BENCH_PPS until killed;
# errors (nothing answers yet) are ignored.  Payload: sequence number, send time.
cat >"$tmp/sender.py" <<'PY'
import socket, struct, sys, time
rate = float(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t0 = time.monotonic()
i = 0
while True:
    try:
        s.sendto(struct.pack("!QQ", i, time.time_ns()) + b"x" * 16, ("198.51.100.2", 9999))
    except OSError:
        pass
    i += 1
    d = t0 + i / rate - time.monotonic()
    if d > 0:
        time.sleep(d)
PY
# The watcher (namespace B): receives on 198.51.100.2:9999 and follows the console
# log, every 2 ms; writes when it first saw VR-READY and the first datagram
# (CLOCK_REALTIME ns, as date +%s%N), then exits.
cat >"$tmp/watcher.py" <<'PY'
import os, select, socket, struct, sys, time
console, out, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.51.100.2", 9999))
s.setblocking(False)
open(out + ".bound", "w").close()
res = {}
f = None
buf = b""
end = time.monotonic() + timeout
while time.monotonic() < end and not ("ready_ns" in res and "ready_line" in res and "pkt_ns" in res):
    r, _, _ = select.select([s], [], [], 0.002)
    if r:
        while True:
            try:
                data = s.recv(2048)
            except BlockingIOError:
                break
            if "pkt_ns" not in res:
                res["pkt_ns"] = time.time_ns()
                if len(data) >= 16:
                    seq, sent = struct.unpack("!QQ", data[:16])
                    res["pkt_seq"] = seq
                    res["pkt_sent_ns"] = sent
            res["pkts"] = res.get("pkts", 0) + 1
    if "ready_line" not in res:
        if f is None:
            try:
                f = open(console, "rb")
            except FileNotFoundError:
                continue
        buf += f.read()
        i = buf.find(b"VR-READY")
        if i >= 0:
            res.setdefault("ready_ns", time.time_ns())
            j = buf.find(b"\n", i)
            if j >= 0:
                res["ready_line"] = buf[i:j].decode(errors="replace").strip()
with open(out + ".tmp", "w") as o:
    for k, v in res.items():
        o.write("%s=%s\n" % (k, v))
os.rename(out + ".tmp", out)
PY

# ---------------------------------------------------------------------------
# One boot: run KIND (ours|systemd) I -> appends "ready_ms pkt_ms guest_uptime_ms started_ms" to $tmp/KIND.runs
boot() {
	local kind=$1 i=$2 dom console out t0 t1 ready_ns pkt_ns line ready_ms pkt_ms started_ms up_ms
	if [[ $kind == ours ]]; then dom=$dom_ours; else dom=$dom_sd; fi
	console=$tmp/$kind.console out=$tmp/$kind.$i.watch
	rm -f "$console"
	# a fresh copy of the root disk: every boot is the same boot
	[[ $kind == systemd ]] && cp --sparse=always "$SG/root.raw" "$rundisk"
	ip netns exec "$nsb" "$PY" "$tmp/watcher.py" "$console" "$out" "$BENCH_TIMEOUT" &
	watcher_pid=$!
	for _ in $(seq 200); do [[ -f $out.bound ]] && break; sleep 0.01; done
	ip netns exec "$nsa" "$PY" "$tmp/sender.py" "$BENCH_PPS" &
	sender_pid=$!
	sleep 0.3
	t0=$(date +%s%N)
	virsh -q start "$dom" >/dev/null
	t1=$(date +%s%N)
	wait "$watcher_pid" || true
	watcher_pid=''
	kill "$sender_pid" 2>/dev/null || true
	wait "$sender_pid" 2>/dev/null || true
	sender_pid=''
	timeout 30 virsh -q destroy "$dom" >/dev/null 2>&1 || true
	ready_ns=$(sed -n 's/^ready_ns=//p' "$out" 2>/dev/null || true)
	pkt_ns=$(sed -n 's/^pkt_ns=//p' "$out" 2>/dev/null || true)
	line=$(sed -n 's/^ready_line=//p' "$out" 2>/dev/null || true)
	started_ms=$(((t1 - t0) / 1000000))
	ready_ms=- pkt_ms=- up_ms=-
	[[ -n $ready_ns ]] && ready_ms=$(((ready_ns - t0) / 1000000))
	[[ -n $pkt_ns ]] && pkt_ms=$(((pkt_ns - t0) / 1000000))
	if [[ $line =~ uptime_ms=([0-9]+) ]]; then up_ms=${BASH_REMATCH[1]};
	elif [[ $line =~ uptime_s=([0-9.]+) ]]; then up_ms=$(awk -v s="${BASH_REMATCH[1]}" 'BEGIN { printf "%d", s * 1000 }'); fi
	echo "$ready_ms $pkt_ms $up_ms $started_ms" >>"$tmp/$kind.runs"
	printf '  %-8s run %d: virsh start returned %5d ms, READY %6s ms (guest uptime %6s ms), first packet %6s ms\n' \
		"$kind" "$i" "$started_ms" "$ready_ms" "$up_ms" "$pkt_ms"
	if [[ $ready_ms == - ]]; then
		echo "    no VR-READY within ${BENCH_TIMEOUT}s; console tail:"
		tail -c 1500 "$console" 2>/dev/null | tr -d '\r' | sed 's/^/    | /'
	fi
	if [[ -n ${BENCH_LOG_DIR:-} ]]; then
		mkdir -p "$BENCH_LOG_DIR"
		cp "$console" "$BENCH_LOG_DIR/$kind.$i.console.log" 2>/dev/null || true
	fi
	# the domain gone (and its macvtaps) before the next one starts
	for _ in $(seq 100); do
		[[ $(virsh -q domstate "$dom" 2>/dev/null) == "shut off" ]] && break
		sleep 0.1
	done
	rm -f "$rundisk"
}

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
others=$(pgrep -c -x qemu-system-x86 2>/dev/null || true)
say "benchmark: $BENCH_RUNS boots of each guest, alternating; $(nproc) CPUs ($cpu_model), load average $(cut -d' ' -f1-3 /proc/loadavg), ${others:-0} other QEMU processes running"
: >"$tmp/ours.runs"
: >"$tmp/systemd.runs"
for ((i = 1; i <= BENCH_RUNS; i++)); do
	boot ours "$i"
	boot systemd "$i"
done
late_others=$(pgrep -c -x qemu-system-x86 2>/dev/null || true)

# ---------------------------------------------------------------------------
# Figures
# stats FILE COLUMN -> "median min max ok" over the runs that produced a figure
stats() {
	awk -v c="$2" '$c != "-" { print $c }' "$1" | sort -n | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "- - - 0"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)
			print m, v[1], v[NR], NR
		}'
}
read -r o_rd_med o_rd_min o_rd_max o_rd_n < <(stats "$tmp/ours.runs" 1)
read -r o_pk_med o_pk_min o_pk_max o_pk_n < <(stats "$tmp/ours.runs" 2)
read -r o_up_med _ _ _ < <(stats "$tmp/ours.runs" 3)
read -r o_st_med _ _ _ < <(stats "$tmp/ours.runs" 4)
read -r s_rd_med s_rd_min s_rd_max s_rd_n < <(stats "$tmp/systemd.runs" 1)
read -r s_pk_med s_pk_min s_pk_max s_pk_n < <(stats "$tmp/systemd.runs" 2)
read -r s_up_med _ _ _ < <(stats "$tmp/systemd.runs" 3)
read -r s_st_med _ _ _ < <(stats "$tmp/systemd.runs" 4)

verdict() { # VALUE TARGET RUNS_OK -> PASS|FAIL
	[[ $1 != - && $3 == "$BENCH_RUNS" ]] && (($1 <= $2)) && echo PASS || echo FAIL
}
v_size=$( ((ours_bytes <= BENCH_TARGET_MIB * 1048576)) && echo PASS || echo FAIL)
v_ready=$(verdict "$o_rd_med" "$BENCH_TARGET_READY_MS" "$o_rd_n")
v_pkt=$(verdict "$o_pk_med" "$BENCH_TARGET_PKT_MS" "$o_pk_n")
result=PASS
[[ $v_size == PASS && $v_ready == PASS && $v_pkt == PASS ]] || result=FAIL

echo
echo "guest boot benchmark: libvirt direct kernel boot, domain type='qemu' (TCG), ${BENCH_MEMORY} MiB, 1 vCPU,"
echo "two macvtap ports on veths into two namespaces, $BENCH_RUNS runs each, UDP A->B at $BENCH_PPS pps from before virsh start"
echo "host: $(uname -r), $(nproc) CPUs, $cpu_model; other QEMU processes: ${others:-0} at start, ${late_others:-0} at end"
echo "READY: ours = vr-init's VR-READY line on the serial console (addresses set, forwarding on);"
echo "       systemd = VR-READY written to /dev/ttyS0 by vr-ready.service, a oneshot after network-online.target"
echo "       (systemd-networkd-wait-online: both NICs configured by systemd-networkd, ip_forward=1 from /etc/sysctl.d)"
echo "times are from the call of 'virsh start' (which itself returns after the 'start' column)"
echo
printf '%-40s %20s %20s\n' "" "ours" "systemd"
printf '%-40s %20s %20s\n' "kernel" "${ours_kver:-?}" "${sd_kver:-?}"
printf '%-40s %20s %20s\n' "image MiB (kernel+initrd[+root disk])" "$(mib "$ours_bytes")" "$(mib "$sd_bytes")"
printf '%-40s %20s %20s\n' "  kernel MiB" "$(mib "$ours_kernel")" "$(mib "$sd_kernel")"
printf '%-40s %20s %20s\n' "  initramfs MiB" "$(mib "$ours_initrd")" "$(mib "$sd_initrd")"
printf '%-40s %20s %20s\n' "  root disk MiB (apparent / allocated)" "-" "$(mib "$sd_root") / $(mib "$sd_root_alloc")"
row() { printf '%-40s %20s %20s\n' "$1" "$2" "$3"; }
row "virsh start returns, ms  median" "$o_st_med" "$s_st_med"
row "READY ms           median" "$o_rd_med" "$s_rd_med"
row "                   min / max" "$o_rd_min / $o_rd_max" "$s_rd_min / $s_rd_max"
row "  guest uptime at READY, ms median" "$o_up_med" "$s_up_med"
row "first packet A->B ms median" "$o_pk_med" "$s_pk_med"
row "                   min / max" "$o_pk_min / $o_pk_max" "$s_pk_min / $s_pk_max"
row "runs with READY / with a packet" "$o_rd_n / $o_pk_n" "$s_rd_n / $s_pk_n"
echo
echo "our targets: image $(mib "$ours_bytes") MiB <= $BENCH_TARGET_MIB MiB: $v_size;" \
	"READY median $o_rd_med ms <= $BENCH_TARGET_READY_MS ms: $v_ready;" \
	"first packet median $o_pk_med ms <= $BENCH_TARGET_PKT_MS ms: $v_pkt"
summary="BENCH-GUEST ours_mib=$(mib "$ours_bytes") ours_ready_ms=$o_rd_med ours_first_pkt_ms=$o_pk_med"
summary+=" systemd_mib=$(mib "$sd_bytes") systemd_ready_ms=$s_rd_med systemd_first_pkt_ms=$s_pk_med"
echo "$summary"

if ((json)); then
	num() { [[ $1 == - ]] && echo null || echo "$1"; }
	runs_json() { # FILE
		awk 'BEGIN { printf "[" }
			{ printf "%s{\"ready_ms\":%s,\"first_pkt_ms\":%s,\"guest_uptime_ms\":%s,\"virsh_start_ms\":%s}",
				(NR > 1 ? "," : ""), ($1 == "-" ? "null" : $1), ($2 == "-" ? "null" : $2),
				($3 == "-" ? "null" : $3), $4 }
			END { printf "]" }' "$1"
	}
	guest_json() { # BYTES KERNEL INITRD ROOT KVER RUNSFILE rd_med rd_min rd_max pk_med pk_min pk_max up_med
		printf '{"image_bytes":%d,"image_mib":%s,"kernel_bytes":%d,"initrd_bytes":%d,"root_disk_bytes":%s,"kernel":"%s",' \
			"$1" "$(mib "$1")" "$2" "$3" "$4" "$5"
		printf '"ready_ms":{"median":%s,"min":%s,"max":%s},"first_pkt_ms":{"median":%s,"min":%s,"max":%s},"guest_uptime_at_ready_ms":%s,"runs":%s}' \
			"$(num "$7")" "$(num "$8")" "$(num "$9")" "$(num "${10}")" "$(num "${11}")" "$(num "${12}")" "$(num "${13}")" "$(runs_json "$6")"
	}
	{
		printf '{"result":"%s","runs":%d,"memory_mib":%d,"pps":%d,"kernel":"%s","cpus":%d,"other_qemu":%d,' \
			"$result" "$BENCH_RUNS" "$BENCH_MEMORY" "$BENCH_PPS" "$(uname -r)" "$(nproc)" "${others:-0}"
		printf '"targets":{"image_mib":%d,"ready_ms":%d,"first_pkt_ms":%d,"image":"%s","ready":"%s","first_pkt":"%s"},' \
			"$BENCH_TARGET_MIB" "$BENCH_TARGET_READY_MS" "$BENCH_TARGET_PKT_MS" "$v_size" "$v_ready" "$v_pkt"
		printf '"ready_definition":{"ours":"VR-READY from vr-init on ttyS0","systemd":"VR-READY on ttyS0 from a oneshot unit after network-online.target (systemd-networkd-wait-online)"},'
		printf '"ours":'
		guest_json "$ours_bytes" "$ours_kernel" "$ours_initrd" null "$ours_kver" "$tmp/ours.runs" \
			"$o_rd_med" "$o_rd_min" "$o_rd_max" "$o_pk_med" "$o_pk_min" "$o_pk_max" "$o_up_med"
		printf ',"systemd":'
		guest_json "$sd_bytes" "$sd_kernel" "$sd_initrd" "$sd_root" "$sd_kver" "$tmp/systemd.runs" \
			"$s_rd_med" "$s_rd_min" "$s_rd_max" "$s_pk_med" "$s_pk_min" "$s_pk_max" "$s_up_med"
		printf '}\n'
	} >&3
fi
[[ $result == PASS ]]
