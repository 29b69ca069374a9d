#!/usr/bin/env bash
# Integration test of virt-router-tune against a real libvirtd and a real QEMU
# (TCG): a rendered router whose policy asks for dedicated CPUs 0-1 and
# SCHED_FIFO priority 10 for its vCPU threads is started, the tuner is run for
# it the way the hook runs it (a spec made from libvirt's status XML, here by
# `virt-router spec --domain`, no --pid),
# and the QEMU process's own threads are checked in /proc:
#
#   a) connector: "CPU 0/TCG" on CPU 0, "CPU 1/TCG" on CPU 1, both FIFO 10 and
#      in cpu cgroup /virt-router-rt; `virt-router status --json` reports the
#      same; after `virsh destroy` the tuner exits by itself within a few
#      seconds, its state and pid files are gone and so is /virt-router-rt.
#   b) connector, vCPU hot-plug: `virsh setvcpus --live` adds "CPU 1/TCG" while
#      the tuner runs; libvirt must accept it and the new thread must get the
#      policy from the process-event connector.
#   c) fallback (--no-connector --poll-interval 200): the same domain, vCPU 0
#      at start and vCPU 1 hot-plugged get the policy from the rescans; the
#      tuner still exits with the domain and leaves nothing behind.
#
# In a) the domain is defined without <cputune> so that the CPU pins seen in
# /proc can only come from the tuner (libvirt would otherwise pin the vCPUs
# itself); b) and c) keep the rendered XML's <cputune>, so there the tuner's
# plan must agree with libvirt's pins.
#
# Automake exit codes: 0 pass, 1 fail, 77 skip.  Needs root.
# Environment (AM_TESTS_ENVIRONMENT sets these; the defaults suit a manual run):
#   top_srcdir, top_builddir, VIRT_ROUTER, VIRT_ROUTER_TEMPLATE_DIR
#   VIRT_ROUTER_TUNE  the tuner (default: $top_builddir/virt-router-tune)
#   VR_TUNE_EXIT_SECS how long the tuner may take to exit after destroy (5)
set -euo pipefail

# shellcheck source=tests/lib/integration.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/integration.sh"
VIRT_ROUTER_TUNE=${VIRT_ROUTER_TUNE:-$top_builddir/virt-router-tune}
VR_TUNE_EXIT_SECS=${VR_TUNE_EXIT_SECS:-5}

vr_require_root_or_skip ip
vr_require_built "$VIRT_ROUTER" "$VIRT_ROUTER_TUNE"
# The tuner's real-time placement needs a v1 cpu hierarchy (this project's
# hosts have one); without it the cgroup checks below would mean nothing.
cpu_mount=/sys/fs/cgroup/cpu
rt_group=$cpu_mount/virt-router-rt
if [[ ! -f $cpu_mount/cpu.shares ]]; then
	echo "SKIP: no cgroup v1 cpu hierarchy at $cpu_mount"
	exit 77
fi
# JSON from `virt-router status --json` is read with jq or python3.
if command -v jq >/dev/null 2>&1; then
	json_tool=jq
elif command -v python3 >/dev/null 2>&1; then
	json_tool=python3
else
	json_tool=
fi

# Everything this run creates carries this prefix or these names, so cleanup
# finds it all and parallel runs never touch each other's.
prefix="vrtest-$$-"
veth_a="vtt$$a"
veth_b="vtt$$b"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vrtest-tune.XXXXXX")
state_dir=$tmp/state
conf=$tmp/host.conf # empty host config: no local config changes the plan
: >"$conf"
tuner_pids=()
rt_group_before=0
[[ -d $rt_group ]] && rt_group_before=1



note() {
	echo "# $*"
}

cleanup_done=0
cleanup() {
	local pid
	((cleanup_done)) && return 0
	cleanup_done=1
	trap '' INT TERM
	# Domains first: their tuners then exit by themselves and clean up.
	vr_domains_remove "$prefix" qemu:///system
	for pid in "${tuner_pids[@]}"; do
		for _ in $(seq 30); do
			vr_pid_alive "$pid" || break
			sleep 0.1
		done
		if vr_pid_alive "$pid"; then
			kill -TERM "$pid" 2>/dev/null || true
			for _ in $(seq 30); do
				vr_pid_alive "$pid" || break
				sleep 0.1
			done
			vr_pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null || true
	done
	# A group the tuner left behind (a failure reported above) goes too, if
	# this run created it and no thread is in it.
	if ((!rt_group_before)) && [[ -d $rt_group && ! -s $rt_group/tasks ]]; then
		rmdir "$rt_group" 2>/dev/null || true
	fi
	vr_libvirt_test_teardown "$veth_a" "$tmp"
}
trap cleanup EXIT
trap 'cleanup; exit 1' INT TERM

