# shellcheck shell=bash
# tests/lib/libvirtd.sh: start and stop a real libvirtd for integration tests
# and the demo.  Source it; do not execute it.
#
# The machines this project runs on have no systemd as PID 1, so nothing starts
# libvirtd for us: we start virtlogd and libvirtd by hand when nobody answers.
# Where a libvirtd already answers (a developer's own, or systemd's socket
# activation) we use it and never stop it.
#
# Several tests (and the demo) may run at once, so a daemon we start is shared:
# the last user out stops it, and only if the marker file
# $VR_TEST_RUNDIR/libvirtd.pid says this library started it.
#
# Safe under `set -euo pipefail`.  Functions:
#   vr_require_root_or_skip [CMD...]  exit 77 unless root with libvirt + QEMU
#   vr_libvirtd_start                 make sure libvirtd answers (return 1 if not)
#   vr_libvirtd_stop                  undo vr_libvirtd_start
#   vr_lxc_cgroup_fix                 host fix LXC domains need (done by start)
#   vr_kvm_dev_fix                    /dev/kvm group as udev sets it (done by start)
#   vr_pid_alive PID [NAME]           PID runs (not a zombie), named NAME
#   vr_hook_install DRIVER NAME CONF HOOK TUNE
#                                     a hook in /etc/libvirt/hooks/DRIVER.d running
#                                     HOOK with host config CONF (dirs made as needed)
#   vr_hooks_remove                   remove those hooks and the dirs they needed made
#   vr_console_ready CONSOLE          the guest's first VR-READY line in its serial log

: "${VR_TEST_RUNDIR:=/run/virt-router-tests}"
: "${VR_LIBVIRTD_TIMEOUT:=30}"
VR_LIBVIRTD_LOG=/var/log/libvirt/libvirtd.log
# 1 when this shell's vr_libvirtd_start launched the daemon (for messages).
export VR_LIBVIRTD_STARTED=0
VR_START_LOCKFD=
VR_USERS_LOCKFD=

# Print to stderr with a prefix naming the library, so test logs show who spoke.
_vr_log() {
	echo "libvirtd.sh: $*" >&2
}

