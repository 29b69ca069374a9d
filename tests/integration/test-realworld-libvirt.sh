#!/usr/bin/env bash
# Issue 14 on a real libvirtd with the hook installed: routers go through what operators
# do to running domains, where libvirt runs the hook's migrate/restore filter and then
# its own guest-ABI check on the filter's output:
#   - virsh save and virsh restore of a running router (apply's own XML);
#   - virsh managedsave of a router, then virsh start;
#   - the same for a Nova-shaped instance bound by a host config rule to a profile that
#     strips devices: the running guest keeps its USB controller, video and balloon;
#   - the migrate filter on each running domain's migratable XML, its output given to
#     libvirt as the XML of a restore (virsh restore --xml), so libvirt checks its ABI.
# The filter on another host's VF addresses runs in tests/test-hook.sh (no SR-IOV here).
set -euo pipefail

# shellcheck source=tests/lib/integration.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/integration.sh"
vr_require_root_or_skip ip
vr_require_built "$VIRT_ROUTER" "$HOOK" "$TUNE"

vr_hook_test_setup realworld r

# Two CPUs are all a CI machine may have: routers get CPU 1, libvirt's own threads CPU 0.
cat >"$conf" <<CONF
[host]
router-cpus=1
housekeeping-cpus=0
mode=strict
state-dir=$state
[profile edge]
placement=dedicated
strip=graphics video usb memballoon
[rule nova-routers]
nova-flavor=vr.*
profile=edge
CONF
vr_hook_install qemu "virt-router-test-$$" "$conf" "$HOOK" "$TUNE"
wait_for() { local i; for ((i = 0; i < 100; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
ip link add "$va" type veth peer name "$vb"
ip link set "$va" up
ip link set "$vb" up

running() { [[ $(virsh -q domstate "$1" 2>/dev/null) == running ]]; }

# save_restore DOM WHAT: virsh save, then restore (the hook's restore filter, then
# libvirt's ABI check), the domain running again afterwards.
save_restore() {
	local dom=$1 what=$2
	if ! virsh -q save "$dom" "$tmp/$dom.save" >/dev/null 2>"$tmp/err"; then
		fail "$what: virsh save: $(cat "$tmp/err")"
		return
	fi
	if virsh -q restore "$tmp/$dom.save" >/dev/null 2>"$tmp/err" && wait_for running "$dom"; then
		pass "$what: virsh save, then virsh restore through the hook: running"
	else
		fail "$what: virsh restore: $(cat "$tmp/err")"
	fi
	rm -f "$tmp/$dom.save"
}

# managedsave_start DOM WHAT
managedsave_start() {
	local dom=$1 what=$2
	if virsh -q managedsave "$dom" >/dev/null 2>"$tmp/err" && virsh -q start "$dom" >/dev/null 2>>"$tmp/err" &&
		wait_for running "$dom"; then
		pass "$what: virsh managedsave, then virsh start: running"
	else
		fail "$what: managedsave/start: $(cat "$tmp/err")"
	fi
}

# migrate_filter DOM WHAT: the hook's migrate filter on the running domain's migratable
# XML; what it prints (or the XML itself when it prints nothing) goes to libvirt as the
# XML of a restore, which libvirt checks against the saved guest's ABI.
migrate_filter() {
	local dom=$1 what=$2 xml=$tmp/$1.migratable.xml out=$tmp/$1.filtered.xml rc
	virsh -q dumpxml --migratable "$dom" >"$xml"
	VIRT_ROUTER_CONFIG=$conf VIRT_ROUTER_STATE_DIR=$state VIRT_ROUTER_NO_TUNER=1 \
		"$HOOK" "$dom" migrate begin - <"$xml" >"$out" 2>"$tmp/err"
	rc=$?
	if ((rc != 0)); then
		fail "$what: migrate filter exit $rc: $(cat "$tmp/err")"
		return
	fi
	[[ -s $out ]] || cp "$xml" "$out"
	if virsh -q save "$dom" "$tmp/$dom.save" >/dev/null 2>"$tmp/err" &&
		virsh -q restore "$tmp/$dom.save" --xml "$out" >/dev/null 2>>"$tmp/err" && wait_for running "$dom"; then
		pass "$what: the migrate filter's output passes libvirt's ABI check (restore --xml)"
	else
		fail "$what: libvirt refused the migrate filter's output: $(cat "$tmp/err")"
	fi
	rm -f "$tmp/$dom.save"
}

# --- a router as apply makes it
r1=${prefix}r1
cat >"$tmp/p1.xml" <<XML
<vr:router xmlns:vr='urn:virt-router:1'>
  <vr:cpu placement='dedicated' cpus='1'/>
  <vr:port name='wan' mode='macvtap' dev='$va' queue='35'/>
  <vr:port name='lan' mode='macvtap' dev='$vb' queue='35'/>
</vr:router>
XML
"$VIRT_ROUTER" render kvm-macvtap --type qemu -n "$r1" --memory 128 --no-image --policy "$tmp/p1.xml" -c "$conf" >"$tmp/r1.xml"
virsh -q define "$tmp/r1.xml" >/dev/null
if virsh -q start "$r1" >/dev/null 2>"$tmp/err"; then pass "router $r1 starts with the hook installed"; else fail "start $r1: $(cat "$tmp/err")"; fi
save_restore "$r1" "router"
managedsave_start "$r1" "router"
migrate_filter "$r1" "router"
virsh -q destroy "$r1" >/dev/null 2>&1 || true

# --- a Nova instance bound by a rule to a profile that strips devices
n1=${prefix}instance-0000000e
sed -e "s|<domain type='kvm' id='7'>|<domain type='qemu'>|" -e "s|<name>instance-0000000e</name>|<name>$n1</name><memory unit='MiB'>128</memory>|" \
	-e "s|<vcpupin vcpu='0' cpuset='2'/>|<vcpupin vcpu='0' cpuset='1'/>|" -e "s|<emulatorpin cpuset='0-1'/>|<emulatorpin cpuset='0'/>|" \
	-e "s|machine='pc-i440fx-6.2'|machine='pc'|" -e "/<alias name=/d" \
	"$top_srcdir/tests/data/hook/realworld-migrate-strips-devices.xml" >"$tmp/n1.xml"
if virsh -q define "$tmp/n1.xml" >/dev/null 2>"$tmp/err" && virsh -q start "$n1" >/dev/null 2>>"$tmp/err"; then
	pass "Nova-shaped instance bound by a rule starts"
else
	fail "Nova-shaped instance: $(cat "$tmp/err")"
fi
save_restore "$n1" "rule-bound instance"
managedsave_start "$n1" "rule-bound instance"
migrate_filter "$n1" "rule-bound instance"
live=$(virsh -q dumpxml "$n1")
if grep -q "<controller type='usb' index='0' model='piix3-uhci'" <<<"$live" && grep -q '<video>' <<<"$live" &&
	grep -q "<memballoon model='virtio'" <<<"$live"; then
	pass "the running instance keeps its USB controller, video and balloon"
else
	fail "the instance lost devices: $(grep -E 'controller|video|memballoon' <<<"$live" | tr -s ' ')"
fi
virsh -q destroy "$n1" >/dev/null 2>&1 || true

# --- instances of one flavor share the pool (issue 14 kind 2): a CI machine has two
# CPUs, so a pool of two; each instance reserves one, the tuner pins its vCPU there,
# and the third is refused with the numbers.
sed -i -e 's/^router-cpus=.*/router-cpus=0-1/' -e '/^housekeeping-cpus=/d' "$conf"
vcpu_cpus() { # DOMAIN: the CPUs its vCPU 0 may run on
	local pid t
	pid=$(cat "/run/libvirt/qemu/$1.pid" 2>/dev/null) || return 1
	for t in /proc/"$pid"/task/*; do
		if [[ $(cat "$t/comm" 2>/dev/null) == "CPU 0/TCG" ]]; then
			awk '/^Cpus_allowed_list/ {print $2}' "$t/status"
		fi
	done
}
declare -A pinned
for n in 1 2 3; do
	inst=${prefix}instance-0000020$n
	sed -e "s|<name>$n1</name>|<name>$inst</name>|" -e '/<vcpupin/d' "$tmp/n1.xml" >"$tmp/pool$n.xml"
	virsh -q define "$tmp/pool$n.xml" >/dev/null
	if ((n < 3)); then
		if virsh -q start "$inst" >/dev/null 2>"$tmp/err"; then
			pass "instance $n of the flavor starts on the pool of two"
		else
			fail "instance $n: $(cat "$tmp/err")"
		fi
		wait_for bash -c "[[ \$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"policy\"][\"cpu\"][\"cpus\"])' $state/$inst.spec.json 2>/dev/null) == [01] ]]" || true
		for _ in $(seq 50); do pinned[$n]=$(vcpu_cpus "$inst"); [[ ${pinned[$n]} == [01] ]] && break; sleep 0.2; done
	elif virsh -q start "$inst" >/dev/null 2>"$tmp/err"; then
		fail "a third instance started on a pool of two"
	elif grep -q "needs 1 dedicated CPU of router-cpus=0-1, 0 free; reserved: " "$tmp/err"; then
		pass "the third instance is refused with the numbers"
	else
		fail "the third instance failed without the numbers: $(cat "$tmp/err")"
	fi
done
if [[ ${pinned[1]} == [01] && ${pinned[2]} == [01] && ${pinned[1]} != "${pinned[2]}" ]]; then
	pass "the tuner pinned each instance's vCPU to its own reserved CPU (${pinned[1]}, ${pinned[2]})"
else
	fail "vCPUs pinned to '${pinned[1]}' and '${pinned[2]}', expected 0 and 1"
fi

vr_test_summary
