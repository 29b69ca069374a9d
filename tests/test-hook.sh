#!/usr/bin/env bash
# virt-router-hook as libvirt calls it (NAME OP SUBOP EXTRA, XML on stdin), on a fake
# host tree: every operation, the ledger, and bad input, each with a clear message,
# the right exit code and nothing left reserved. The real-libvirtd test is
# tests/integration/test-hook-libvirt.sh.
set -uo pipefail
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=tests/lib/result.sh
. "$top_srcdir/tests/lib/result.sh"
top_builddir=${top_builddir:-$top_srcdir/build}
HOOK=$top_builddir/virt-router-hook
if [[ ! -x $HOOK ]]; then
	echo "SKIP: $HOOK not built"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
cp -a "$top_srcdir/tests/data/sysroot/sriov" "$root"
mkdir -p "$root/proc/sys/kernel" "$root/sys/devices/system/cpu" "$root/run/libvirt/qemu"
echo 0-3 >"$root/sys/devices/system/cpu/online"
state=$tmp/state
conf=$tmp/host.conf
cat >"$conf" <<CONF
[host]
router-cpus=1-3
housekeeping-cpus=0
[profile edge]
placement=dedicated
cpus=3
[rule nova-edge]
nova-flavor=vr.edge.*
profile=edge
CONF
export VIRT_ROUTER_ROOT=$root VIRT_ROUTER_STATE_DIR=$state VIRT_ROUTER_CONFIG=$conf
export VIRT_ROUTER_NO_TUNER=1 VIRT_ROUTER_LOG=stderr

# hook NAME OP XMLFILE: runs it; sets rc, out, err
hook() {
	"$HOOK" "$1" "$2" begin - <"$3" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}
expect() { # DESC RC [STDERR-SUBSTRING]
	if [[ $rc -eq $2 && ( -z ${3:-} || $err == *"$3"* ) ]]; then
		pass "$1"
	else
		fail "$1 (exit $rc, expected $2${3:+, stderr with '$3'})"
		sed 's/^/  | /' "$tmp/err"
	fi
}
ledger_domains() { python3 -c 'import json,sys; print(" ".join(sorted(d["domain"] for d in json.load(open(sys.argv[1]))["domains"])))' "$state/ledger" 2>/dev/null; }

domain() { # NAME POLICY-INNER [DEVICES] [VCPUS]
	cat >"$tmp/$1.xml" <<XML
<domain type='kvm'>
  <name>$1</name>
  <vcpu>${4:-1}</vcpu>
  <metadata>
    <vr:router xmlns:vr='urn:virt-router:1'>
$2
    </vr:router>
  </metadata>
  <devices>
${3:-}
  </devices>
</domain>
XML
}
# applied NAME: $tmp/NAME.xml as `virt-router apply` makes it for this host, so prepare
# finds its definition honouring its policy (the drift check)
applied() {
	"${VIRT_ROUTER:-$top_builddir/virt-router}" apply --config "$conf" --sysroot "$root" -o "$tmp/$1.xml" "$tmp/$1.xml" ||
		fail "virt-router apply of $1"
}

printf "<domain type='kvm'><name>web</name><devices/></domain>\n" >"$tmp/web.xml"
hook web prepare "$tmp/web.xml"
expect "a domain without policy: exit 0" 0
[[ -z $out && -z $err && ! -e $state/ledger ]] && pass "a domain without policy: no output, nothing written" || fail "non-router left traces"
# Run by hand without libvirt's arguments: the usage error its man page documents.
"$HOOK" </dev/null >"$tmp/out" 2>"$tmp/err"
rc=$? err=$(cat "$tmp/err")
expect "no arguments: usage error, exit 2" 2 "expected DOMAIN OPERATION SUB-OPERATION"

domain vr1 "      <vr:cpu placement='dedicated' cpus='1-2'/>
      <vr:port name='wan' mode='macvtap' dev='eth0'/>" "" 2
applied vr1
hook vr1 prepare "$tmp/vr1.xml"
expect "prepare of a router reserves" 0 "reserved dedicated CPUs 1-2"
[[ $(ledger_domains) == vr1 ]] && pass "ledger holds vr1" || fail "ledger: '$(ledger_domains)'"

domain vr2 "      <vr:cpu placement='dedicated' cpus='2'/>
      <vr:port name='wan' mode='macvtap' dev='eth1'/>"
applied vr2
hook vr2 prepare "$tmp/vr2.xml"
expect "a second router cannot take a reserved CPU" 1 "domain 'vr2': dedicated CPUs 2 overlap CPUs 1-2 reserved by running router 'vr1'"
# An error reaches each channel once: libvirt shows a failing hook's stderr, so the
# message is there once (even with the log on stderr too), and not logged a second time.
n=$(grep -c "overlap CPUs 1-2 reserved by running router 'vr1'" "$tmp/err")
[[ $n == 1 ]] && pass "a failing operation's error is on stderr once" || fail "the error is on stderr $n times"
# Dedicated without cpus= takes [host] router-cpus (1-3 here): the refusal says that the
# CPUs came from the host config, and from which file.
domain vr3 "      <vr:cpu placement='dedicated'/>
      <vr:port name='wan' mode='macvtap' dev='eth1'/>"
applied vr3
hook vr3 prepare "$tmp/vr3.xml"
expect "a refusal over CPUs from the pool names [host] router-cpus and the file" 1 \
	"domain 'vr3': dedicated CPUs 1-3 overlap CPUs 1-2 reserved by running router 'vr1' (its cpus are [host] router-cpus=1-3 of $conf: expected cpus= of its own in <vr:cpu>)"
printf '[host]\nrouter-cpus=banana\n' >"$tmp/bad.conf"
VIRT_ROUTER_CONFIG=$tmp/bad.conf hook vr2 prepare "$tmp/vr2.xml"
expect "a broken host config fails prepare" 1 "virt-router-hook: domain 'vr2': "
n=$(grep -c "domain 'vr2': " "$tmp/err")
[[ $n == 1 ]] && pass "the host config error is on stderr once" || fail "the host config error is on stderr $n times"
# An operation libvirt cannot stop exits 0 and libvirt drops its stderr: the error goes
# to the log only (here the log is stderr: once, as the log's line; with the log in
# syslog, stderr stays empty).
VIRT_ROUTER_CONFIG=$tmp/bad.conf hook vr2 release "$tmp/vr2.xml"
expect "a broken host config does not fail release" 0 "virt-router-hook: domain 'vr2': "
n=$(grep -c "domain 'vr2': " "$tmp/err")
[[ $n == 1 ]] && pass "release's error is logged once" || fail "release's error: $n lines"
VIRT_ROUTER_CONFIG=$tmp/bad.conf VIRT_ROUTER_LOG= hook vr2 release "$tmp/vr2.xml"
[[ $rc == 0 && -z $err ]] && pass "release's error is logged, not printed" || fail "release printed: $err"
# One prefix, the program's name, on every line the hook writes: refusals and log alike.
VIRT_ROUTER_CONFIG=$tmp/bad.conf hook vr2 prepare "$tmp/vr2.xml"
[[ -n $err && -z $(grep -v '^virt-router-hook: ' "$tmp/err") ]] && pass "every stderr line starts with virt-router-hook:" ||
	fail "stderr lines without virt-router-hook:"