# True when a libvirtd answers on URI within SECS seconds (default 10).
# `virsh version` reaches the hypervisor driver, not just the socket.
_vr_libvirtd_answers() {
	local uri=${1:-qemu:///system} secs=${2:-10}
	timeout "$secs" virsh -q -c "$uri" version >/dev/null 2>&1
}

# True when PID is alive (not a zombie) and its command name is NAME: guards
# against stale pid files.  PID 1 here reaps orphans late, so daemons we
# stopped linger as zombies for a few seconds.
vr_pid_alive() {
	local pid=$1 name=${2:-} stat comm state
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	stat=$(cat /proc/"$pid"/stat 2>/dev/null) || return 1
	# comm may contain spaces and ')': it ends at the last ')'.
	comm=${stat#*(}
	comm=${comm%)*}
	state=${stat##*) }
	state=${state%% *}
	[[ "$state" != Z && "$state" != X ]] || return 1
	[[ -z "$name" || "$comm" == "$name" ]]
}

# Skip (exit 77, automake's SKIP) when this machine cannot run libvirt tests.
# Extra arguments name further commands the caller needs.
vr_require_root_or_skip() {
	local cmd
	if [[ $EUID -ne 0 ]]; then
		echo "SKIP: needs root (a system libvirtd, veths and macvtap): run 'sudo ./scripts/check'"
		exit 77
	fi
	for cmd in virsh libvirtd virtlogd qemu-system-x86_64 timeout "$@"; do
		if ! command -v "$cmd" >/dev/null 2>&1; then
			echo "SKIP: '$cmd' not found: run scripts/install-deps.sh"
			exit 77
		fi
	done
}

# libvirt 9.0 cannot start LXC domains when the cgroup2 mount lists a
# controller (hugetlb here) that has no v1 hierarchy: it then mixes v1 and v2
# and fails with "Unable to create directory /sys/fs/cgroup/unified".  Giving
# every such controller its own v1 hierarchy fixes it; idempotent, no restart.
vr_lxc_cgroup_fix() {
	local ctrl
	[[ -r /sys/fs/cgroup/unified/cgroup.controllers ]] || return 0
	for ctrl in $(</sys/fs/cgroup/unified/cgroup.controllers); do
		mkdir -p "/sys/fs/cgroup/$ctrl" 2>/dev/null || continue
		if ! mountpoint -q "/sys/fs/cgroup/$ctrl"; then
			mount -t cgroup -o "$ctrl" cgroup "/sys/fs/cgroup/$ctrl" ||
				_vr_log "warning: could not mount cgroup v1 '$ctrl' (LXC domains may fail to start)"
		fi
	done
}

# Without udev (no systemd here) /dev/kvm stays root:root 0600, so libvirt
# finds KVM "enabled when probing, but not available now" for its qemu user,
# throws its QEMU capabilities cache away on every call and re-probes every
# emulator: `virsh define` then takes ~40 s.  Do what udev's rule does on any
# normal host (GROUP="kvm", MODE="0660").  Idempotent.
vr_kvm_dev_fix() {
	[[ -c /dev/kvm ]] || return 0
	getent group kvm >/dev/null || return 0
	if [[ "$(stat -c %G:%a /dev/kvm)" != kvm:660 ]]; then
		if ! { chgrp kvm /dev/kvm && chmod 0660 /dev/kvm; }; then
			_vr_log "warning: could not give /dev/kvm to group kvm (libvirt will be slow)"
		fi
	fi
}

# Two locks in $VR_TEST_RUNDIR: "start" is held exclusively only while one
# user starts or stops the daemon; "users" is held shared by every user for as
# long as it uses the daemon, so the last one out can tell it is alone.
_vr_lock_start() {
	mkdir -p "$VR_TEST_RUNDIR"
	exec {VR_START_LOCKFD}>>"$VR_TEST_RUNDIR/start.lock"
	flock -x "$VR_START_LOCKFD"
}

_vr_unlock_start() {
	exec {VR_START_LOCKFD}>&-
	VR_START_LOCKFD=
}

# Run a daemon-forking command with every descriptor but 0-2 closed: a daemon
# that inherited a lock (ours, or one a caller took with flock(1) around a
# test) would hold it for its whole life.
_vr_spawn_daemon() {
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			((fd > 2)) && eval "exec $fd>&-"
		done
		exec "$@"
	)
}

# Call vr_libvirtd_stop afterwards even when this fails (e.g. from an EXIT
# trap): it also stops a daemon that was started but never answered.
vr_libvirtd_start() {
	local deadline pid
	VR_LIBVIRTD_STARTED=0
	[[ -z "$VR_USERS_LOCKFD" ]] || return 0 # already started in this shell
	_vr_lock_start
	# Count as a user from the start, so a stop from a signal trap while we
	# are still starting cleans up what we spawned.
	exec {VR_USERS_LOCKFD}>>"$VR_TEST_RUNDIR/users.lock"
	flock -s "$VR_USERS_LOCKFD"
	vr_lxc_cgroup_fix
	vr_kvm_dev_fix

	# virsh fails at once when nothing listens.  No socket test here: with
	# systemd's modular daemons qemu:///system is virtqemud's socket.
	if ! _vr_libvirtd_answers; then
		mkdir -p /var/log/libvirt /var/run/libvirt /run/libvirt
		# Links present now; vr_libvirtd_stop tears down only networks
		# that our daemon autostarted, i.e. whose bridge is not listed here.
		{ ip -o link show 2>/dev/null || true; } | awk -F': ' '{print $2}' |
			cut -d@ -f1 >"$VR_TEST_RUNDIR/links-before"

		# QEMU's console and log go through virtlogd; without it libvirtd
		# cannot start a domain.
		pid=$(cat /run/virtlogd.pid 2>/dev/null || true)
		if ! vr_pid_alive "$pid" virtlogd; then
			if ! _vr_spawn_daemon virtlogd -d; then
				_vr_log "virtlogd -d failed"
				_vr_unlock_start
				return 1
			fi
			for _ in $(seq 50); do
				pid=$(cat /run/virtlogd.pid 2>/dev/null || true)
				vr_pid_alive "$pid" virtlogd && break
				sleep 0.1
			done
			echo "$pid" >"$VR_TEST_RUNDIR/virtlogd.pid"
		fi

		# Without journald libvirtd would log nowhere we can read: send
		# warnings and errors to a file whose tail we show on failure.  The
		# QEMU and LXC drivers load from the installed driver packages.
		if ! LIBVIRT_LOG_OUTPUTS="3:file:$VR_LIBVIRTD_LOG" _vr_spawn_daemon libvirtd -d; then
			_vr_log "libvirtd -d failed; last lines of $VR_LIBVIRTD_LOG:"
			tail -n 30 "$VR_LIBVIRTD_LOG" >&2 2>/dev/null || true
			_vr_unlock_start
			return 1
		fi
		# The marker: a daemon this library started (vr_libvirtd_stop never
		# stops any other).  libvirtd -d returns once its pid file exists.
		cat /run/libvirtd.pid >"$VR_TEST_RUNDIR/libvirtd.pid" 2>/dev/null || true

		deadline=$((SECONDS + VR_LIBVIRTD_TIMEOUT))
		# The first `virsh version` waits while libvirtd probes QEMU's
		# capabilities (a few seconds per emulator, then cached on disk).
		until [[ -S /var/run/libvirt/libvirt-sock ]] &&
			_vr_libvirtd_answers qemu:///system $((deadline - SECONDS > 1 ? deadline - SECONDS : 1)); do
			if ((SECONDS >= deadline)); then
				_vr_log "libvirtd did not answer within ${VR_LIBVIRTD_TIMEOUT}s; last lines of $VR_LIBVIRTD_LOG:"
				tail -n 30 "$VR_LIBVIRTD_LOG" >&2 2>/dev/null || true
				_vr_unlock_start
				return 1
			fi
			sleep 0.2
		done
		VR_LIBVIRTD_STARTED=1

		if ! _vr_libvirtd_answers lxc:///system; then
			_vr_log "warning: the LXC driver does not answer (libvirt-daemon-driver-lxc missing?)"
		fi
	fi

	_vr_unlock_start
	return 0
}

# Stop PID (named NAME) and wait for it to go; SIGKILL after 15 s.
_vr_stop_pid() {
	local pid=$1 name=$2
	vr_pid_alive "$pid" "$name" || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 150); do
		vr_pid_alive "$pid" "$name" || return 0
		sleep 0.1
	done
	_vr_log "$name ($pid) ignored SIGTERM; killing it"
	kill -KILL "$pid" 2>/dev/null || true
}