# ---------------------------------------------------------------------------
# /proc helpers

# Field N (as numbered in proc(5)) of /proc/PID/task/TID/stat; comm may hold
# blanks and ')', so fields are counted after the last ')'.
task_stat_field() {
	local pid=$1 tid=$2 n=$3 stat rest
	stat=$(cat "/proc/$pid/task/$tid/stat" 2>/dev/null) || return 1
	rest=${stat##*) }
	# shellcheck disable=SC2086
	set -- $rest
	shift $((n - 3))
	echo "$1"
}

task_cpus() {
	awk '$1 == "Cpus_allowed_list:" {print $2}' "/proc/$1/task/$2/status" 2>/dev/null
}

# The thread's v1 cpu cgroup ("/virt-router-rt").
task_cpu_cgroup() {
	awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3}' "/proc/$1/task/$2/cgroup" 2>/dev/null
}

# TID of the thread of PID named COMM, waiting up to SECS (default 10).
find_tid() {
	local pid=$1 comm=$2 t deadline=$((SECONDS + ${3:-10}))
	while :; do
		for t in /proc/"$pid"/task/*; do
			if [[ "$(cat "$t/comm" 2>/dev/null)" == "$comm" ]]; then
				echo "${t##*/}"
				return 0
			fi
		done
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# Checks that thread COMM of PID is on CPUS with SCHED_FIFO priority PRIO in
# the RT group, waiting up to SECS for it (the fallback rescans). WHAT names
# the case in messages.
check_thread() {
	local what=$1 pid=$2 comm=$3 cpus=$4 prio=$5
	local tid cur_cpus policy rtprio cg schedprio deadline=$((SECONDS + ${6:-0}))
	if ! tid=$(find_tid "$pid" "$comm" 10); then
		fail "$what: QEMU ($pid) has no thread named '$comm' (threads: $(cat /proc/"$pid"/task/*/comm 2>/dev/null | tr '\n' ',' || true))"
		return 1
	fi
	while :; do
		cur_cpus=$(task_cpus "$pid" "$tid")
		policy=$(task_stat_field "$pid" "$tid" 41 || true)
		rtprio=$(task_stat_field "$pid" "$tid" 40 || true)
		cg=$(task_cpu_cgroup "$pid" "$tid")
		if [[ "$cur_cpus" == "$cpus" && "$policy" == 1 && "$rtprio" == "$prio" && "$cg" == /virt-router-rt ]]; then
			break
		fi
		((SECONDS < deadline)) || break
		sleep 0.05
	done
	if [[ "$cur_cpus" == "$cpus" ]]; then
		pass "$what: '$comm' (tid $tid) Cpus_allowed_list $cur_cpus"
	else
		fail "$what: '$comm' (tid $tid) Cpus_allowed_list '$cur_cpus', expected '$cpus'"
	fi
	if [[ "$policy" == 1 && "$rtprio" == "$prio" ]]; then
		pass "$what: '$comm' (tid $tid) SCHED_FIFO priority $rtprio"
	else
		fail "$what: '$comm' (tid $tid) policy $policy priority $rtprio (stat fields 41/40), expected 1 (SCHED_FIFO) and $prio"
	fi
	# The kernel's own view, where it has CONFIG_SCHED_DEBUG: prio 99 - rt_priority.
	if [[ -r /proc/$pid/task/$tid/sched ]]; then
		schedprio=$(awk -F: '$1 ~ /^prio[ \t]*$/ {gsub(/ /, "", $2); print $2}' "/proc/$pid/task/$tid/sched")
		if [[ "$schedprio" == $((99 - prio)) ]]; then
			pass "$what: '$comm' /proc/.../sched prio $schedprio"
		else
			fail "$what: '$comm' /proc/.../sched prio '$schedprio', expected $((99 - prio))"
		fi
	fi
	if [[ "$cg" == /virt-router-rt ]]; then
		pass "$what: '$comm' in cpu cgroup /virt-router-rt"
	else
		fail "$what: '$comm' in cpu cgroup '$cg', expected /virt-router-rt (libvirt's groups have no RT budget)"
	fi
}

