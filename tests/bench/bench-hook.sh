#!/usr/bin/env bash
# Wall time of one hook invocation, as libvirt pays it (a process started with a
# 10 KB domain XML on stdin), median and p90 over RUNS (default 300):
#   - a domain that is no router (target: median <= 1 ms)
#   - prepare of a router domain: parse, plan, host checks, ledger (target <= 3 ms)
# beside a shell hook that only parses the same XML with xmllint.
# The router domain (1 vCPU on dedicated CPU 1, host config router-cpus=1, two macvtap
# ports on lo) is written by `virt-router apply`, so that prepare accepts it. Each
# command runs once first with its messages on stderr: an exit but 0, or a message
# other than prepare's "reserved", stops the bench with that message (exit 3); so does
# a timed run that fails.
# Usage: tests/bench/bench-hook.sh [--json]   (after a build)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HOOK=${HOOK:-$top/build/virt-router-hook}
VIRT_ROUTER=${VIRT_ROUTER:-$(dirname "$HOOK")/virt-router}
RUNS=${RUNS:-300}
json=0
[[ ${1:-} == --json ]] && json=1
cannot() { echo "bench-hook: cannot run: $*" >&2; exit 3; }
[[ -x $HOOK ]] || cannot "$HOOK missing: build first"
[[ -x $VIRT_ROUTER ]] || cannot "$VIRT_ROUTER missing: build first"
command -v xmllint >/dev/null || cannot "xmllint missing (libxml2-utils)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A realistic ~10 KB domain: disks, interfaces, controllers, serials, a long cmdline.
gen() { # POLICY
	{
		echo "<domain type='kvm'>"
		echo "  <name>bench</name>"
		echo "  <uuid>0e6f5a2c-3b1a-4c1d-9e8f-7a6b5c4d3e2f</uuid>"
		echo "  <memory unit='KiB'>2097152</memory>"
		echo "  <vcpu placement='static'>1</vcpu>"
		echo "  <metadata>"
		echo "    <app:info xmlns:app='http://example.org/app/1'><app:owner>netops</app:owner></app:info>"
		[[ -n $1 ]] && echo "$1"
		echo "  </metadata>"
		echo "  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><boot dev='hd'/></os>"
		echo "  <features><acpi/><apic/></features>"
		echo "  <cpu mode='host-passthrough' check='none' migratable='on'/>"
		echo "  <devices>"
		echo "    <emulator>/usr/bin/qemu-system-x86_64</emulator>"
		local letters=abcdefghijklmnopqrstuvwx i
		for i in $(seq 0 23); do
			printf "    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2' cache='none' io='native'/>\n      <source file='/var/lib/libvirt/images/bench-disk%02d.qcow2'/>\n      <target dev='vd%s' bus='virtio'/>\n      <address type='pci' domain='0x0000' bus='0x%02x' slot='0x00' function='0x0'/>\n    </disk>\n" "$i" "${letters:i:1}" "$((i + 4))"
		done
		for i in $(seq 0 19); do
			printf "    <controller type='pci' index='%d' model='pcie-root-port'>\n      <model name='pcie-root-port'/>\n      <target chassis='%d' port='0x%x'/>\n    </controller>\n" "$((i + 1))" "$((i + 1))" "$((16 + i))"
		done
		echo "    <interface type='network'><mac address='52:54:00:11:22:33'/><source network='default'/><model type='virtio'/></interface>"
		echo "    <serial type='pty'><target type='isa-serial' port='0'><model name='isa-serial'/></target></serial>"
		echo "    <console type='pty'><target type='serial' port='0'/></console>"
		echo "  </devices>"
		echo "</domain>"
	}
}
gen "" >"$tmp/plain.xml"
printf '[host]\nrouter-cpus=1\n' >"$tmp/host.conf"
gen "    <vr:router xmlns:vr='urn:virt-router:1'><vr:cpu placement='dedicated' cpus='1'/><vr:sched threads='vcpu vhost' class='fifo'/><vr:port name='wan' mode='macvtap' dev='lo'/><vr:port name='lan' mode='macvtap' dev='lo' queue='35'/></vr:router>" >"$tmp/policy.xml"
"$VIRT_ROUTER" apply --config "$tmp/host.conf" --sysroot / -o "$tmp/router.xml" "$tmp/policy.xml" 2>"$tmp/err" ||
	cannot "virt-router apply refused the router domain: $(cat "$tmp/err")"
printf '#!/bin/sh\nxmllint --xpath "//*[namespace-uri()=\\"urn:virt-router:1\\"]" - >/dev/null 2>&1\nexit 0\n' >"$tmp/shell-hook"
chmod +x "$tmp/shell-hook"
export VIRT_ROUTER_CONFIG=$tmp/host.conf VIRT_ROUTER_STATE_DIR=$tmp/state VIRT_ROUTER_NO_TUNER=1
# Timed runs log as under libvirt (syslog); the checks below ask for stderr.
unset VIRT_ROUTER_LOG

