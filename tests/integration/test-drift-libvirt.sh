#!/usr/bin/env bash
# Drift on a real libvirtd, as a new user meets it: a domain whose policy (a macvtap port
# 'wan', a dedicated CPU) was added to its definition and never applied, so it still has
# its original e1000 NIC. In strict mode `virsh start` is refused with the hook's one
# line naming what differs and the command that fixes it, and nothing is reserved; in
# best-effort mode it starts and the hook logs a warning; after `virt-router apply
# --domain` (the command the line names) it starts as a router. The hook logs to syslog:
# where no syslog daemon listens on /dev/log, the test listens there itself.
set -euo pipefail

# shellcheck source=tests/lib/integration.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/integration.sh"
vr_require_root_or_skip ip python3
vr_require_built "$VIRT_ROUTER" "$HOOK" "$TUNE"

dom="vrdrift-$$"
uuid=$(cat /proc/sys/kernel/random/uuid) # defined again under one UUID
vr_hook_test_vars drift d
syslog_pid=

cleanup() {
	trap '' INT TERM
	if timeout 20 virsh -q dominfo "$dom" >/dev/null 2>&1; then
		timeout 30 virsh -q destroy "$dom" >/dev/null 2>&1 || true
		timeout 30 virsh -q undefine "$dom" >/dev/null 2>&1 || true
	fi
	if [[ -n $syslog_pid ]]; then
		kill "$syslog_pid" 2>/dev/null || true
		rm -f /dev/log
	fi
	vr_hook_test_teardown "$state" "$va" "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

vr_libvirtd_start_or_fail

# The hook's syslog, readable: a listener of our own where nothing listens yet.
if [[ ! -e /dev/log ]]; then
	python3 - "$tmp/syslog" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
os.chmod("/dev/log", 0o666)
with open(sys.argv[1], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b"\n") + b"\n")
PY
	syslog_pid=$!
	for _ in $(seq 50); do [[ -S /dev/log ]] && break; sleep 0.1; done
fi

cat >"$conf" <<CONF
[host]
router-cpus=0-1
mode=strict
state-dir=$state
CONF
vr_hook_install qemu "virt-router-test-$$" "$conf" "$HOOK" "$TUNE"
ip link add "$va" type veth peer name "$vb"
ip link set "$va" up
ip link set "$vb" up

ledger() { python3 -c 'import json,sys; print(" ".join(sorted(d["domain"] for d in json.load(open(sys.argv[1]))["domains"])))' "$state/ledger" 2>/dev/null || true; }

# A guest as a user had it (an e1000 NIC on the host's $vb), with a router policy added
# to its definition the way `virsh edit` would, and never applied.
definition() { # MODE
	cat >"$tmp/$dom.xml" <<XML
<domain type='qemu'>
  <name>$dom</name>
  <uuid>$uuid</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu placement='static'>1</vcpu>
  <metadata>
    <vr:router xmlns:vr='urn:virt-router:1' mode='$1'>
      <vr:cpu placement='dedicated' cpus='1'/>
      <vr:port name='wan' mode='macvtap' dev='$va' macvtap-mode='passthrough'/>
    </vr:router>
  </metadata>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='direct'>
      <source dev='$vb' mode='bridge'/>
      <model type='e1000'/>
    </interface>
    <console type='pty'/>
  </devices>
</domain>
XML
	timeout 60 virsh -q define "$tmp/$dom.xml" >/dev/null
}

# --- strict: refused, in one line, with nothing reserved
definition strict
if timeout 60 virsh -q start "$dom" >/dev/null 2>"$tmp/err"; then
	fail "strict: $dom started although its definition does not honour its policy"
	timeout 30 virsh -q destroy "$dom" >/dev/null 2>&1 || true