# Prints "cpus planned_cpus class planned_class alive error" of thread ROLE of
# domain DOM in `virt-router status --json` output FILE, or the domain's
# "running tuner_running" with ROLE "-".
status_fields() {
	local file=$1 dom=$2 role=$3
	case "$json_tool" in
	jq)
		if [[ "$role" == - ]]; then
			jq -r --arg d "$dom" '.[] | select(.domain == $d) | "\(.running) \(.tuner_running)"' "$file"
		else
			jq -r --arg d "$dom" --arg r "$role" '.[] | select(.domain == $d) | .threads[] | select(.role == $r) |
				"\(.cpus) \(.planned_cpus) \(.class) \(.planned_class) \(.alive) \(.error)"' "$file"
		fi
		;;
	python3)
		python3 - "$file" "$dom" "$role" <<'EOF'
import json, sys
f, d, r = sys.argv[1:]
j = lambda v: "null" if v is None else (str(v).lower() if isinstance(v, bool) else str(v))
for dom in json.load(open(f)):
    if dom["domain"] != d:
        continue
    if r == "-":
        print(j(dom["running"]), j(dom["tuner_running"]))
    for t in dom["threads"] if r != "-" else []:
        if t["role"] == r:
            print(*(j(t[k]) for k in ("cpus", "planned_cpus", "class", "planned_class", "alive", "error")))
EOF
		;;
	esac
}

# `virt-router status DOM --json` must show each vCPU (role vcpuN) as planned
# and as the kernel has it.
check_status() {
	local what=$1 dom=$2 n=$3 out=$tmp/status.json err=$tmp/status.err i f
	# The tuner writes its state at most 100 ms after a change: give it a moment.
	for ((i = 0; i < 30; i++)); do
		grep -q "\"vcpu$((n - 1))\"" "$state_dir/$dom.json" 2>/dev/null && break
		sleep 0.1
	done
	if ! "$VIRT_ROUTER" status "$dom" --state-dir "$state_dir" --config "$conf" --json --interval 100 >"$out" 2>"$err"; then
		fail "$what: virt-router status $dom --json: $(tr '\n' ' ' <"$err")"
		return
	fi
	if [[ -z "$json_tool" ]]; then
		note "no jq or python3: status JSON not inspected"
		pass "$what: virt-router status $dom --json exits 0"
		return
	fi
	f=$(status_fields "$out" "$dom" -)
	if [[ "$f" == "true true" ]]; then
		pass "$what: status: domain and tuner running"
	else
		fail "$what: status: running/tuner_running '$f', expected 'true true'"
	fi
	for ((i = 0; i < n; i++)); do
		f=$(status_fields "$out" "$dom" "vcpu$i")
		if [[ "$f" == "$i $i fifo fifo true null" ]]; then
			pass "$what: status: vcpu$i on CPU $i, class fifo, planned and live"
		else
			fail "$what: status: vcpu$i shows '${f:-nothing}' (cpus planned_cpus class planned_class alive error), expected '$i $i fifo fifo true null'"
		fi
	done
}

# Starts the tuner for DOM with extra options; sets tuner_pid. Waits until its
# state file exists and it has written its pid file (it is then subscribed to
# events or polling).
start_tuner() {
	local what=$1 dom=$2 log=$3 deadline
	shift 3
	rm -f "$state_dir/$dom.json" "$state_dir/$dom.tuner.pid"
	if ! "$VIRT_ROUTER" spec --domain "$dom" --config "$conf" >"$tmp/$dom.spec.json" 2>"$log"; then
		fail "$what: virt-router spec --domain $dom: $(tr '\n' ' ' <"$log")"
		return 1
	fi
	"$VIRT_ROUTER_TUNE" -d "$dom" --spec "$tmp/$dom.spec.json" --state-dir "$state_dir" --config "$conf" "$@" \
		>"$log" 2>&1 &
	tuner_pid=$!
	tuner_pids+=("$tuner_pid")
	deadline=$((SECONDS + 10))
	until [[ -f "$state_dir/$dom.json" && -f "$state_dir/$dom.tuner.pid" ]]; do
		if ! vr_pid_alive "$tuner_pid"; then
			fail "$what: virt-router-tune exited before writing its state: $(tr '\n' ' ' <"$log")"
			return 1
		fi
		if ((SECONDS >= deadline)); then
			fail "$what: no $state_dir/$dom.json within 10 s: $(tr '\n' ' ' <"$log")"
			return 1
		fi
		sleep 0.05
	done
	pass "$what: tuner $tuner_pid${*:+ ($*)} wrote $dom.json"
}