# once WHAT EXPECT XML CMD...: one run as the timed ones, its messages on stderr. Stops
# the bench if it exits non-zero or says anything but EXPECT (a regex for whole lines;
# empty: nothing).
once() {
	local what=$1 expect=$2 xml=$3 rc=0 said
	shift 3
	VIRT_ROUTER_LOG=stderr "$@" <"$xml" >/dev/null 2>"$tmp/err" || rc=$?
	said=$(cat "$tmp/err")
	((rc == 0)) || cannot "$what: '$*' exited $rc: ${said:-no message on stderr}"
	if [[ -n $expect ]]; then
		said=$(grep -Evx -e "$expect" "$tmp/err" || true)
	fi
	[[ -z $said ]] || cannot "$what: '$*' exited 0 but said: $said"
}
ledger_has() { grep -q '"domain": "bench"' "$tmp/state/ledger" 2>/dev/null; }
once "domain without policy" "" "$tmp/plain.xml" "$HOOK" bench prepare begin -
once "prepare of the router domain" "virt-router-hook: domain 'bench': prepare: reserved dedicated CPUs 1, .*" \
	"$tmp/router.xml" "$HOOK" bench prepare begin -
ledger_has || cannot "prepare of the router domain: '$HOOK' exited 0 but reserved nothing ($tmp/state/ledger has no domain 'bench')"
once "release of the router domain" "virt-router-hook: domain 'bench': release: reservations released" \
	"$tmp/router.xml" "$HOOK" bench release end -
! ledger_has || cannot "release of the router domain: '$HOOK' exited 0 but domain 'bench' is still in $tmp/state/ledger"
once "shell hook" "" "$tmp/router.xml" "$tmp/shell-hook" bench prepare begin -

# measure NAME XML CMD...: median/p90 in us of RUNS runs; prints them
measure() {
	local name=$1 xml=$2 i t0 t1 rc
	shift 2
	: >"$tmp/$name.us"
	for ((i = 0; i < RUNS; i++)); do
		rc=0
		t0=$(date +%s%N)
		"$@" <"$xml" >/dev/null 2>"$tmp/err" || rc=$?
		t1=$(date +%s%N)
		((rc == 0)) || cannot "run $((i + 1)): '$*' exited $rc: $(cat "$tmp/err")"
		echo $(((t1 - t0) / 1000)) >>"$tmp/$name.us"
		# keep the ledger as it was: each prepare reserves afresh
		if [[ $name == router-prepare ]]; then
			"$HOOK" bench release end - <"$xml" >/dev/null 2>"$tmp/err" || cannot "run $((i + 1)): release exited $?: $(cat "$tmp/err")"
		fi
	done
	sort -n "$tmp/$name.us" >"$tmp/$name.sorted"
	echo "$(sed -n "$((RUNS / 2 + 1))p" "$tmp/$name.sorted") $(sed -n "$((RUNS * 9 / 10 + 1))p" "$tmp/$name.sorted")"
}
size=$(wc -c <"$tmp/plain.xml")
read -r np90_m np90_p < <(measure plain "$tmp/plain.xml" "$HOOK" bench prepare begin -)
read -r rp_m rp_p < <(measure router-prepare "$tmp/router.xml" "$HOOK" bench prepare begin -)
read -r sh_m sh_p < <(measure shell "$tmp/plain.xml" "$tmp/shell-hook" bench prepare begin -)
read -r tr_m tr_p < <(measure true "$tmp/plain.xml" /bin/true)
ok=1
((np90_m <= 1000)) || ok=0
((rp_m <= 3000)) || ok=0
if ((json)); then
	printf '{"runs": %d, "xml_bytes": %d, "non_router_median_us": %d, "non_router_p90_us": %d, "prepare_median_us": %d, "prepare_p90_us": %d, "shell_xmllint_median_us": %d, "shell_xmllint_p90_us": %d, "process_start_median_us": %d, "targets_met": %s}\n' \
		"$RUNS" "$size" "$np90_m" "$np90_p" "$rp_m" "$rp_p" "$sh_m" "$sh_p" "$tr_m" "$([[ $ok == 1 ]] && echo true || echo false)"
else
	echo "hook wall time per invocation, $size-byte domain XML, $RUNS runs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	printf '  %-44s median %6d us   p90 %6d us   (target median <= 1000 us)\n' "virt-router-hook, domain without policy" "$np90_m" "$np90_p"
	printf '  %-44s median %6d us   p90 %6d us   (target median <= 3000 us)\n' "virt-router-hook, prepare of a router" "$rp_m" "$rp_p"
	printf '  %-44s median %6d us   p90 %6d us\n' "shell hook parsing with xmllint" "$sh_m" "$sh_p"
	printf '  %-44s median %6d us   p90 %6d us\n' "/bin/true (process start alone)" "$tr_m" "$tr_p"
	echo "  targets $([[ $ok == 1 ]] && echo met || echo NOT met)"
fi
((ok))
