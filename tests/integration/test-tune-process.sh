#!/usr/bin/env bash
# The tuner on a real process: fake-qemu names its threads exactly as QEMU does
# (vCPUs, in-process vhost workers), later starts another vhost worker (a guest
# bringing its NIC up). virt-router-tune must apply real affinity, CPU shares, FIFO
# and DEADLINE; we read what the kernel says in /proc/TID/{status,sched} and with
# chrt (sched_getattr). Needs root. Exit 0 pass, 1 fail, 77 skip.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=$(cd "${top_srcdir:-$here/../..}" && pwd)
# shellcheck source=tests/lib/result.sh
. "$top_srcdir/tests/lib/result.sh"
top_builddir=${top_builddir:-$top_srcdir/build}
TUNE=$top_builddir/virt-router-tune
FAKE=$top_builddir/tests/fake-qemu
VIRT_ROUTER=${VIRT_ROUTER:-$top_builddir/virt-router}

if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: needs root (sched_setattr, cgroups)"
	exit 77
fi
for b in "$TUNE" "$FAKE" "$VIRT_ROUTER"; do
	if [[ ! -x $b ]]; then
		echo "SKIP: $b not built"
		exit 77
	fi
done
cpu_mount=$(awk '$9 == "cgroup" && $NF ~ /(^|,)cpu(,|$)/ {print $5; exit}' /proc/self/mountinfo)
ncpu=$(nproc)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vrtest-tune.XXXXXX")
state=$tmp/state
cg=""
fake_pid=""
tuner_pid=""