vr_libvirtd_stop() {
	local net bridge pid
	[[ -n "$VR_USERS_LOCKFD" ]] || return 0
	# Interrupted inside vr_libvirtd_start, this shell holds the start lock
	# already (taking it again through a new fd would deadlock).
	[[ -n "$VR_START_LOCKFD" ]] || _vr_lock_start
	# Last user out (our shared lock converts to exclusive)?  Only then may
	# the daemon go, and only if the marker says this library started it.
	if flock -x -n "$VR_USERS_LOCKFD" && [[ -f "$VR_TEST_RUNDIR/libvirtd.pid" ]]; then
		pid=$(<"$VR_TEST_RUNDIR/libvirtd.pid")
		if vr_pid_alive "$pid" libvirtd; then
			# Networks our daemon autostarted would outlive it (bridge and
			# dnsmasq stay): destroy those whose bridge it created.
			for net in $(timeout 10 virsh -q -c qemu:///system net-list --name 2>/dev/null); do
				bridge=$({ timeout 10 virsh -q -c qemu:///system net-info "$net" 2>/dev/null || true; } |
					awk '$1 == "Bridge:" {print $2}')
				if [[ -n "$bridge" ]] && ! grep -qxF "$bridge" "$VR_TEST_RUNDIR/links-before" 2>/dev/null; then
					timeout 20 virsh -q -c qemu:///system net-destroy "$net" >/dev/null 2>&1 || true
				fi
			done
			_vr_stop_pid "$pid" libvirtd
		fi
		if [[ -f "$VR_TEST_RUNDIR/virtlogd.pid" ]]; then
			_vr_stop_pid "$(<"$VR_TEST_RUNDIR/virtlogd.pid")" virtlogd
		fi
		rm -f "$VR_TEST_RUNDIR/libvirtd.pid" "$VR_TEST_RUNDIR/virtlogd.pid" \
			"$VR_TEST_RUNDIR/links-before"
	fi
	exec {VR_USERS_LOCKFD}>&-
	VR_USERS_LOCKFD=
	_vr_unlock_start
	VR_LIBVIRTD_STARTED=0
}

# Hooks this shell installed, and the directories it had to make for them (deepest
# first). libvirt's packages make no hooks directory: a fresh machine has none.
VR_HOOKS_INSTALLED=()
VR_HOOK_DIRS_MADE=()

vr_hook_install() {
	local drv=$1 name=$2 conf=$3 hook=$4 tune=$5 dir=/etc/libvirt path
	for path in hooks "$drv.d"; do
		dir=$dir/$path
		if [[ ! -d $dir ]]; then
			mkdir "$dir" || return 1
			VR_HOOK_DIRS_MADE=("$dir" "${VR_HOOK_DIRS_MADE[@]}")
		fi
	done
	path=$dir/$name
	VR_HOOKS_INSTALLED+=("$path")
	printf '#!/bin/sh\nexport VIRT_ROUTER_CONFIG=%s VIRT_ROUTER_TUNE=%s\nexec %s "$@"\n' \
		"$conf" "$tune" "$hook" >"$path" && chmod +x "$path" || return 1
	# libvirtd looks for hook scripts when it starts and when it reloads.
	pkill -HUP -x libvirtd 2>/dev/null || true
	sleep 1
}

vr_hooks_remove() {
	local d
	((${#VR_HOOKS_INSTALLED[@]})) || return 0
	rm -f "${VR_HOOKS_INSTALLED[@]}"
	# Only what we made, and only if nobody else put anything there meanwhile.
	for d in "${VR_HOOK_DIRS_MADE[@]}"; do
		rmdir "$d" 2>/dev/null || true
	done
	VR_HOOKS_INSTALLED=() VR_HOOK_DIRS_MADE=()
	pkill -HUP -x libvirtd 2>/dev/null || true
}

# vr_domains_remove PREFIX [URI...]: destroy, drop the managed save of and undefine
# every domain whose name begins with PREFIX, on each URI (none: virsh's default).
vr_domains_remove() {
	local prefix=$1 uri d
	shift
	local -a uris=("$@") c
	((${#uris[@]})) || uris=("")
	for uri in "${uris[@]}"; do
		c=()
		[[ -n $uri ]] && c=(-c "$uri")
		for d in $(timeout 20 virsh -q "${c[@]}" list --all --name 2>/dev/null); do
			[[ $d == "$prefix"* ]] || continue
			timeout 30 virsh -q "${c[@]}" destroy "$d" >/dev/null 2>&1 || true
			timeout 30 virsh -q "${c[@]}" managedsave-remove "$d" >/dev/null 2>&1 || true
			timeout 30 virsh -q "${c[@]}" undefine "$d" >/dev/null 2>&1 || true
		done
	done
}

# vr_libvirt_test_teardown VETH TMP: the end of a libvirt test: its veth pair (one end
# deletes both), its temporary directory, and libvirtd if the test started it.
vr_libvirt_test_teardown() {
	ip link del "$1" 2>/dev/null || true
	rm -rf "$2"
	vr_libvirtd_stop
}

# vr_hook_test_teardown STATE_DIR VETH TMP: the same for a test that installed the
# hook, first its hooks and the tuners of its state directory (by their pid files, and
# any whose file is gone by the state directory on their command line).
vr_hook_test_teardown() {
	local state=$1 f
	vr_hooks_remove
	for f in "$state"/*.tuner.pid; do
		[[ -f $f ]] && kill "$(head -n1 "$f")" 2>/dev/null
	done
	pkill -f "virt-router-tune .*--state-dir $state" 2>/dev/null || true
	vr_libvirt_test_teardown "$2" "$3"
}

# Prints the first VR-READY line of the serial log CONSOLE once there is one; nothing
# after 30 s.
vr_console_ready() {
	local i ready=""
	for ((i = 0; i < 600; i++)); do
		ready=$(grep -a -m1 "VR-READY" "$1" 2>/dev/null || true)
		[[ -n $ready ]] && break
		sleep 0.05
	done
	printf '%s' "$ready"
}
