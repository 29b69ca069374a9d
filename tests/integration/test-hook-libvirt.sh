#!/usr/bin/env bash
# The hook installed where libvirt looks for it, on a real libvirtd: a router domain
# (type='qemu', macvtap ports on a veth pair) is started, reserved and tuned, and
# stopped with nothing left; a second domain cannot take its dedicated CPU; an LXC
# router is started and tuned. libvirt runs hooks with a clean environment, so the
# test installs a two-line wrapper that points the built hook at the test's config.
set -euo pipefail

# shellcheck source=tests/lib/integration.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/integration.sh"
vr_require_root_or_skip ip
vr_require_built "$VIRT_ROUTER" "$HOOK" "$TUNE"

vr_hook_test_setup hook h

cat >"$conf" <<CONF
[host]
router-cpus=0-1
mode=strict
state-dir=$state
CONF
for drv in qemu lxc; do
	vr_hook_install "$drv" "virt-router-test-$$" "$conf" "$HOOK" "$TUNE"
done
wait_for() { local i; for ((i = 0; i < 100; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
wait_for timeout 5 virsh -q version >/dev/null 2>&1 || true
ip link add "$va" type veth peer name "$vb"
ip link set "$va" up
ip link set "$vb" up

ledger() { python3 -c 'import json,sys; print(" ".join(sorted(d["domain"] for d in json.load(open(sys.argv[1]))["domains"])))' "$state/ledger" 2>/dev/null || true; }

policy() { # FILE CPUS
	cat >"$1" <<XML
<vr:router xmlns:vr='urn:virt-router:1'>
  <vr:cpu placement='dedicated' cpus='$2'/>
  <vr:sched threads='vcpu' class='fifo' priority='10'/>
  <vr:port name='wan' mode='macvtap' dev='$va' queue='35'/>
  <vr:port name='lan' mode='macvtap' dev='$vb' queue='35'/>
</vr:router>
XML
}

# --- a router starts, is reserved and tuned
r1=${prefix}r1
policy "$tmp/p1.xml" 1
"$VIRT_ROUTER" render kvm-macvtap --type qemu -n "$r1" --memory 128 --no-image --policy "$tmp/p1.xml" -c "$conf" >"$tmp/r1.xml"
virsh -q define "$tmp/r1.xml" >/dev/null
if virsh -q start "$r1" >/dev/null 2>"$tmp/err"; then pass "router $r1 starts with the hook installed"; else fail "start: $(cat "$tmp/err")"; fi
[[ $(ledger) == "$r1" ]] && pass "ledger holds $r1" || fail "ledger: '$(ledger)'"
if wait_for test -s "$state/$r1.json"; then pass "tuner started by the hook wrote its state"; else fail "no tuner state"; fi
pid=$(cat "/run/libvirt/qemu/$r1.pid")
vcpu=""
for t in /proc/"$pid"/task/*; do [[ $(cat "$t/comm") == "CPU 0/TCG" ]] && vcpu=${t##*/}; done
if wait_for bash -c "[[ \$(awk '\$1 == \"policy\" {print \$3}' /proc/$pid/task/$vcpu/sched) == 1 ]]"; then
	pass "vCPU thread of the real QEMU is SCHED_FIFO"
else
	fail "vCPU thread $vcpu policy $(awk '$1 == "policy" {print $3}' "/proc/$pid/task/$vcpu/sched")"
fi
[[ $(awk '/^Cpus_allowed_list/ {print $2}' "/proc/$pid/task/$vcpu/status") == 1 ]] && pass "vCPU pinned to its dedicated CPU 1" || fail "vCPU CPUs $(awk '/^Cpus_allowed_list/ {print $2}' "/proc/$pid/task/$vcpu/status")"
tap=$(virsh -q domiflist "$r1" | awk -v d="$va" '$3 == d {print $1}')
[[ -n $tap && $(cat "/sys/class/net/$tap/tx_queue_len") == 35 ]] && pass "macvtap $tap queue length 35" || fail "macvtap '$tap' queue $(cat "/sys/class/net/$tap/tx_queue_len" 2>/dev/null)"

# --- a second router cannot take the reserved CPU
r2=${prefix}r2
policy "$tmp/p2.xml" 1
"$VIRT_ROUTER" render kvm-macvtap --type qemu -n "$r2" --memory 128 --no-image --policy "$tmp/p2.xml" -c "$conf" >"$tmp/r2.xml"
virsh -q define "$tmp/r2.xml" >/dev/null
if virsh -q start "$r2" >/dev/null 2>"$tmp/err"; then
	fail "$r2 started on a CPU reserved by $r1"
elif grep -q "dedicated CPUs 1 overlap CPUs 1 reserved by running router '$r1'" "$tmp/err"; then
	pass "virsh start of $r2 fails and says why"
else
	fail "$r2 failed without the reason: $(cat "$tmp/err")"
fi
[[ $(ledger) == "$r1" ]] && pass "nothing reserved for $r2" || fail "ledger: '$(ledger)'"
[[ $(virsh -q domstate "$r2") == "shut off" ]] && pass "$r2 stays shut off" || fail "$r2 state $(virsh -q domstate "$r2")"

# --- stop: nothing left
tuner=$(head -n1 "$state/$r1.tuner.pid" 2>/dev/null || true) # line 1: the pid, line 2: its start time
virsh -q destroy "$r1" >/dev/null
if wait_for bash -c "[[ -z \$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"domains\"])' $state/ledger | tr -d '[]') ]]"; then pass "ledger empty after the router stopped"; else fail "ledger after stop: '$(ledger)'"; fi
if [[ -n $tuner ]] && wait_for bash -c "! kill -0 $tuner 2>/dev/null"; then pass "tuner gone"; else fail "tuner $tuner still running"; fi
[[ ! -e $state/$r1.json && ! -e $state/$r1.hook.json ]] && pass "no state left" || fail "state files left: $(ls "$state")"
virsh -q start "$r2" >/dev/null 2>"$tmp/err" && pass "$r2 starts once the CPU is free" || fail "$r2: $(cat "$tmp/err")"
virsh -q destroy "$r2" >/dev/null 2>&1 || true

# --- an LXC router
c1=${prefix}c1
cat >"$tmp/pc.xml" <<XML
<vr:router xmlns:vr='urn:virt-router:1'>
  <vr:cpu placement='shared' cpus='0-1' shares='512'/>
  <vr:sched threads='emulator' class='batch'/>
  <vr:port name='wan' mode='macvlan' dev='$va' queue='40'/>
  <vr:address port='wan' ip='192.0.2.1/24'/>
</vr:router>
XML
"$VIRT_ROUTER" render lxc-macvlan -n "$c1" --policy "$tmp/pc.xml" -c "$conf" >"$tmp/c1.xml"
virsh -q -c lxc:///system define "$tmp/c1.xml" >/dev/null
if virsh -q -c lxc:///system start "$c1" >/dev/null 2>"$tmp/err"; then pass "LXC router starts with the hook"; else fail "LXC start: $(cat "$tmp/err")"; fi
if wait_for test -s "$state/$c1.json" && python3 - "$state/$c1.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
procs = [t for t in d["threads"] if t["role"] == "emulator"]
assert procs and all(t["class"] == "batch" and t["applied"] for t in procs), d["threads"]
assert any(w["file"].endswith("/cpu.shares") and w["value"] == "512" for w in d["cgroup_writes"]), d
PY
then pass "LXC router tuned: its processes SCHED_BATCH, cpu.shares 512 on its cgroup"; else fail "LXC router not tuned: $(cat "$state/$c1.json" 2>/dev/null | head -c 600)"; fi
ctl=$(cat "/run/libvirt/lxc/$c1.pid" 2>/dev/null || true)
init=$(pgrep -P "$ctl" 2>/dev/null | head -1)
# ip, not /sys: nsenter -n leaves the mount namespace, and so sysfs, as the host's.
# apply names a container's port device after the port (<guest dev='wan'/>).
qlen=$(nsenter -t "$init" -n ip -o link show wan 2>/dev/null | sed -n 's/.* qlen \([0-9]*\).*/\1/p' || true)
[[ $qlen == 40 ]] && pass "LXC router's macvlan 'wan' has queue length 40 inside the container" || fail "LXC macvlan queue length '$qlen', expected 40"
virsh -q -c lxc:///system destroy "$c1" >/dev/null 2>&1 || true
wait_for bash -c "[[ \$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))[\"domains\"]))' $state/ledger) == 0 ]]" && pass "ledger empty after the LXC router stopped" || fail "ledger: '$(ledger)'"

vr_test_summary