stop_all() {
	[[ -n $fake_pid ]] && kill "$fake_pid" 2>/dev/null || true
	[[ -n $tuner_pid ]] && kill "$tuner_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	fake_pid="" tuner_pid=""
}
cleanup() {
	stop_all
	if [[ -n $cg && -d $cg ]]; then
		# Back to the root group so the test group can go.
		while read -r t; do echo "$t" >"$cpu_mount/tasks" 2>/dev/null || true; done <"$cg/tasks"
		rmdir "$cg" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_fake ARGS...: fake-qemu in the background; sets fake_pid.
start_fake() {
	coproc FAKEQ { exec "$FAKE" "$@"; }
	fake_pid=$FAKEQ_PID
	local line
	if ! read -r -t 10 line <&"${FAKEQ[0]}" || [[ $line != READY* ]]; then
		fail "fake-qemu did not get ready ($line)"
		return 1
	fi
	exec {fake_out}<&"${FAKEQ[0]}"
}

tid_of() { # COMM [N]: the N-th (1-based) thread of fake_pid named COMM
	local n=${2:-1} t
	for t in /proc/"$fake_pid"/task/*; do
		[[ $(cat "$t/comm" 2>/dev/null) == "$1" ]] && { n=$((n - 1)); ((n == 0)) && { basename "$t"; return; }; }
	done
	return 1
}
cpus_of() { awk '/^Cpus_allowed_list/ {print $2}' "/proc/$fake_pid/task/$1/status"; }
policy_of() { awk '$1 == "policy" {print $3}' "/proc/$fake_pid/task/$1/sched"; }
rtprio_of() { awk '{print $(NF-12)}' "/proc/$fake_pid/task/$1/stat"; }

# wait_for DESC COMMAND...: retry COMMAND for up to 3 s
wait_for() {
	local desc=$1 i
	shift
	for ((i = 0; i < 60; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

domain_xml() { # NAME POLICY-INNER [ROUTER-ATTRS]
	cat >"$tmp/$1.xml" <<XML
<domain type='qemu'>
  <name>$1</name>
  <vcpu>1</vcpu>
  <metadata>
    <vr:router xmlns:vr='urn:virt-router:1' ${3:-}>
$2
    </vr:router>
  </metadata>
  <devices/>
</domain>
XML
}

start_tuner() { # NAME
	# The tuner reads a spec, as the hook hands it one: made here from the XML.
	"$VIRT_ROUTER" spec --xml "$tmp/$1.xml" --pid "$fake_pid" >"$tmp/$1.spec.json" || fail "virt-router spec $1"
	"$TUNE" -d "$1" --spec "$tmp/$1.spec.json" --state-dir "$state" >"$tmp/$1.log" 2>&1 &
	tuner_pid=$!
	wait_for "state" test -s "$state/$1.json"
}

# ---------------------------------------------------------------- FIFO + shares
echo "# FIFO, affinity, CPU shares, a vhost worker that appears later"
if ((ncpu < 2)); then
	echo "SKIP: needs 2 CPUs"
	exit 77
fi
start_fake --vcpus 1 --vhost 1 --main-name qemu-system-x86
cg=$cpu_mount/vrtest-$$
mkdir "$cg"
echo "$fake_pid" >"$cg/cgroup.procs"
domain_xml fifo "      <vr:cpu placement='dedicated' cpus='0-1' shares='512'/>
      <vr:sched threads='vcpu vhost' class='fifo' priority='10'/>"
if start_tuner fifo; then pass "tuner started and wrote its state"; else fail "no state file"; cat "$tmp/fifo.log"; fi
vcpu=$(tid_of "CPU 0/KVM")
vhost=$(tid_of "vhost-$fake_pid")
[[ $(cpus_of "$vcpu") == 0 ]] && pass "vCPU 0 pinned to CPU 0" || fail "vCPU 0 on CPUs $(cpus_of "$vcpu"), expected 0"
[[ $(policy_of "$vcpu") == 1 && $(rtprio_of "$vcpu") == 10 ]] && pass "vCPU 0 is SCHED_FIFO 10" || fail "vCPU 0 policy $(policy_of "$vcpu") prio $(rtprio_of "$vcpu")"
[[ $(cpus_of "$vhost") == 1 ]] && pass "vhost worker on its own core (CPU 1)" || fail "vhost on CPUs $(cpus_of "$vhost"), expected 1"
[[ $(policy_of "$vhost") == 1 && $(rtprio_of "$vhost") == 10 ]] && pass "vhost worker is SCHED_FIFO 10 (equal to the vCPU)" || fail "vhost policy $(policy_of "$vhost") prio $(rtprio_of "$vhost")"
[[ $(cat "$cg/cpu.shares") == 512 ]] && pass "domain cgroup cpu.shares 512" || fail "cpu.shares $(cat "$cg/cpu.shares")"
main=$fake_pid
[[ $(policy_of "$main") == 0 ]] && pass "emulator thread stays SCHED_OTHER" || fail "emulator policy $(policy_of "$main")"

kill -USR1 "$fake_pid"
read -r -t 5 line <&"$fake_out" || line=""
new=${line#VHOST }
if [[ -n $new ]] && wait_for "new vhost" bash -c "[[ \$(awk '\$1 == \"policy\" {print \$3}' /proc/$fake_pid/task/$new/sched) == 1 ]]"; then
	pass "vhost worker created later ($new) became SCHED_FIFO"
else
	fail "vhost worker created later ($new) not tuned: policy $(policy_of "$new" 2>/dev/null)"
fi
[[ $(cpus_of "$new") == 0 ]] && pass "second vhost worker shares vCPU 0's core (no third core)" || fail "second vhost on $(cpus_of "$new"), expected 0"
# The state is written once events pause (100 ms): look again for a moment.
status_ok() {
	"$VIRT_ROUTER" status fifo --state-dir "$state" --json --interval 50 >"$tmp/status.json" &&
		python3 - "$tmp/status.json" "$new" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))[0]
roles = {t["role"]: t for t in d["threads"]}
assert d["running"] and d["tuner_running"], d
assert roles["vcpu0"]["class"] == "fifo" and roles["vcpu0"]["cpus"] == "0", roles["vcpu0"]
assert any(t["tid"] == int(sys.argv[2]) and t["class"] == "fifo" for t in d["threads"]), d["threads"]
PY
}
if wait_for "status" status_ok; then pass "virt-router status --json shows the live policy"; else fail "virt-router status --json"; cat "$tmp/status.json"; fi

kill "$fake_pid"
fake_pid=""
if wait_for "tuner exit" bash -c "! kill -0 $tuner_pid 2>/dev/null"; then pass "tuner exits with the domain"; else fail "tuner still running after the domain exited"; fi
tuner_pid=""
[[ ! -e $state/fifo.json ]] && pass "state file removed" || fail "state file left behind"
[[ ! -d $cpu_mount/virt-router-rt ]] && pass "RT cgroup removed" || fail "cpu cgroup virt-router-rt left behind"

# ---------------------------------------------------------------- DEADLINE
echo "# SCHED_DEADLINE over the root domain"
start_fake --vcpus 1 --vhost 1
domain_xml dl "      <vr:cpu placement='shared' cpus='0-$((ncpu - 1))'/>
      <vr:sched threads='vcpu' class='deadline' runtime='200us' period='2ms'/>"
start_tuner dl || fail "no state file (deadline)"
vcpu=$(tid_of "CPU 0/KVM")
[[ $(policy_of "$vcpu") == 6 ]] && pass "vCPU 0 is SCHED_DEADLINE" || fail "vCPU 0 policy $(policy_of "$vcpu")"
params=$(chrt -p "$vcpu" | sed -n 's/.*parameters: //p')
[[ $params == 200000/2000000/2000000 ]] && pass "runtime/deadline/period 200000/2000000/2000000 ns" || fail "deadline parameters '$params'"
stop_all

echo "# a strict router whose deadline thread would need a partition is refused in words"
start_fake --vcpus 1 --vhost 0
domain_xml strict "      <vr:cpu placement='dedicated' cpus='1'/>
      <vr:sched threads='vcpu' class='deadline' runtime='200us' period='2ms'/>"
start_tuner strict || fail "no state file (strict)"
vcpu=$(tid_of "CPU 0/KVM")
[[ $(policy_of "$vcpu") == 0 ]] && pass "no deadline applied to a thread that cannot be pinned" || fail "policy $(policy_of "$vcpu")"
if grep -q "cannot be pinned to fewer CPUs than their root domain" "$state/strict.json"; then pass "state says why"; else fail "no reason in the state"; cat "$state/strict.json"; fi
stop_all

echo "# launched as the hook launches it: detached, holding nothing of its caller"
LAUNCH=$top_builddir/tests/test-launch
start_fake --vcpus 1 --vhost 1
# The domain XML names no pid: the spec takes it from a status XML as libvirt writes
# it (<domstatus pid=...>), as `virt-router spec --domain` does from /run/libvirt.
domain_xml launched "      <vr:cpu placement='shared' cpus='0-$((ncpu - 1))'/>
      <vr:sched threads='vcpu' class='batch'/>"
{ echo "<domstatus state='running' pid='$fake_pid'>"; cat "$tmp/launched.xml"; echo "</domstatus>"; } >"$tmp/launched-status.xml"
"$VIRT_ROUTER" spec --xml "$tmp/launched-status.xml" >"$tmp/launched.spec.json" || fail "virt-router spec launched"
t0=$SECONDS
out=$(timeout 10 "$LAUNCH" "$TUNE" launched "$tmp/launched.spec.json" "$state" 2>&1) || true
if [[ $out == launched ]] && ((SECONDS - t0 < 5)); then
	pass "launch returned at once; the daemon kept none of the caller's descriptors"
else
	fail "launch: '$out' after $((SECONDS - t0)) s"
fi
if wait_for "daemon state" test -s "$state/launched.json" &&
	tuner_pid=$(head -n1 "$state/launched.tuner.pid" 2>/dev/null) && kill -0 "$tuner_pid" 2>/dev/null; then
	pass "detached tuner ($tuner_pid) runs and wrote its state"
	# Double fork: a session of its own, but not its leader (no terminal can come back).
	[[ $(ps -o sid= -p "$tuner_pid" | tr -d ' ') != "$(ps -o sid= -p $$ | tr -d ' ')" ]] && pass "tuner runs in a session of its own" || fail "tuner shares the caller's session"
	if ls -l /proc/"$tuner_pid"/fd 2>/dev/null | grep -q pipe; then fail "tuner holds a pipe"; else pass "tuner holds no pipe"; fi
else
	fail "no detached tuner"
fi
vcpu=$(tid_of "CPU 0/KVM")
[[ $(policy_of "$vcpu") == 3 ]] && pass "the detached tuner applied SCHED_BATCH" || fail "policy $(policy_of "$vcpu")"
kill "$fake_pid"
fake_pid=""
if wait_for "detached tuner exit" bash -c "! kill -0 $tuner_pid 2>/dev/null"; then pass "detached tuner exits with the domain"; else fail "detached tuner still running"; fi
tuner_pid=""
# A spec of another domain: the tuner refuses it before detaching, with its own words.
out=$(timeout 10 "$LAUNCH" "$TUNE" plain "$tmp/launched.spec.json" "$state" 2>&1) && rc=0 || rc=$?
if ((rc == 1)) && [[ $out == *"domain 'plain': the tuning spec describes domain 'launched'"* ]]; then
	pass "a tuner that cannot start says why"
else
	fail "launch of a non-router: exit $rc, '$out'"
fi

vr_test_summary
