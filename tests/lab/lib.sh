# shellcheck shell=bash
# tests/lab/lib.sh: boot the lab image under the private QEMU 10 with a lab-entry and
# this build shared over 9p, and count the lab's PASS/FAIL/SKIP lines; for the lab's
# tests (test-lab-vf.sh, test-lab-pktgen.sh, ...). Source it after tests/lib/result.sh.
#
#   lab_preflight NAME BIN...        skip (77) without root, the lab image (make lab),
#                                    QEMU 10 (make lab-qemu) or BIN in the build
#   lab_boot ENTRY APPEND -- QEMU_ARG...
#                                    boot with ENTRY as the vrlab share's lab-entry,
#                                    APPEND added to the kernel command line, the QEMU
#                                    arguments that differ (machine, devices); waits for
#                                    the lab to power off. Sets LAB_CONSOLE (the console,
#                                    cleaned), LAB_LINES (the lab's own lines) and
#                                    LAB_SECS; fails and ends the test without LAB-READY.
#   lab_report END_MARKER            the lab's lines counted as ours, its end marker and
#                                    LAB-DONE, the power-off, no mount left; ends the test
#
# Environment: LAB_IMAGE_DIR (default images/.lab), LAB_QEMU_DIR (default
# images/.lab/qemu-10), top_builddir (the build to share; default top_srcdir/build),
# LAB_BOOT_TIMEOUT (s, default 400), LAB_KEEP_LOG=1 keeps the console log.

LAB_IMG=${LAB_IMAGE_DIR:-$top_srcdir/images/.lab}
LAB_QEMU=${LAB_QEMU_DIR:-$LAB_IMG/qemu-10}/qemu-system-x86_64
LAB_TIMEOUT=${LAB_BOOT_TIMEOUT:-400}
LAB_MODDIR=/usr/lib/x86_64-linux-gnu/qemu
LAB_NAME='' LAB_TMP='' LAB_QPID='' LAB_MOUNTS_BEFORE=''
LAB_CONSOLE='' LAB_LINES='' LAB_SECS=''

lab_skip() { echo "SKIP: $*"; exit 77; }
lab_finish() { vr_test_summary; exit; }

lab_preflight() {
	local bin
	LAB_NAME=$1
	shift
	top_builddir=$(cd "${top_builddir:-$top_srcdir/build}" 2>/dev/null && pwd) || top_builddir=''
	[[ $EUID -eq 0 ]] || lab_skip "needs root (the QEMU wrapper bind-mounts in a mount namespace)"
	for f in vmlinuz initrd.img lab.img cmdline; do
		[[ -r $LAB_IMG/$f ]] || lab_skip "no lab image in $LAB_IMG ($f missing): build it with make lab (as root)"
	done
	[[ -x $LAB_QEMU ]] || lab_skip "no QEMU 10 at $LAB_QEMU: fetch it with make lab-qemu"
	for bin in "$@"; do
		[[ -n $top_builddir && -x $top_builddir/$bin ]] || lab_skip "$bin not built in '${top_builddir:-?}'"
	done
}

# shellcheck disable=SC2317 # called by the EXIT trap
lab_cleanup() {
	trap '' INT TERM
	if [[ -n $LAB_QPID ]] && kill -0 "$LAB_QPID" 2>/dev/null; then
		kill "$LAB_QPID" 2>/dev/null || true
		wait "$LAB_QPID" 2>/dev/null || true
	fi
	if [[ ${LAB_KEEP_LOG:-0} == 1 && -n $LAB_TMP ]]; then
		local keep=${TMPDIR:-/tmp}/vrtest-lab-$LAB_NAME.console.log
		cp "$LAB_TMP/console.log" "$keep" 2>/dev/null && echo "# console log: $keep"
	fi
	[[ -z $LAB_TMP ]] || rm -rf "$LAB_TMP"
}

