#!/usr/bin/env bash
# The lab VM image (make lab, guest/build-lab-image.sh) booted by QEMU directly: TCG,
# q35, 2 vCPUs, 2 GiB, -kernel/-initrd from the image and its root disk as a virtio
# disk (snapshot=on: the image stays as built). Checks on the serial console that
# vr-lab-ready.service printed its LAB-READY line: systemd is PID 1 and reached
# multi-user.target, /sys/fs/cgroup is cgroup2, the kernel is 6.12, no unit failed;
# that the lab-entry of a 9p share tagged vrlab ran inside and reported its status (the
# hook for the lab's tests); and that the lab then powered itself off (vr_lab.poweroff).
# Prints the boot time to LAB-READY.
#
# Does not build the image (that takes minutes and root): run `make lab` first.
# Environment: LAB_IMAGE_DIR (default images/.lab), QEMU (default the system's
# qemu-system-x86_64; the private QEMU 10 works too), LAB_BOOT_TIMEOUT (s, default 400),
# LAB_KEEP_LOG=1 keeps the console log.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=$(cd "${top_srcdir:-$here/../..}" && pwd)
# shellcheck source=tests/lib/result.sh
. "$top_srcdir/tests/lib/result.sh"
IMG=${LAB_IMAGE_DIR:-$top_srcdir/images/.lab}
QEMU=${QEMU:-qemu-system-x86_64}
TIMEOUT=${LAB_BOOT_TIMEOUT:-400}

skip() { echo "SKIP: $*"; exit 77; }
for f in vmlinuz initrd.img lab.img cmdline; do
	[[ -r $IMG/$f ]] || skip "no lab image in $IMG ($f missing): build it with make lab (as root)"
done
command -v "$QEMU" >/dev/null || skip "'$QEMU' not found"
"$QEMU" -accel help 2>/dev/null | grep -qx tcg || skip "$QEMU has no TCG accelerator"

LOG=$(mktemp "${TMPDIR:-/tmp}/vrtest-lab-image.XXXXXX.log")
# The hook the lab's tests will use: a 9p share tagged vrlab whose lab-entry the guest
# runs after LAB-READY, reporting "LAB-DONE rc=N" on the console.
SHARE=$(mktemp -d "${TMPDIR:-/tmp}/vrtest-lab-share.XXXXXX")
cat >"$SHARE/lab-entry" <<'EOF'
#!/bin/sh
echo "LAB-ENTRY uid=$(id -u) vhost-net=$(test -c /dev/vhost-net && echo yes || echo no)"
exit 3
EOF
chmod 0755 "$SHARE/lab-entry"
qpid=
cleanup() {
	if [[ -n $qpid ]] && kill -0 "$qpid" 2>/dev/null; then
		kill "$qpid" 2>/dev/null || true
		wait "$qpid" 2>/dev/null || true
	fi
	rm -rf "$SHARE"
	if [[ ${LAB_KEEP_LOG:-0} == 1 ]]; then echo "# console log: $LOG"; else rm -f "$LOG"; fi
}
trap cleanup EXIT
finish() { vr_test_summary; exit; }

# -accel tcg: /dev/kvm on the build machines is a paravirtual KVM that stock kernels
# hang under. -no-reboot: a guest panic (panic=-1) ends QEMU instead of looping.
t0=$(date +%s.%N)
"$QEMU" -accel tcg -M q35 -smp 2 -m 2048 -nodefaults -display none -no-reboot \
	-kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" -append "$(cat "$IMG/cmdline") vr_lab.poweroff" \
	-drive "file=$IMG/lab.img,format=raw,if=virtio,snapshot=on" \
	-virtfs "local,path=$SHARE,mount_tag=vrlab,security_model=none,readonly=on" \
	-serial "file:$LOG" &
qpid=$!