else
	line=$(grep -o "virt-router-hook: domain '$dom': .*" "$tmp/err" || true)
	echo "# virsh start printed: $(tr '\n' ' ' <"$tmp/err")"
	want="virt-router-hook: domain '$dom': its definition does not honour its router policy: port 'wan' has no device, the policy says <interface type='direct'> on $va in mode passthrough; vcpu 0 is not pinned, the policy says 1; the guest configuration (<sysinfo type='fwcfg'> entry opt/org.virt-router/config) is missing: run 'virt-router apply --domain $dom' and start it again (a transient domain: apply its XML file with 'virt-router apply FILE' before virsh create)"
	if [[ $line == "$want" ]]; then
		pass "strict: virsh start is refused with the hook's line naming what differs and the fix"
	else
		fail "strict: refusal without the expected line; got: $(cat "$tmp/err")"
	fi
	[[ $(grep -c "does not honour" "$tmp/err") == 1 ]] && pass "strict: the reason is one line" || fail "strict: the reason spans several lines"
fi
[[ " $(ledger) " != *" $dom "* ]] && pass "strict: nothing reserved for the refused domain" || fail "ledger: '$(ledger)'"
[[ $(timeout 20 virsh -q domstate "$dom") == "shut off" ]] && pass "strict: $dom stays shut off" || fail "$dom state $(virsh -q domstate "$dom")"

# --- best-effort: starts as defined, with a warning in the log
definition best-effort
if timeout 60 virsh -q start "$dom" >/dev/null 2>"$tmp/err"; then
	pass "best-effort: $dom starts as defined"
else
	fail "best-effort: start failed: $(cat "$tmp/err")"
fi
if [[ -n $syslog_pid ]]; then
	if grep -q "domain '$dom': its definition does not honour its router policy: port 'wan' has no device, .*: run 'virt-router apply --domain $dom' and restart it (best-effort: starting it as defined)" "$tmp/syslog"; then
		pass "best-effort: the hook logs the difference and the fix"
	else
		fail "best-effort: no warning in the log: $(grep "$dom" "$tmp/syslog" 2>/dev/null | head -5)"
	fi
else
	echo "# /dev/log belongs to this host's syslog: the warning is in its log, not checked here"
fi
[[ " $(ledger) " == *" $dom "* ]] && pass "best-effort: reserved like any router" || fail "ledger: '$(ledger)'"
timeout 30 virsh -q destroy "$dom" >/dev/null 2>&1 || true
for _ in $(seq 50); do [[ " $(ledger) " != *" $dom "* ]] && break; sleep 0.1; done

# --- strict again, after the command the refusal names: a router that starts
definition strict
logged=$(grep -c "domain '$dom': its definition does not honour" "$tmp/syslog" 2>/dev/null || true)
if "$VIRT_ROUTER" apply --domain "$dom" --config "$conf" >"$tmp/diff" 2>"$tmp/err"; then
	pass "virt-router apply --domain $dom redefines it"
else
	fail "virt-router apply --domain: $(cat "$tmp/err")"
fi
if timeout 60 virsh -q start "$dom" >/dev/null 2>"$tmp/err"; then
	pass "after apply, $dom starts in strict mode"
else
	fail "after apply, start failed: $(cat "$tmp/err")"
fi
[[ " $(ledger) " == *" $dom "* ]] && pass "after apply, CPU 1 is reserved for it" || fail "ledger: '$(ledger)'"
tap=$(timeout 20 virsh -q domiflist "$dom" | awk -v d="$va" '$3 == d {print $1}')
[[ -n $tap ]] && pass "after apply, $dom has its port 'wan' ($tap on $va)" || fail "no macvtap on $va: $(virsh -q domiflist "$dom")"
if [[ -n $syslog_pid ]]; then
	n=$(grep -c "domain '$dom': its definition does not honour" "$tmp/syslog" || true)
	[[ $n == "$logged" ]] && pass "after apply, no drift logged" || fail "after apply, $((n - logged)) drift messages logged"
fi
timeout 30 virsh -q destroy "$dom" >/dev/null 2>&1 || true
for _ in $(seq 50); do [[ " $(ledger) " != *" $dom "* ]] && break; sleep 0.1; done
[[ " $(ledger) " != *" $dom "* ]] && pass "ledger empty of $dom after it stopped" || fail "ledger: '$(ledger)'"

vr_test_summary