# Destroys DOM, then the tuner must exit 0 within VR_TUNE_EXIT_SECS and leave
# no state file, no pid file and (when this run made it) no RT cgroup.
destroy_and_check_exit() {
	local what=$1 dom=$2 log=$3 qemu_pid=$4 t0 ms rc=0 err=$tmp/destroy.err
	if ! timeout 60 virsh -q -c qemu:///system destroy "$dom" >/dev/null 2>"$err"; then
		fail "$what: virsh destroy: $(tr '\n' ' ' <"$err")"
		return
	fi
	t0=$(date +%s%N)
	while vr_pid_alive "$tuner_pid" && (($(date +%s%N) - t0 < VR_TUNE_EXIT_SECS * 1000000000)); do
		sleep 0.05
	done
	ms=$((($(date +%s%N) - t0) / 1000000))
	if vr_pid_alive "$tuner_pid"; then
		fail "$what: tuner $tuner_pid still running ${VR_TUNE_EXIT_SECS} s after virsh destroy (QEMU $qemu_pid $(vr_pid_alive "$qemu_pid" && echo alive || echo gone))"
		return
	fi
	wait "$tuner_pid" || rc=$?
	if ((rc == 0)); then
		pass "$what: tuner exited by itself, status 0, ${ms} ms after virsh destroy returned"
	else
		fail "$what: tuner exited with status $rc after destroy: $(tail -n 5 "$log" | tr '\n' ' ')"
	fi
	if [[ -e "$state_dir/$dom.json" || -e "$state_dir/$dom.tuner.pid" ]]; then
		fail "$what: state left behind: $(cd "$state_dir" && echo *)"
	else
		pass "$what: $dom.json and $dom.tuner.pid removed"
	fi
	if ((rt_group_before)); then
		note "$rt_group existed before this test: not checking that it is removed"
	elif [[ ! -d $rt_group ]]; then
		pass "$what: $rt_group removed"
	elif [[ -s $rt_group/tasks ]]; then
		# Another router's RT threads (a test running in parallel) keep it
		# busy: the tuner leaves it to them, as it should.
		note "$rt_group kept: in use by threads $(tr '\n' ' ' <"$rt_group/tasks")(not ours)"
	else
		fail "$what: $rt_group still exists, empty, after the tuner exited"
	fi
	if grep -qiE "warning|error|critical" "$log"; then
		fail "$what: the tuner logged problems: $(grep -iE "warning|error|critical" "$log" | tr '\n' ' ')"
	fi
}

# Starts domain DOM (defined already); sets qemu_pid.
start_domain() {
	local what=$1 dom=$2 err=$tmp/start.err
	qemu_pid=
	if ! timeout 60 virsh -q -c qemu:///system start "$dom" >/dev/null 2>"$err"; then
		fail "$what: virsh start $dom: $(tr '\n' ' ' <"$err")"
		return 1
	fi
	qemu_pid=$(cat "/run/libvirt/qemu/$dom.pid" 2>/dev/null || true)
	if ! vr_pid_alive "$qemu_pid"; then
		fail "$what: no running QEMU in /run/libvirt/qemu/$dom.pid ('$qemu_pid')"
		return 1
	fi
}

# ---------------------------------------------------------------------------

vr_libvirtd_start_or_fail

if ! ip link add "$veth_a" type veth peer name "$veth_b" 2>"$tmp/veth.err" ||
	! ip link set "$veth_a" up || ! ip link set "$veth_b" up; then
	fail "veth pair $veth_a/$veth_b: $(tr '\n' ' ' <"$tmp/veth.err")"
	echo "$passed passed, $failed failed"
	exit 1
fi

cat >"$tmp/policy.xml" <<EOF
<vr:router xmlns:vr='urn:virt-router:1'>
  <vr:cpu placement='dedicated' cpus='0-1'/>
  <vr:sched threads='vcpu' class='fifo' priority='10'/>
  <vr:port name='wan' mode='macvtap' dev='$veth_a'/>
  <vr:port name='lan' mode='macvtap' dev='$veth_b'/>
</vr:router>
EOF