ready=
while :; do
	# journald forwards the unit's output to the console as "[ time] vr-lab-ready[PID]: LAB-READY ..."
	if grep -aq 'LAB-READY ' "$LOG" 2>/dev/null; then
		ready=$(grep -a -m1 -o 'LAB-READY .*' "$LOG" | tr -d '\r')
		break
	fi
	kill -0 "$qpid" 2>/dev/null || break
	if (($(date +%s) - ${t0%.*} > TIMEOUT)); then break; fi
	sleep 1
done
t_ready=$(date +%s.%N)
if [[ -z $ready ]]; then
	fail "no LAB-READY on the console within $TIMEOUT s (QEMU $(kill -0 "$qpid" 2>/dev/null && echo running || echo exited)); last lines:"
	tail -n 25 "$LOG" | tr -d '\r' | sed 's/^/# /'
	finish
fi
echo "# $ready"
pass "LAB-READY after $(awk -v a="$t0" -v b="$t_ready" 'BEGIN { printf "%.0f", b - a }') s of wall time under TCG ($(sed -n 's/.*uptime=\([0-9.]*\).*/\1/p' <<<"$ready") s guest uptime)"

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$ready"; }
kernel=$(field kernel)
if [[ $kernel == 6.12.* ]]; then pass "kernel $kernel (bookworm-backports 6.12)"; else fail "kernel '$kernel', expected 6.12.*"; fi
cgroup=$(field cgroup)
if [[ $cgroup == cgroup2fs ]]; then pass "/sys/fs/cgroup is cgroup2 (unified hierarchy)"; else fail "/sys/fs/cgroup is '$cgroup', expected cgroup2fs"; fi
pid1=$(field pid1)
if [[ $pid1 == systemd ]]; then pass "PID 1 is systemd"; else fail "PID 1 is '$pid1', expected systemd"; fi
mu=$(field multi-user)
if [[ $mu == active ]]; then pass "multi-user.target reached"; else fail "multi-user.target is '$mu', expected active"; fi
# systemd's status lines are coloured: "[\e[0;1;31mFAILED\e[0m] Failed to start ..."
console() { tr -d '\r' <"$LOG" | sed 's/\x1b\[[0-9;]*m//g'; }
failed_units=$(console | grep -ac '^\[FAILED\]' || true)
if ((failed_units == 0)); then pass "no unit failed during boot"; else
	fail "$failed_units unit(s) failed during boot:"
	console | grep -a '^\[FAILED\]' | sed 's/^/# /'
fi

# The share's lab-entry ran inside, as root, and its exit status came back
deadline=$(($(date +%s) + 60))
while ! grep -aq 'LAB-DONE ' "$LOG" && kill -0 "$qpid" 2>/dev/null && (($(date +%s) < deadline)); do sleep 1; done
entry=$(grep -a -m1 -o 'LAB-ENTRY .*' "$LOG" | tr -d '\r' || true)
done_line=$(grep -a -m1 -o 'LAB-DONE .*' "$LOG" | tr -d '\r' || true)
if [[ $entry == "LAB-ENTRY uid=0 "* && $done_line == "LAB-DONE rc=3" ]]; then
	pass "the vrlab 9p share's lab-entry ran as root and its status came back ($entry)"
else
	fail "lab-entry from the vrlab share: got '${entry:-nothing}' and '${done_line:-no LAB-DONE}', expected 'LAB-ENTRY uid=0 ...' and 'LAB-DONE rc=3'"
fi

# vr_lab.poweroff: the lab powers itself off after its line (and its tests)
deadline=$(($(date +%s) + 120))
while kill -0 "$qpid" 2>/dev/null && (($(date +%s) < deadline)); do sleep 1; done
if kill -0 "$qpid" 2>/dev/null; then
	fail "the lab did not power off within 120 s of LAB-READY"
elif wait "$qpid" && grep -q 'reboot: Power down' "$LOG"; then
	qpid=
	pass "clean poweroff after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }') s"
else
	qpid=
	fail "QEMU ended without a clean power down"
	tail -n 10 "$LOG" | tr -d '\r' | sed 's/^/# /'
fi
finish