[[ $(ledger_domains) == vr1 ]] && pass "nothing reserved for the refused router" || fail "ledger: '$(ledger_domains)'"

hook vr1 release "$tmp/vr1.xml"
expect "release" 0
[[ -z $(ledger_domains) ]] && pass "ledger empty after release" || fail "ledger: '$(ledger_domains)'"

# A policy attached with `virsh metadata ... --set`, in the two shapes libvirt 9.0 stores
# (tests/data/xml/libvirt-metadata-*.xml), applied for this host: the front must pass it
# on, the full hook find it.
for shape in set default-ns; do
	sed -e 's/cpus="2"/cpus="1-2"/' "$top_srcdir/tests/data/xml/libvirt-metadata-$shape.xml" |
		"$top_builddir/virt-router" apply --config "$conf" - >"$tmp/lv-$shape.xml"
	hook vr1 prepare "$tmp/lv-$shape.xml"
	expect "a policy stored by virsh metadata --set ($shape) reaches the hook" 0
	[[ $(ledger_domains) == vr1 ]] && pass "ledger holds vr1 ($shape)" || fail "ledger after prepare ($shape): '$(ledger_domains)'"
	hook vr1 release "$tmp/lv-$shape.xml"
done
hook vr2 prepare "$tmp/vr2.xml"
expect "the CPU is free again once released" 0
hook vr2 release "$tmp/vr2.xml"