# ---- a) the connector, two vCPUs from the start -----------------------------
run_connector() {
	local what=connector name="${prefix}tune" xml=$tmp/tune.xml err=$tmp/render.err pid
	if ! "$VIRT_ROUTER" render kvm-macvtap --type qemu --no-image -n "$name" --vcpus 2 \
		--port "wan=$veth_a" --port "lan=$veth_b" --memory 128 \
		--policy "$tmp/policy.xml" --config "$conf" >"$tmp/rendered.xml" 2>"$err"; then
		fail "$what: virt-router render: $(tr '\n' ' ' <"$err")"
		return
	fi
	if ! grep -q "<vcpupin vcpu='1' cpuset='1'/>" "$tmp/rendered.xml"; then
		fail "$what: rendered XML does not pin vCPU 1 to CPU 1 as placement='dedicated' cpus='0-1' says"
	fi
	# Without <cputune> only the tuner can have pinned the vCPUs.
	sed '/<cputune>/,/<\/cputune>/d' "$tmp/rendered.xml" >"$xml"
	if ! timeout 60 virsh -q -c qemu:///system define "$xml" >/dev/null 2>"$err"; then
		fail "$what: virsh define: $(tr '\n' ' ' <"$err")"
		return
	fi
	start_domain "$what" "$name" || return
	pid=$qemu_pid
	pass "$what: $name running, QEMU pid $pid"
	start_tuner "$what" "$name" "$tmp/tune-connector.log" || return
	if grep -q '"events": *"proc connector"' "$state_dir/$name.json"; then
		pass "$what: state says events arrive through the proc connector"
	else
		fail "$what: state file events: $(grep '"events"' "$state_dir/$name.json" || true)"
	fi
	check_thread "$what" "$pid" "CPU 0/TCG" 0 10
	check_thread "$what" "$pid" "CPU 1/TCG" 1 10
	check_status "$what" "$name" 2
	destroy_and_check_exit "$what" "$name" "$tmp/tune-connector.log" "$pid"
}

# ---- b) and c): vCPU 1 hot-plugged while the tuner runs ---------------------
# The domain starts with one of two vCPUs; libvirt creates "CPU 1/TCG" on
# `virsh setvcpus 2 --live`, places it in its own vcpu1 cgroup and pins it.
run_hotplug() {
	local what=$1 log=$2 name="${prefix}$1" xml=$tmp/$1.xml err=$tmp/$1.err pid
	shift 2
	# Another name is another domain: without the rendered <uuid> libvirt makes one.
	sed "s|<vcpu placement='static'>2</vcpu>|<vcpu placement='static' current='1'>2</vcpu>|" \
		"$tmp/rendered.xml" | sed "0,/<name>[^<]*<\/name>/s//<name>$name<\/name>/; /<uuid>/d" >"$xml"
	if ! timeout 60 virsh -q -c qemu:///system define "$xml" >/dev/null 2>"$err"; then
		fail "$what: virsh define: $(tr '\n' ' ' <"$err")"
		return
	fi
	start_domain "$what" "$name" || return
	pid=$qemu_pid
	pass "$what: $name running with 1 of 2 vCPUs, QEMU pid $pid"
	start_tuner "$what" "$name" "$log" "$@" || return
	if [[ " $* " == *" --no-connector "* ]]; then
		if grep -q '"events": *"rescan every 200 ms"' "$state_dir/$name.json"; then
			pass "$what: state says the tuner rescans every 200 ms"
		else
			fail "$what: state file events: $(grep '"events"' "$state_dir/$name.json" || true)"
		fi
	fi
	check_thread "$what" "$pid" "CPU 0/TCG" 0 10
	if timeout 60 virsh -q -c qemu:///system setvcpus "$name" 2 --live >/dev/null 2>"$err"; then
		pass "$what: virsh setvcpus $name 2 --live accepted while the tuner runs"
	else
		fail "$what: virsh setvcpus $name 2 --live failed while the tuner runs: $(tr '\n' ' ' <"$err")"
	fi
	# The connector reacts at once; rescans within the poll interval.
	check_thread "$what" "$pid" "CPU 1/TCG" 1 10 2
	check_status "$what" "$name" 2
	destroy_and_check_exit "$what" "$name" "$log" "$pid"
	timeout 60 virsh -q -c qemu:///system undefine "$name" >/dev/null 2>&1 || true
}

echo "# a) tuner on the proc connector, QEMU with 2 vCPUs (no <cputune>)"
run_connector
if [[ -f $tmp/rendered.xml ]]; then
	echo "# b) tuner on the proc connector, vCPU 1 hot-plugged"
	run_hotplug hotplug-connector "$tmp/tune-hotplug.log"
	echo "# c) fallback: --no-connector --poll-interval 200, vCPU 1 hot-plugged"
	run_hotplug fallback "$tmp/tune-fallback.log" --no-connector --poll-interval 200
fi

vr_test_summary