lab_boot() {
	local entry=$1 append=$2 t0 log
	shift 2
	[[ ${1:-} == -- ]] && shift
	LAB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/vrtest-lab-$LAB_NAME.XXXXXX")
	log=$LAB_TMP/console.log
	install -m 0755 "$entry" "$LAB_TMP/share/lab-entry" -D
	trap lab_cleanup EXIT
	trap 'exit 1' INT TERM
	LAB_MOUNTS_BEFORE=$(grep -c " $LAB_MODDIR " /proc/self/mountinfo || true)
	# -accel tcg: /dev/kvm here is a paravirtual KVM that stock kernels hang under.
	# -no-reboot: a panic ends QEMU. The lab powers itself off after lab-entry
	# (vr_lab.poweroff).
	t0=$SECONDS
	"$LAB_QEMU" "$@" -accel tcg -smp 2 -m 2048 -nodefaults -no-user-config -display none -no-reboot \
		-kernel "$LAB_IMG/vmlinuz" -initrd "$LAB_IMG/initrd.img" \
		-append "$(cat "$LAB_IMG/cmdline") vr_lab.poweroff${append:+ $append}" \
		-drive "file=$LAB_IMG/lab.img,format=raw,if=virtio,snapshot=on" \
		-virtfs "local,path=$LAB_TMP/share,mount_tag=vrlab,security_model=none,readonly=on" \
		-virtfs "local,path=$top_builddir,mount_tag=vrbuild,security_model=none,readonly=on" \
		-serial "file:$log" </dev/null >"$LAB_TMP/qemu.out" 2>&1 &
	LAB_QPID=$!
	while kill -0 "$LAB_QPID" 2>/dev/null && ((SECONDS - t0 < LAB_TIMEOUT)); do sleep 1; done
	LAB_SECS=$((SECONDS - t0))
	if kill -0 "$LAB_QPID" 2>/dev/null; then
		fail "the lab did not finish within $LAB_TIMEOUT s"
		kill "$LAB_QPID" 2>/dev/null || true
	fi
	wait "$LAB_QPID" 2>/dev/null || true
	LAB_QPID=
	# journald prefixes the unit's lines: "[  12.3] vr-lab-ready[321]: PASS: ..."
	LAB_CONSOLE=$(tr -d '\r' <"$log" | sed 's/\x1b\[[0-9;]*m//g')
	LAB_LINES=$(sed -n 's/.*vr-lab-ready\[[0-9]*\]: //p' <<<"$LAB_CONSOLE")
	local ready
	ready=$(grep -m1 -o 'LAB-READY .*' <<<"$LAB_LINES" || true)
	if [[ -z $ready ]]; then
		fail "no LAB-READY on the console after $LAB_SECS s; last lines:"
		tail -n 25 <<<"$LAB_CONSOLE" | sed 's/^/# /'
		sed 's/^/# qemu: /' "$LAB_TMP/qemu.out"
		lab_finish
	fi
	echo "# $ready"
}

lab_report() {
	local marker=$1 l end done_line mounts_after
	while IFS= read -r l; do
		case $l in
		'PASS: '*) pass "lab: ${l#PASS: }" ;;
		'FAIL: '*) fail "lab: ${l#FAIL: }" ;;
		'SKIP: '*) echo "SKIP: lab: ${l#SKIP: }" ;;
		'# '*) echo "# lab: ${l#\# }" ;;
		esac
	done <<<"$LAB_LINES"
	end=$(grep -m1 -o "$marker .*" <<<"$LAB_LINES" || true)
	done_line=$(grep -m1 -o 'LAB-DONE .*' <<<"$LAB_LINES" || true)
	if [[ -n $end && $done_line == 'LAB-DONE rc='* ]]; then
		pass "lab-entry ran to its end ($end, $done_line)"
	else
		fail "lab-entry did not finish: '${end:-no $marker}', '${done_line:-no LAB-DONE}'"
	fi
	if grep -q 'reboot: Power down' <<<"$LAB_CONSOLE"; then
		pass "the lab powered off: $LAB_SECS s from QEMU's start"
	else
		fail "no clean power down ($LAB_SECS s)"
	fi
	mounts_after=$(grep -c " $LAB_MODDIR " /proc/self/mountinfo || true)
	((mounts_after == LAB_MOUNTS_BEFORE)) || fail "mounts on $LAB_MODDIR: $LAB_MOUNTS_BEFORE before, $mounts_after after"
	lab_finish
}