# bad input
head -c 200 "$tmp/vr1.xml" >"$tmp/trunc.xml"
hook vr1 prepare "$tmp/trunc.xml"
expect "truncated XML fails prepare with a message" 1 "not well-formed XML"
hook vr1 release "$tmp/trunc.xml"
expect "truncated XML does not fail release (libvirt cannot stop a release)" 0
# A NUL byte and UTF-16 (issue 15): libvirt hands hooks its XML as a C string in UTF-8, so
# neither comes from it. The front (which reads bytes) and the full hook (which the front
# hands it to) refuse both alike, where the full hook used to stop its search at the NUL
# and exit 0 with nothing checked or reserved, and the front let UTF-16 by unseen.
FULL=$top_builddir/virt-router-hook-full
{ head -c 40 "$tmp/vr1.xml"; printf '\0'; tail -c +41 "$tmp/vr1.xml"; } >"$tmp/nul.xml"
iconv -f UTF-8 -t UTF-16 "$tmp/vr1.xml" >"$tmp/utf16.xml"
sed "1s/^/<?xml version='1.0' encoding='ISO-8859-1'?>\n/" "$tmp/vr1.xml" >"$tmp/latin1.xml"
for bin in "$HOOK" "$FULL"; do
	b=${bin##*/}
	for input in nul utf16; do
		"$bin" vr1 prepare begin - <"$tmp/$input.xml" >"$tmp/out" 2>"$tmp/err"
		rc=$? err=$(cat "$tmp/err")
		expect "$b: $input input fails prepare" 1 "domain 'vr1': domain XML: a NUL byte at offset"
		"$bin" vr1 release end - <"$tmp/$input.xml" >"$tmp/out" 2>"$tmp/err"
		rc=$? err=$(cat "$tmp/err")
		expect "$b: $input input does not fail release" 0 "a NUL byte"
	done
	# without [rule] groups, the case where the full hook's search stopped at the NUL
	printf '[host]\nrouter-cpus=1-3\nhousekeeping-cpus=0\n' >"$tmp/norules.conf"
	VIRT_ROUTER_CONFIG=$tmp/norules.conf "$bin" vr1 prepare begin - <"$tmp/nul.xml" >"$tmp/out" 2>"$tmp/err"
	rc=$? err=$(cat "$tmp/err")
	expect "$b: nul input fails prepare with a host config without rules" 1 "a NUL byte at offset 40"
	"$bin" vr1 prepare begin - <"$tmp/latin1.xml" >"$tmp/out" 2>"$tmp/err"
	rc=$? err=$(cat "$tmp/err")
	expect "$b: a declared ISO-8859-1 encoding fails prepare" 1 "encoding 'ISO-8859-1' declared: expected a domain XML in UTF-8"
	[[ -z $(ledger_domains) ]] && pass "$b: nothing reserved for refused input" || fail "$b: nothing reserved for refused input ($(ledger_domains))"
done
sed "s/urn:virt-router:1/urn:virt-router:2/" "$tmp/vr1.xml" >"$tmp/v2.xml"
hook vr1 prepare "$tmp/v2.xml"
expect "unknown namespace version" 1 "is in namespace 'urn:virt-router:2': expected urn:virt-router:1"
domain bad "      <vr:cpu placement='dedicated' cpus='5-6'/>"
hook bad prepare "$tmp/bad.xml"
expect "impossible CPU set" 1 "cpus '5-6' reach outside the router pool"
domain pf9 "      <vr:port name='wan' mode='vf' pf='eth9'/>"
VIRT_ROUTER_ROOT=$root hook pf9 prepare "$tmp/pf9.xml"
expect "unknown PF" 1 "pf='eth9': no SR-IOV physical function"
domain nodev "      <vr:port name='wan' mode='macvtap' dev='eth7'/>"
hook nodev prepare "$tmp/nodev.xml"
expect "unknown macvtap parent" 1 "dev='eth7' is no network interface of this host"
hostdev() { # PCI
	local d=${1%%:*} rest=${1#*:}
	local b=${rest%%:*} sf=${rest#*:}
	printf "    <interface type='hostdev' managed='yes'>\n      <source><address type='pci' domain='0x%s' bus='0x%s' slot='0x%s' function='0x%s'/></source>\n      <alias name='ua-vr-wan'/>\n    </interface>\n" "$d" "$b" "${sf%%.*}" "${sf#*.}"
}
domain vfa "      <vr:port name='wan' mode='vf' pf='eth3'/>" "$(hostdev 0000:04:02.0)"
domain vfb "      <vr:port name='wan' mode='vf' pf='eth3'/>" "$(hostdev 0000:04:02.0)"
applied vfa
applied vfb
hook vfa prepare "$tmp/vfa.xml"
expect "a VF router reserves its VF" 0
hook vfb prepare "$tmp/vfb.xml"
expect "a VF in use is refused" 1 "VF 0000:04:02.0 is in use by running router 'vfa'"
hook vfa release "$tmp/vfa.xml"
# A VF the hook binds (managed='no') while vfio-pci is not loaded: the kernel takes
# driver_override and drivers_probe and binds nothing, so the VF would lose its driver
# for none (found by tests/lab/test-lab-vf.sh on 6.12). Refused before any write.
domain vfn "      <vr:port name='wan' mode='vf' pf='eth3'/>" "$(hostdev 0000:04:02.0)"
applied vfn
sed -i "s/managed='yes'/managed='no'/" "$tmp/vfn.xml"
vfdir=$root/sys/bus/pci/devices/0000:04:02.0
mv "$root/sys/bus/pci/drivers/vfio-pci" "$tmp/vfio-pci.away"
hook vfn prepare "$tmp/vfn.xml"
expect "managed='no' VF without vfio-pci loaded: refused" 1 "VF 0000:04:02.0 cannot be bound to vfio-pci: the vfio-pci driver is not loaded"
[[ ! -e $vfdir/driver_override && -z $(ledger_domains) ]] && pass "nothing written, nothing reserved for it" ||
	fail "driver_override written or VF reserved ($(ledger_domains)) though vfio-pci is absent"
mv "$tmp/vfio-pci.away" "$root/sys/bus/pci/drivers/vfio-pci"
: >"$vfdir/driver_override"
: >"$root/sys/bus/pci/drivers/iavf/unbind"
: >"$root/sys/bus/pci/drivers_probe"
hook vfn prepare "$tmp/vfn.xml"
expect "managed='no' VF with vfio-pci loaded: bound" 0 "VF 0000:04:02.0 bound to vfio-pci"
[[ $(cat "$vfdir/driver_override") == vfio-pci ]] && pass "its driver_override is vfio-pci" || fail "driver_override: '$(cat "$vfdir/driver_override")'"
hook vfn release "$tmp/vfn.xml"
rm -f "$vfdir/driver_override" "$root/sys/bus/pci/drivers/iavf/unbind" "$root/sys/bus/pci/drivers_probe"

cp "$state/ledger" "$tmp/ledger.good" 2>/dev/null || true
echo '{"version": 1, "domains": [' >"$state/ledger"
hook vr1 prepare "$tmp/vr1.xml"
expect "corrupt ledger" 1 "ledger $state/ledger is corrupt"
[[ $(cat "$state/ledger") == '{"version": 1, "domains": [' ]] && pass "a corrupt ledger is left for the operator, not overwritten" || fail "corrupt ledger was changed"
rm -f "$state/ledger"

VIRT_ROUTER_STATE_DIR=$tmp/ledger.good/not-a-dir hook vr1 prepare "$tmp/vr1.xml"
expect "unwritable state directory" 1 "cannot create state directory"
if mkdir -p "$tmp/ro" && mount --bind "$tmp/ro" "$tmp/ro" 2>/dev/null && mount -o remount,bind,ro "$tmp/ro" 2>/dev/null; then
	VIRT_ROUTER_STATE_DIR=$tmp/ro hook vr1 prepare "$tmp/vr1.xml"
	expect "read-only /run" 1 "read-only file system"
	umount "$tmp/ro"
else
	echo "# no bind mounts here: read-only state dir case covered by the unwritable one"
fi

# Names used as paths (issue 15 kind 1): a router's name names its state files and
# libvirt's pid file of it, a device's name its sysfs directory. A hostile one is
# refused before any path is made of it: start writes, and release deletes, nothing
# outside the state directory.
mkdir -p "$tmp/victim" "$root/sys/class/net/macvtap9"
echo 500 >"$root/sys/class/net/macvtap9/tx_queue_len"
macvtap9="    <interface type='direct'>
      <source dev='eth0' mode='bridge'/>
      <target dev='macvtap9'/>
      <alias name='ua-vr-wan'/>
    </interface>"
long=$(printf 'n%.0s' {1..300})
for name in ../victim/x .. a/b "$long"; do
	label=${name:0:20}
	cat >"$tmp/hostile.xml" <<XML
<domain type='kvm'>
  <name>$name</name>
  <vcpu>1</vcpu>
  <metadata>
    <vr:router xmlns:vr='urn:virt-router:1'>
      <vr:port name='wan' mode='macvtap' dev='eth0' queue='35'/>
    </vr:router>
  </metadata>
  <devices>
$macvtap9
  </devices>
</domain>
XML
	echo keep >"$tmp/victim/x.hook.json"
	for op in prepare start started; do
		hook "$name" $op "$tmp/hostile.xml"
		expect "a router named '$label': $op refused, naming the rule" 1 "expected at most 237 bytes, no '/', not '.' or '..'"
	done
	hook "$name" release "$tmp/hostile.xml"
	[[ $(cat "$tmp/victim/x.hook.json" 2>/dev/null) == keep && $(ls "$tmp/victim") == x.hook.json && ! -e $tmp/x.hook.json ]] &&
		pass "a router named '$label': nothing written or removed outside the state directory" ||
		fail "a router named '$label': $(ls "$tmp/victim" "$tmp" | tr '\n' ' ')"
	[[ $(cat "$root/sys/class/net/macvtap9/tx_queue_len") == 500 ]] && pass "a router named '$label': no host change" ||
		fail "a router named '$label': queue length changed"
done
# The name libvirt passes in argv is the one it acts on: an XML naming another is refused.
domain argv1 "      <vr:port name='wan' mode='macvtap' dev='eth0' queue='35'/>" "$macvtap9"
hook argv2 start "$tmp/argv1.xml"
expect "a <name> that differs from libvirt's argument is refused, naming both" 1 \
	"domain 'argv2': libvirt runs the hook for domain 'argv2' but the XML it passes names domain 'argv1' in <name>: expected the same name"
[[ ! -e $state/argv1.hook.json && ! -e $state/argv2.hook.json && $(cat "$root/sys/class/net/macvtap9/tx_queue_len") == 500 ]] &&
	pass "... and nothing changed" || fail "a mismatched name made changes"
# A device name from the XML becomes sys/class/net/NAME.
sed "s|<target dev='macvtap9'/>|<target dev='../../../victim'/>|" "$tmp/argv1.xml" >"$tmp/devname.xml"
hook argv1 start "$tmp/devname.xml"
expect "a device name with a '/' is refused" 1 "domain 'argv1': port 'wan': device name '../../../victim' contains '/': expected a network interface name"

sed "s|<vr:router xmlns:vr='urn:virt-router:1'>|<vr:router xmlns:vr='urn:virt-router:1' mode='best-effort'>|" "$tmp/bad.xml" >"$tmp/bad-be.xml"
hook bad prepare "$tmp/bad-be.xml"
expect "policy errors fail even best-effort routers (the XML itself is wrong)" 1
sed "s|<vr:router xmlns:vr='urn:virt-router:1'>|<vr:router xmlns:vr='urn:virt-router:1' mode='best-effort'>|" "$tmp/nodev.xml" >"$tmp/nodev-be.xml"
hook nodev prepare "$tmp/nodev-be.xml"
expect "a best-effort router starts without what the host lacks" 0 "best-effort: starting without it"

unset VIRT_ROUTER_NO_TUNER
VIRT_ROUTER_TUNE=$tmp/no-such-tuner hook vr1 started "$tmp/vr1.xml"
expect "a tuner that cannot start fails 'started' with the reason" 1 "cannot run $tmp/no-such-tuner"
export VIRT_ROUTER_NO_TUNER=1

# reconnect (libvirtd restarted): the running domain's pid goes into the ledger, so a
# later reclaim knows it alive
rm -f "$state/ledger"
hook vr1 prepare "$tmp/vr1.xml"
echo $$ >"$root/run/libvirt/qemu/vr1.pid"
hook vr1 reconnect "$tmp/vr1.xml"
expect "reconnect" 0
pid_in_ledger=$(python3 -c 'import json,sys; print([d["pid"] for d in json.load(open(sys.argv[1]))["domains"] if d["domain"] == "vr1"][0])' "$state/ledger" 2>/dev/null)
[[ $pid_in_ledger == "$$" ]] && pass "reconnect records the domain's pid in the ledger" || fail "ledger pid '$pid_in_ledger', expected $$"
rm -f "$root/run/libvirt/qemu/vr1.pid"
hook vr1 release "$tmp/vr1.xml"

# A stale tuner pid file naming a live unrelated process (issue 15 kind 2): stopped
# must not signal it, reconnect must still start a tuner. The process is a real sleep;
# its stat under the root prefix says what the hook sees of it.
fake_stat() { # PID COMM START
	mkdir -p "$root/proc/$1"
	printf '%s (%s) S 1 %s %s 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 %s 3133440 396 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n' \
		"$1" "$2" "$1" "$1" "$3" >"$root/proc/$1/stat"
}
cat >"$tmp/fake-tune" <<SH
#!/bin/sh
echo started >"$tmp/tuner-started"
SH
chmod +x "$tmp/fake-tune"
for form in "the pid alone (an older file)" "another start time"; do
	sleep 300 &
	victim=$!
	fake_stat "$victim" sleep 5000
	pidfile=$victim
	[[ $form == another* ]] && pidfile=$(printf '%s\n4000' "$victim")
	printf '%s\n' "$pidfile" >"$state/vr1.tuner.pid"
	hook vr1 stopped "$tmp/vr1.xml"
	# A signalled child stays a zombie until waited for: its state says whether it died.
	[[ $(cut -d' ' -f3 "/proc/$victim/stat" 2>/dev/null) == [SR] ]] &&
		pass "stale pid file ($form): stopped signals no unrelated process" ||
		fail "stale pid file ($form): stopped killed pid $victim"
	rm -f "$tmp/tuner-started"
	printf '%s\n' "$pidfile" >"$state/vr1.tuner.pid"
	unset VIRT_ROUTER_NO_TUNER
	VIRT_ROUTER_TUNE=$tmp/fake-tune hook vr1 reconnect "$tmp/vr1.xml"
	export VIRT_ROUTER_NO_TUNER=1
	[[ $rc == 0 && -e $tmp/tuner-started ]] && pass "stale pid file ($form): reconnect starts a tuner" ||
		fail "stale pid file ($form): reconnect started no tuner (exit $rc)"
	kill "$victim" 2>/dev/null
	wait "$victim" 2>/dev/null
	rm -rf "$root/proc/$victim"
done
# Its own tuner, by pid and start time: stopped signals it.
sleep 300 &
victim=$!
fake_stat "$victim" sleep 5000
printf '%s\n5000\n' "$victim" >"$state/vr1.tuner.pid"
hook vr1 stopped "$tmp/vr1.xml"
expect "stopped stops the tuner its pid file names" 0 "stopped: tuner stopped"
wait "$victim" 2>/dev/null
[[ $? == 143 ]] && pass "... with SIGTERM" || { fail "the tuner was not signalled"; kill "$victim" 2>/dev/null; }
rm -rf "$root/proc/$victim" "$state/vr1.tuner.pid" "$tmp/tuner-started"

# reclaim: an entry whose process is gone does not block
cat >"$state/ledger" <<'JSON'
{"version": 1, "domains": [{"domain": "ghost", "driver": "qemu", "pid": 999999, "since_us": 0, "cpus": "1-2", "vfs": [], "deadline_ppm": {}}]}
JSON
hook vr1 prepare "$tmp/vr1.xml"
expect "entries of dead domains are reclaimed" 0 "reclaimed the reservations of domain 'ghost'"
[[ $(ledger_domains) == vr1 ]] && pass "ghost gone, vr1 reserved" || fail "ledger: '$(ledger_domains)'"

# start: the macvtap's queue length (paper 002: 35-50 packets under overload)
mkdir -p "$root/sys/class/net/macvtap7"
echo 500 >"$root/sys/class/net/macvtap7/tx_queue_len"
domain q "      <vr:port name='wan' mode='macvtap' dev='eth0' queue='35'/>" "    <interface type='direct'>
      <source dev='eth0' mode='bridge'/>
      <target dev='macvtap7'/>
      <alias name='ua-vr-wan'/>
    </interface>"
hook q start "$tmp/q.xml"
expect "start sets the macvtap queue length" 0 "macvtap7 queue 500 -> 35 packets"
[[ $(cat "$root/sys/class/net/macvtap7/tx_queue_len") == 35 ]] && pass "tx_queue_len is 35" || fail "tx_queue_len $(cat "$root/sys/class/net/macvtap7/tx_queue_len")"
[[ -e $state/q.hook.json ]] && pass "host changes recorded for undo" || fail "no record of host changes"
hook q stopped "$tmp/q.xml"
[[ ! -e $state/q.hook.json ]] && pass "stopped undoes and forgets the changes" || fail "record left after stopped"

# A full state file system (issue 15 kind 3): a change whose undo cannot be recorded is
# not made. Strict fails start; best-effort warns and starts without it.
echo 500 >"$root/sys/class/net/macvtap7/tx_queue_len"
mkdir -p "$tmp/full"
if mount -t tmpfs -o size=16k tmpfs "$tmp/full" 2>/dev/null; then
	dd if=/dev/zero of="$tmp/full/fill" bs=1k count=64 2>/dev/null
	VIRT_ROUTER_STATE_DIR=$tmp/full hook q start "$tmp/q.xml"
	expect "a full state file system: strict start fails" 1 "domain 'q': port 'wan': cannot set the queue length of macvtap7 to 35: not made, its undo cannot be recorded: domain 'q': cannot write $tmp/full/q.hook.json: No space left on device"
	[[ $(cat "$root/sys/class/net/macvtap7/tx_queue_len") == 500 ]] && pass "... and the queue stays 500" ||
		fail "full state fs, strict: queue $(cat "$root/sys/class/net/macvtap7/tx_queue_len")"
	sed "s|<vr:router xmlns:vr='urn:virt-router:1'>|<vr:router xmlns:vr='urn:virt-router:1' mode='best-effort'>|" "$tmp/q.xml" >"$tmp/q-be.xml"
	VIRT_ROUTER_STATE_DIR=$tmp/full hook q start "$tmp/q-be.xml"
	expect "a full state file system: best-effort start warns and goes on" 0 "not made, its undo cannot be recorded: domain 'q': cannot write $tmp/full/q.hook.json: No space left on device (best-effort: starting without it)"
	[[ $(cat "$root/sys/class/net/macvtap7/tx_queue_len") == 500 ]] && pass "... and the queue stays 500" ||
		fail "full state fs, best-effort: queue $(cat "$root/sys/class/net/macvtap7/tx_queue_len")"
	[[ $(ls -A "$tmp/full") == fill ]] && pass "... and no temporary file is left" || fail "full state fs: $(ls -A "$tmp/full")"
	umount "$tmp/full"
else
	echo "SKIP: a full state file system: cannot mount a tmpfs here (not root?); test-hook-plan's journal-unwritable-* cover it"
fi

# start: the host policer of a guarantee, on the macvtap (a fake tc records what runs)
cat >"$tmp/tc" <<'SH'
#!/bin/sh
echo "$*" >>"$TC_LOG"
case "$*" in *"$FAKE_TC_FAIL"*) [ -n "$FAKE_TC_FAIL" ] && { echo "Error: TC classifier not found." >&2; exit 2; } ;; esac
exit 0
SH
chmod +x "$tmp/tc"
export VIRT_ROUTER_TC=$tmp/tc TC_LOG=$tmp/tc.log
mkdir -p "$root/sys/class/net/macvtap8"
echo 500 >"$root/sys/class/net/macvtap8/tx_queue_len"
macvtap8="    <interface type='direct'>
      <source dev='eth0' mode='bridge'/>
      <target dev='macvtap8'/>
      <alias name='ua-vr-wan'/>
    </interface>"
domain gp "      <vr:guarantee rate='10kpps' burst='200' delay='50ms'/>
      <vr:port name='wan' mode='macvtap' dev='eth0'/>" "$macvtap8"
: >"$TC_LOG"
hook gp start "$tmp/gp.xml"
expect "start installs the host policer" 0 "port 'wan': host policer on macvtap8: 10000 pps, bucket 200 packets"
if diff -u "$top_srcdir/tests/data/hook/host-police.expected" "$TC_LOG" >"$tmp/diff"; then
	pass "host policer: the tc commands of tests/data/hook/host-police.expected"
else
	fail "host policer: tc commands differ"; sed 's/^/  | /' "$tmp/diff"
fi
: >"$TC_LOG"
hook gp stopped "$tmp/gp.xml"
[[ $(cat "$TC_LOG") == "qdisc del dev macvtap8 clsact" ]] && pass "stopped removes the policer from a macvtap still there" || fail "stopped ran: $(cat "$TC_LOG")"
: >"$TC_LOG"
FAKE_TC_FAIL=matchall hook gp start "$tmp/gp.xml"
expect "a kernel without the policer: start goes on, with a warning" 0 "no host policer on macvtap8: 'tc filter add dev macvtap8 ingress pref 1 protocol arp matchall action ok' failed: Error: TC classifier not found.; the guest polices"
[[ $(tail -1 "$TC_LOG") == "qdisc del dev macvtap8 clsact" ]] && pass "a half-installed policer is removed" || fail "after a failure tc ran: $(cat "$TC_LOG")"
# The journal keeps only what stayed in: nothing of a policer that failed.
[[ -e $state/gp.hook.json ]] && ! grep -q 'clsact\|matchall' "$state/gp.hook.json" && pass "nothing recorded for a policer that failed" || fail "record: $(cat "$state/gp.hook.json")"
hook gp stopped "$tmp/gp.xml"
sed -i "s|<target dev='macvtap8'/>|<target dev='macvtap8'/><bandwidth><inbound average='1000'/></bandwidth>|" "$tmp/gp.xml"
: >"$TC_LOG"
hook gp start "$tmp/gp.xml"
expect "libvirt's <bandwidth> keeps the device's qdiscs" 0 "its <bandwidth> owns the qdiscs there"
[[ ! -s $TC_LOG ]] && pass "no tc run beside <bandwidth>" || fail "tc ran: $(cat "$TC_LOG")"
hook gp stopped "$tmp/gp.xml"
unset VIRT_ROUTER_TC

# migrate/restore: a filter that changes only what belongs to this host (a VF port's
# source address, a macvtap's host device, existing CPU pins) and prints nothing when
# nothing does. libvirt checks its output for guest-ABI stability: never a device
# added, removed or re-modelled.
# only_lines_changed IN OUT PATTERN: the diff of IN and OUT is lines matching PATTERN only
only_lines_changed() {
	local d
	d=$(diff "$1" "$2" | grep '^[<>]' | grep -Ev "$3")
	[[ -z $d ]] || { echo "$d" | sed 's/^/  | /'; return 1; }
}
domain mig "      <vr:port name='wan' mode='vf' pf='eth2'/>
      <vr:strip devices='usb graphics video memballoon'/>" "    <controller type='usb' model='piix3-uhci'/>
    <graphics type='vnc'/>
    <video><model type='virtio'/></video>
    <memballoon model='virtio'/>"
applied mig
# As the source host wrote it: its own VF of its own PF.
sed "s|bus='0x03' slot='0x10' function='0x0'|bus='0x81' slot='0x02' function='0x3'|" "$tmp/mig.xml" >"$tmp/mig-other.xml"
"$HOOK" mig migrate begin - <"$tmp/mig-other.xml" >"$tmp/mig.out" 2>"$tmp/err"
rc=$?
if ((rc == 0)) && grep -q "address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x0'" "$tmp/mig.out" &&
	only_lines_changed "$tmp/mig-other.xml" "$tmp/mig.out" "<address type='pci' domain='0x0000' bus='0x(81|03)'"; then
	pass "migrate gives the VF port one of this host's VFs, and changes nothing else"
else
	fail "migrate of another host's VF: exit $rc"; sed 's/^/  | /' "$tmp/err" "$tmp/mig.out"
fi
"$HOOK" mig restore begin - <"$tmp/mig.out" >"$tmp/mig2.out" 2>"$tmp/err"
[[ $? -eq 0 && ! -s $tmp/mig2.out ]] && pass "restore prints nothing when nothing changes" || fail "restore of an applied XML printed something"
# A VF another router holds here is not given to the incoming one: a second VF port
# router on eth2 (its VF 03:10.0 reserved in its own state dir), then mig arrives with
# another host's VF and gets the next free one.
domain other "      <vr:port name='wan' mode='vf' pf='eth2'/>"
applied other
VIRT_ROUTER_STATE_DIR=$tmp/held-state hook other prepare "$tmp/other.xml"
expect "a router holding VF 03:10.0 is reserved" 0
VIRT_ROUTER_STATE_DIR=$tmp/held-state "$HOOK" mig migrate begin - <"$tmp/mig-other.xml" >"$tmp/mig-held.out" 2>"$tmp/err"
rc=$?
if ((rc == 0)) && ! grep -q "bus='0x03' slot='0x10' function='0x0'" "$tmp/mig-held.out" &&
	grep -q "<address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x[246]'" "$tmp/mig-held.out"; then
	pass "migrate never gives a port a VF another router holds here: the next free one"
else
	fail "migrate with VF 03:10.0 held: exit $rc"; sed 's/^/  | /' "$tmp/err" "$tmp/mig-held.out"
fi
# Nova's instance with a profile that strips devices: the running guest has them.
for op in migrate restore; do
	VIRT_ROUTER_CONFIG=$top_srcdir/tests/data/hook/realworld-migrate-strips-devices.conf VIRT_ROUTER_STATE_DIR=$tmp/rw-state \
		"$HOOK" instance-0000000e $op begin - <"$top_srcdir/tests/data/hook/realworld-migrate-strips-devices.xml" \
		>"$tmp/rw.out" 2>"$tmp/err"
	rc=$?
	[[ $rc -eq 0 && ! -s $tmp/rw.out ]] && pass "$op keeps a stripping profile's devices (realworld-migrate-strips-devices)" ||
		{ fail "$op of realworld-migrate-strips-devices: exit $rc, output:"; sed 's/^/  | /' "$tmp/err" "$tmp/rw.out"; }
done
# A macvtap port on a host whose interface is named differently, pinned elsewhere.
domain migm "      <vr:cpu placement='dedicated' cpus='2'/>
      <vr:port name='wan' mode='macvtap' dev='eth1'/>"
applied migm
sed "s|<source dev='eth1'|<source dev='ens1f0'|; s|<vcpupin vcpu='0' cpuset='2'/>|<vcpupin vcpu='0' cpuset='7'/>|" \
	"$tmp/migm.xml" >"$tmp/migm-other.xml"
"$HOOK" migm migrate begin - <"$tmp/migm-other.xml" >"$tmp/migm.out" 2>"$tmp/err"
rc=$?
if ((rc == 0)) && grep -q "<source dev='eth1'" "$tmp/migm.out" && grep -q "<vcpupin vcpu='0' cpuset='2'/>" "$tmp/migm.out" &&
	only_lines_changed "$tmp/migm-other.xml" "$tmp/migm.out" "<source dev='(eth1|ens1f0)'|<vcpupin vcpu='0' cpuset='[27]'/>"; then
	pass "migrate sets the macvtap's host device and the pin, nothing else"
else
	fail "migrate of a macvtap router: exit $rc"; sed 's/^/  | /' "$tmp/err" "$tmp/migm.out"
fi
# A router never applied: the guest has no port device, and gets none on the way.
domain mign "      <vr:port name='wan' mode='vf' pf='eth2'/>"
"$HOOK" mign migrate begin - <"$tmp/mign.xml" >"$tmp/mign.out" 2>"$tmp/err"
[[ $? -eq 0 && ! -s $tmp/mign.out ]] && pass "migrate adds no device the guest does not have" ||
	{ fail "migrate of an unapplied router printed:"; sed 's/^/  | /' "$tmp/mign.out"; }
"$HOOK" web migrate begin - <"$tmp/web.xml" >"$tmp/web.out" 2>&1
[[ $? -eq 0 && ! -s $tmp/web.out ]] && pass "migrate of a non-router prints nothing" || fail "migrate of a non-router"
# Domains of other drivers and shapes without router policy pass whatever the host
# config's rules (this one has a rule, so the front hands every domain on).
for other in not-a-router-xen not-a-router-test-driver not-a-router-no-devices not-a-router-no-name; do
	for op in migrate restore prepare; do
		"$HOOK" other "$op" begin - <"$top_srcdir/tests/data/xml/$other.xml" >"$tmp/other.out" 2>"$tmp/other.err"
		rc=$?
		if [[ $rc -eq 0 && ! -s $tmp/other.out && ! -s $tmp/other.err ]]; then
			pass "$other: $op exits 0 and prints nothing"
		else
			fail "$other: $op (exit $rc)"; sed 's/^/  | /' "$tmp/other.out" "$tmp/other.err"
		fi
	done
done

# Drift: a policy added with `virsh edit` and never applied. The definition keeps its
# e1000 NIC and its old pin; prepare refuses in one line naming what differs and the fix,
# and reserves nothing. stderr is what `virsh start` shows (the log goes to syslog here).
rm -f "$state/ledger"
domain drift1 "      <vr:cpu placement='dedicated' cpus='1-2'/>
      <vr:port name='wan' mode='macvtap' dev='eth1' macvtap-mode='passthrough'/>" "    <interface type='network'>
      <source network='default'/>
      <model type='e1000'/>
    </interface>" 2
sed -i "s|<vcpu>2</vcpu>|<vcpu>2</vcpu>\n  <cputune><vcpupin vcpu='0' cpuset='0-3'/></cputune>|" "$tmp/drift1.xml"
VIRT_ROUTER_LOG= hook drift1 prepare "$tmp/drift1.xml"
expect "strict: a definition that does not honour its policy fails prepare" 1
refusal="virt-router-hook: domain 'drift1': its definition does not honour its router policy: port 'wan' has no device, the policy says <interface type='direct'> on eth1 in mode passthrough; vcpu 0 is pinned to 0-3, the policy says 1; vcpu 1 is not pinned, the policy says 2; the emulator is not pinned, the policy says 0; the guest configuration (<sysinfo type='fwcfg'> entry opt/org.virt-router/config) is missing: run 'virt-router apply --domain drift1' and start it again (a transient domain: apply its XML file with 'virt-router apply FILE' before virsh create)"
if [[ $err == "$refusal" ]]; then
	pass "the refusal is one line: what differs, and the command that fixes it"
else
	fail "refusal differs"; printf '  | expected: %s\n  | got:      %s\n' "$refusal" "$err"
fi
[[ -z $(ledger_domains) ]] && pass "nothing reserved for the refused router" || fail "ledger: '$(ledger_domains)'"
sed "s|<vr:router xmlns:vr='urn:virt-router:1'>|<vr:router xmlns:vr='urn:virt-router:1' mode='best-effort'>|" "$tmp/drift1.xml" >"$tmp/drift1-be.xml"
hook drift1 prepare "$tmp/drift1-be.xml"
expect "best-effort: it starts, with the differences logged" 0 "domain 'drift1': its definition does not honour its router policy: port 'wan' has no device, the policy says <interface type='direct'> on eth1 in mode passthrough; vcpu 0 is pinned to 0-3"
[[ $err == *"run 'virt-router apply --domain drift1' and restart it (best-effort: starting it as defined)"* ]] && pass "the warning names the fix" || fail "warning: $err"
[[ $(ledger_domains) == drift1 ]] && pass "a best-effort router with drift is reserved" || fail "ledger: '$(ledger_domains)'"
hook drift1 release "$tmp/drift1-be.xml"
applied drift1
hook drift1 prepare "$tmp/drift1.xml"
expect "once applied it is reserved" 0 "reserved dedicated CPUs 1-2"
[[ $err != *"does not honour"* ]] && pass "an applied router shows no drift" || fail "drift after apply: $err"
hook drift1 release "$tmp/drift1.xml"
# A container's fix names its driver's URI (apply --domain defaults to qemu:///system).
VIRT_ROUTER_CONFIG=$top_srcdir/tests/data/drift/host.conf hook ct1 prepare "$top_srcdir/tests/data/drift/lxc-not-applied.xml"
expect "an LXC router's drift is refused too" 1 "domain 'ct1': its definition does not honour its router policy: port 'wan' has no device, the policy says <interface type='direct'> on eth1 in mode bridge; port 'lan' has no device, the policy says <hostdev type='net'> of enp3s16f0; the domain has no CPU shares, the policy says CPU shares 512; the domain's CPU set (<vcpu cpuset>) is not set, the policy says 1-2: run 'virt-router apply --domain ct1 -c lxc:///system' and start it again (a transient domain: apply its XML file with 'virt-router apply FILE' before virsh create)"
# The fix is for copy and paste: a name a shell would split is quoted for it.
domain "vr x'1" "      <vr:port name='wan' mode='macvtap' dev='eth1'/>"
VIRT_ROUTER_LOG= hook "vr x'1" prepare "$tmp/vr x'1.xml"
expect "strict: drift of a domain whose name needs quoting" 1 "domain 'vr x'1': its definition does not honour its router policy: "
[[ $err == *": run 'virt-router apply --domain 'vr x'\\''1'' and start it again (a transient domain: apply its XML file with 'virt-router apply FILE' before virsh create)" ]] &&
	pass "the fix quotes the name for a shell" || fail "quoted fix: $err"
cmd=${err#*: run \'}
cmd=${cmd%\' and start it again*}
eval "set -- $cmd"
[[ $# == 4 && $4 == "vr x'1" ]] && pass "the quoted command splits into the name as it is" || fail "the command splits into $# words: $cmd"
# The live XML libvirt hands over (ids, aliases, targets, PCI slots, metadata re-quoted
# and moved) of a router as apply made it: no drift.
VIRT_ROUTER_CONFIG=$top_srcdir/tests/data/drift/host.conf hook vr1 prepare "$top_srcdir/tests/data/drift/live-runtime-additions.xml"
expect "runtime additions in the live XML are no drift" 0 "reserved dedicated CPUs 2-3"
[[ $err != *"does not honour"* ]] && pass "... and no warning" || fail "drift in live XML: $err"
hook vr1 release "$top_srcdir/tests/data/drift/live-runtime-additions.xml"

# Nova: no policy in the XML, a host config rule binds the flavor to a profile
cat >"$tmp/nova.xml" <<'XML'
<domain type='kvm'>
  <name>instance-0000002a</name>
  <vcpu>1</vcpu>
  <metadata>
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:flavor name="vr.edge.small"><nova:vcpus>1</nova:vcpus></nova:flavor>
    </nova:instance>
  </metadata>
  <devices/>
</domain>
XML
rm -f "$state/ledger"
hook instance-0000002a prepare "$tmp/nova.xml"
expect "a Nova domain bound by a flavor rule is reserved" 0 "reserved dedicated CPUs 3"
# Its definition is Nova's, written again at every hard reboot: drift is a warning.
[[ $err == *"domain 'instance-0000002a': its definition does not honour the profile 'edge' that host config rule 'nova-edge' binds it to: vcpu 0 is not pinned, the policy says 3"* ]] &&
	pass "a rule-bound domain's drift is a warning, not a refusal" || fail "Nova domain: $err"
sed 's/vr.edge.small/m1.small/' "$tmp/nova.xml" >"$tmp/nova2.xml"
hook instance-0000002b prepare "$tmp/nova2.xml"
expect "a Nova domain of another flavor is left alone" 0
[[ $(ledger_domains) == instance-0000002a ]] && pass "only the bound Nova domain is in the ledger" || fail "ledger: '$(ledger_domains)'"

# A value from the host config that makes a policy invalid: prepare fails with the line
# `check` prints (what `virsh start` shows), naming the file, the [profile] or [rule]
# and the key. The cases are test-xml's whose every error comes from a host config; the
# hook runs in the source tree so that the file is named as in their .err files.
hook_abs=$(cd "$(dirname "$HOOK")" && pwd)/$(basename "$HOOK")
for conf_case in "$top_srcdir"/tests/data/xml/{err-profile-,err-host-,err-rule-,realworld-profile-}*.conf; do
	base=${conf_case%.conf}
	case_name=${base##*/}
	grep -qv '^tests/data/xml/' "$base.err" && continue # some errors are the domain's own: named by file:line
	dom=$(sed -n 's|.*<name>\(.*\)</name>.*|\1|p' "$base.xml" | head -n 1)
	# A config that does not load (a bad profile value) says so without the domain:
	# the hook names the domain it fails on each line.
	want=$(sed -e "/domain '/!s/^/domain '$dom': /" -e 's/^/virt-router-hook: /' "$base.err")
	( cd "$top_srcdir" && VIRT_ROUTER_CONFIG=tests/data/xml/$case_name.conf VIRT_ROUTER_LOG= \
		"$hook_abs" "$dom" prepare begin - <"$base.xml" >"$tmp/out" 2>"$tmp/err" )
	rc=$? err=$(cat "$tmp/err")
	if [[ $rc -eq 1 && $err == "$want" ]]; then
		pass "$case_name: prepare fails with check's line, naming the host config"
	else
		fail "$case_name: prepare (exit $rc)"; printf '  | expected: %s\n  | got:      %s\n' "$want" "$err"
	fi
done

# Routers bound by a [rule] to a dedicated profile without cpus= reserve per instance
# (issue 14 kind 2): the CPUs Nova pinned their vCPUs to, else a free CPU of the pool per
# vCPU; the tuner's spec pins to that. Instances of one flavor share the pool until it is
# full; the next is refused with the numbers.
rm -f "$state/ledger"
rwconf=$top_srcdir/tests/data/hook/realworld-rule-pool-overreserve.conf
rwxml=$top_srcdir/tests/data/hook/realworld-rule-pool-overreserve.xml
VIRT_ROUTER_CONFIG=$rwconf hook instance-00000001 prepare "$rwxml"
expect "realworld-rule-pool-overreserve: the first instance is reserved" 0
sed 's/instance-00000001/instance-00000002/; s/cpuset=.3./cpuset="4"/' "$rwxml" >"$tmp/rw2.xml"
VIRT_ROUTER_CONFIG=$rwconf hook instance-00000002 prepare "$tmp/rw2.xml"
expect "realworld-rule-pool-overreserve: the second instance of the flavor starts too" 0
ledger_cpus() { python3 -c 'import json,sys; print(" ".join("%s=%s" % (d["domain"], d["cpus"]) for d in sorted(json.load(open(sys.argv[1]))["domains"], key=lambda d: d["domain"])))' "$state/ledger" 2>/dev/null; }
[[ $(ledger_cpus) == "instance-00000001=3 instance-00000002=4" ]] && pass "each reserves the CPU Nova pinned it to" ||
	fail "ledger: '$(ledger_cpus)'"
VIRT_ROUTER_CONFIG=$rwconf hook instance-00000001 release "$rwxml"
VIRT_ROUTER_CONFIG=$rwconf hook instance-00000002 release "$tmp/rw2.xml"
rm -f "$state/ledger"
# pool_conf FILE CPUS: a host config binding Nova's vr.* flavors to a dedicated profile
# without cpus=, on the pool CPUS (CPU 0 for housekeeping)
pool_conf() {
	printf '[host]\nrouter-cpus=%s\nhousekeeping-cpus=0\n[profile edge]\nplacement=dedicated\n[rule nova-routers]\nnova-flavor=vr.*\nprofile=edge\n' \
		"$2" >"$1"
}
pool_conf "$tmp/pool3.conf" 1-3
for n in 1 2 3 4; do
	sed -e "s/instance-00000001/instance-0000010$n/" -e '/<vcpupin/d' "$rwxml" >"$tmp/pool$n.xml"
	VIRT_ROUTER_CONFIG=$tmp/pool3.conf hook "instance-0000010$n" prepare "$tmp/pool$n.xml"
	if ((n < 4)); then
		expect "one flavor, 1 vCPU, a pool of 3 CPUs: instance $n starts" 0
	else
		expect "the fourth instance is refused with the numbers" 1 "domain 'instance-00000104' (bound by [rule nova-routers] to [profile edge]): needs 1 dedicated CPU of router-cpus=1-3, 0 free; reserved: 1 by 'instance-00000101', 2 by 'instance-00000102', 3 by 'instance-00000103'"
	fi
done
[[ $(ledger_cpus) == "instance-00000101=1 instance-00000102=2 instance-00000103=3" ]] &&
	pass "three instances on three CPUs of the pool, nothing for the refused one" || fail "ledger: '$(ledger_cpus)'"
mkdir -p "$root/run/libvirt/qemu" "$root/proc/4242"
echo 4242 >"$root/run/libvirt/qemu/instance-00000102.pid"
# Its QEMU, running: the ledger keeps a reservation whose process lives.
echo '4242 (qemu-system-x86) S 1 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 100 3133440 396 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0' \
	>"$root/proc/4242/stat"
VIRT_ROUTER_CONFIG=$tmp/pool3.conf hook instance-00000102 started "$tmp/pool2.xml"
expect "started of the second instance" 0
spec_cpus=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["policy"]["cpu"]["cpus"])' "$state/instance-00000102.spec.json" 2>/dev/null)
[[ $spec_cpus == 2 ]] && pass "the tuner's spec pins the instance to its reserved CPU 2" || fail "spec cpus '$spec_cpus'"
VIRT_ROUTER_CONFIG=$tmp/pool3.conf hook instance-00000101 release "$tmp/pool1.xml"
VIRT_ROUTER_CONFIG=$tmp/pool3.conf hook instance-00000104 prepare "$tmp/pool4.xml"
expect "once one is released, the fourth starts on its CPU" 0
[[ $(ledger_cpus) == "instance-00000102=2 instance-00000103=3 instance-00000104=1" ]] && pass "the freed CPU 1 is the fourth's" ||
	fail "ledger: '$(ledger_cpus)'"
for n in 2 3 4; do VIRT_ROUTER_CONFIG=$tmp/pool3.conf hook "instance-0000010$n" release "$tmp/pool$n.xml"; done
rm -rf "$root/proc/4242" "$root/run/libvirt/qemu/instance-00000102.pid"

# A host config that does not load: a domain one of its rules binds cannot start (its
# policy is unknown), with the config's error; any other domain starts as it is.
nova_dom="<domain type='kvm'><name>instance-00000042</name><vcpu>1</vcpu><metadata><nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'><nova:flavor name='vr.small'/></nova:instance></metadata><devices/></domain>"
printf '%s\n' "$nova_dom" >"$tmp/nova42.xml"
good_rule='[profile p1]
placement=dedicated
[rule r1]
nova-flavor=vr.*
profile=p1'
i=0
for bad in "[host]\nmode=bogus" "[host]\ndefault-queue=abc" "[host]\ndeadline-cap=150%" "[host]\nrouter-cpus=2-x" \
	"[host]\nno-such-key=1" "[rule r2]\nname=x*\nprofile=missing" "[profile unused]\nqueue=0" "this is not a key file"; do
	i=$((i + 1))
	printf '%s\n%b\n' "$good_rule" "$bad" >"$tmp/broken$i.conf"
	VIRT_ROUTER_CONFIG=$tmp/broken$i.conf VIRT_ROUTER_LOG= hook instance-00000042 prepare "$tmp/nova42.xml"
	expect "broken host config $i: the Nova instance its rule binds fails prepare with the config's error" 1 "$tmp/broken$i.conf"
	VIRT_ROUTER_CONFIG=$tmp/broken$i.conf VIRT_ROUTER_LOG= hook web prepare "$tmp/web.xml"
	expect "broken host config $i: a domain no rule binds starts" 0
done

# Incoming rule-bound instances and the CPUs other routers hold (pool 2-4 here): a pin
# another router holds moves to a free CPU of the pool; a vCPU pinned to a range is no
# CPU of its own; a full pool refuses the migration with the numbers.
pool_conf "$tmp/pool24.conf" 2-4
inst() { # NAME VCPUS PINS...: a rule-bound Nova instance, each vCPU pinned as given
	local name=$1 vcpus=$2 pins="" i=0
	shift 2
	for c in "$@"; do pins="$pins<vcpupin vcpu='$i' cpuset='$c'/>"; i=$((i + 1)); done
	printf "<domain type='kvm'><name>%s</name><vcpu>%s</vcpu><metadata><nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'><nova:flavor name='vr.small'/></nova:instance></metadata><cputune>%s</cputune><devices/></domain>\n" \
		"$name" "$vcpus" "$pins" >"$tmp/$name.xml"
}
export VIRT_ROUTER_CONFIG=$tmp/pool24.conf VIRT_ROUTER_STATE_DIR=$tmp/pool24-state
inst instance-00000301 1 2-4
hook instance-00000301 prepare "$tmp/instance-00000301.xml"
expect "a 1-vCPU instance pinned to a range reserves one CPU" 0 "reserved dedicated CPUs 2,"
inst instance-00000302 1 2
"$HOOK" instance-00000302 migrate begin - <"$tmp/instance-00000302.xml" >"$tmp/i302.out" 2>"$tmp/err"
rc=$?
((rc == 0)) && grep -q "<vcpupin vcpu='0' cpuset='3'/>" "$tmp/i302.out" &&
	pass "an incoming instance pinned to a CPU another router holds is pinned to a free one" ||
	{ fail "incoming pinned to a held CPU: exit $rc"; sed 's/^/  | /' "$tmp/err" "$tmp/i302.out"; }
inst instance-00000303 2 2 12
"$HOOK" instance-00000303 migrate begin - <"$tmp/instance-00000303.xml" >"$tmp/i303.out" 2>"$tmp/err"
rc=$?
((rc == 0)) && grep -q "<vcpupin vcpu='0' cpuset='3'/><vcpupin vcpu='1' cpuset='4'/>" "$tmp/i303.out" &&
	pass "a 2-vCPU instance with a held pin and one outside the pool gets the two free CPUs" ||
	{ fail "incoming 2-vCPU instance: exit $rc"; sed 's/^/  | /' "$tmp/err" "$tmp/i303.out"; }
inst instance-00000304 3 2 3 4
"$HOOK" instance-00000304 migrate begin - <"$tmp/instance-00000304.xml" >"$tmp/i304.out" 2>"$tmp/err"
rc=$? err=$(cat "$tmp/err")
expect "an instance the pool cannot hold is refused at migrate with the numbers" 1 "needs 3 dedicated CPUs of router-cpus=2-4, 2 free (3-4); reserved: 2 by 'instance-00000301'"
hook instance-00000301 release "$tmp/instance-00000301.xml"
unset VIRT_ROUTER_CONFIG VIRT_ROUTER_STATE_DIR
export VIRT_ROUTER_CONFIG=$conf VIRT_ROUTER_STATE_DIR=$state

hook x prepare /dev/null
expect "empty input fails prepare" 1 "empty input"
"$HOOK" onlytwo prepare </dev/null >/dev/null 2>"$tmp/err"
rc=$? err=$(cat "$tmp/err")
expect "called with too few arguments" 2 "expected DOMAIN OPERATION SUB-OPERATION"

vr_test_summary
