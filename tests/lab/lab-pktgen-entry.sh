#!/bin/sh
# lab-pktgen-entry.sh: runs INSIDE the lab VM as its lab-entry (tests/lab/test-lab-pktgen.sh
# copies it into the vrlab share). Issue 17 item 8: the kernel's pktgen as virt-router's
# generator. Two network namespaces joined by a veth pair; `virt-router-traffic pktgen`
# (the project's build, read-only through the vrbuild 9p share) writes /proc/net/pktgen
# in one, `virt-router-traffic recv` counts in the other.
# Prints PASS:/FAIL:/SKIP: lines on the console; the host counts them.
# Exit status: 0 all passed, 1 something failed.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
failed=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failed=1; }
info() { echo "# $*"; }
T=/run/vr-lab-pktgen
cleanup() {
	[ -n "${rpid:-}" ] && kill "$rpid" 2>/dev/null
	ip netns del vrpg-tx 2>/dev/null
	ip netns del vrpg-rx 2>/dev/null
	umount "$B" 2>/dev/null
}
finish() { cleanup; echo "LAB-PKTGEN-END failed=$failed"; exit "$failed"; }
arg() { # NAME DEFAULT: vr_pktgen.NAME=V from the kernel command line
	v=$(tr ' ' '\n' </proc/cmdline | sed -n "s/^vr_pktgen\.$1=//p" | tail -n1)
	echo "${v:-$2}"
}
RATE=$(arg rate 20000)
SECS=$(arg seconds 2)
mkdir -p "$T"

B=/mnt/vrbuild
mkdir -p "$B"
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro vrbuild "$B"; then
	fail "cannot mount the vrbuild 9p share (the host's build directory)"
	finish
fi
VRT=$B/virt-router-traffic
[ -x "$VRT" ] || { fail "$VRT is not in the shared build"; finish; }
m=$(ldd "$VRT" 2>&1 | sed -n 's/^[[:space:]]*\([^ ]*\) => not found.*/\1/p' | tr '\n' ' ')
[ -z "$m" ] || { fail "virt-router-traffic lacks shared libraries in the lab: $m"; finish; }
pass "the host's virt-router-traffic runs here (ldd finds every library)"

# --- pktgen ---------------------------------------------------------------------
if modprobe pktgen && [ -d /proc/net/pktgen ]; then
	pass "modprobe pktgen: /proc/net/pktgen has $(ls /proc/net/pktgen | tr '\n' ' ')"
else
	fail "modprobe pktgen: no /proc/net/pktgen ($(uname -r))"
	finish
fi

# --- two namespaces and a veth pair ---------------------------------------------------
ip netns add vrpg-tx && ip netns add vrpg-rx &&
	ip link add vrpg0 netns vrpg-tx type veth peer name vrpg1 netns vrpg-rx &&
	ip -n vrpg-tx addr add 10.17.8.1/24 dev vrpg0 && ip -n vrpg-rx addr add 10.17.8.2/24 dev vrpg1 &&
	ip -n vrpg-tx link set vrpg0 up && ip -n vrpg-rx link set vrpg1 up &&
	ip -n vrpg-tx link set lo up && ip -n vrpg-rx link set lo up ||
	{ fail "setting up namespaces vrpg-tx/vrpg-rx and veth vrpg0/vrpg1"; finish; }
# (the lab has no ping; recv below shows the path works)
up() { ip -n "$1" -o link show "$2" | grep -q 'LOWER_UP'; }
n=0
while ! { up vrpg-tx vrpg0 && up vrpg-rx vrpg1; } && [ $n -lt 25 ]; do sleep 0.2; n=$((n + 1)); done
if up vrpg-tx vrpg0 && up vrpg-rx vrpg1; then
	pass "namespaces vrpg-tx (vrpg0 10.17.8.1/24) and vrpg-rx (vrpg1 10.17.8.2/24) joined by a veth pair, both ends up"
else
	fail "veth vrpg0/vrpg1 not up: $(ip -n vrpg-tx -o link show vrpg0)"
fi
info "pktgen in vrpg-tx: $(ip netns exec vrpg-tx ls /proc/net/pktgen 2>&1 | tr '\n' ' ')"

# --- recv in vrpg-rx, pktgen from vrpg-tx ------------------------------------------
"$VRT" recv --netns vrpg-rx --addr 10.17.8.2 --duration $((SECS + 8))s >"$T/recv.json" 2>"$T/recv.err" &
rpid=$!
n=0
while ! grep -q ready "$T/recv.err" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.2; n=$((n + 1)); done
grep -q ready "$T/recv.err" || { fail "recv not ready: $(cat "$T/recv.err")"; finish; }
t0=$(date +%s.%N)
"$VRT" pktgen --netns vrpg-tx --dst 10.17.8.2 --rate "$RATE" --duration "${SECS}s" >"$T/pktgen.json" 2>"$T/pktgen.err"
rc=$?
t1=$(date +%s.%N)
info "virt-router-traffic pktgen --rate $RATE --duration ${SECS}s: exit $rc after $(echo "$t1 - $t0" | bc 2>/dev/null || echo "$t0..$t1") s"
info "pktgen stdout: $(tr -d '\n' <"$T/pktgen.json")"
[ -s "$T/pktgen.err" ] && sed 's/^/# pktgen stderr: /' "$T/pktgen.err"
if [ $rc -eq 0 ]; then
	pass "virt-router-traffic pktgen: every write to /proc/net/pktgen accepted by the kernel (exit 0)"
else
	fail "virt-router-traffic pktgen exit $rc: $(cat "$T/pktgen.err")"
fi
# pktgen's own account of the device (the device files are per namespace)
dev=$(ip netns exec vrpg-tx sh -c 'ls /proc/net/pktgen' | grep '^vrpg0' | head -n1)
ip netns exec vrpg-tx cat "/proc/net/pktgen/${dev:-vrpg0@0}" >"$T/dev.txt" 2>&1
sed 's/^/# pktgen dev: /' "$T/dev.txt"
ip netns exec vrpg-tx cat /proc/net/pktgen/pgctrl 2>&1 | sed 's/^/# pgctrl: /'
ip netns exec vrpg-tx cat /proc/net/pktgen/kpktgend_0 2>&1 | sed 's/^/# kpktgend_0: /'
result=$(sed -n 's/^Result: //p' "$T/dev.txt")
sent=$(sed -n 's/.*pkts-sofar: \([0-9]*\).*/\1/p' "$T/dev.txt" | head -n1)
errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$T/dev.txt" | head -n1)
case $result in
OK:*) pass "pktgen's Result for $dev: $result" ;;
*) fail "pktgen's Result for ${dev:-?}: '${result:-none}'" ;;
esac
# wait for recv to end (its duration), then count
wait "$rpid"
rpid=
info "recv stdout: $(tr -d '\n' <"$T/recv.json")"
[ -s "$T/recv.err" ] && sed 's/^/# recv stderr: /' "$T/recv.err"
received=$(sed -n 's/.*"received": *\([0-9]*\).*/\1/p' "$T/recv.json")
claimed=$(sed -n 's/.*"sent": *\([0-9]*\).*/\1/p' "$T/pktgen.json")
info "sent (pktgen's pkts-sofar) ${sent:-?}, errors ${errors:-?}; virt-router-traffic said sent ${claimed:-?}; received ${received:-?}"
echo "PKTGEN-RESULT rate=$RATE seconds=$SECS sent=${sent:-?} errors=${errors:-?} claimed=${claimed:-?} received=${received:-?}"
if [ -n "$sent" ] && [ "$sent" -gt 0 ] && [ -n "$received" ] && [ $((received * 100)) -ge $((sent * 95)) ]; then
	pass "recv counted $received of the $sent pktgen sent ($((received * 100 / sent))%, >= 95%)"
else
	fail "recv counted ${received:-?} of ${sent:-?} pktgen sent (need >= 95%)"
fi
if [ -n "$sent" ] && [ -n "$claimed" ] && [ "$sent" = "$claimed" ]; then
	pass "virt-router-traffic's 'sent' ($claimed) is pktgen's pkts-sofar"
else
	fail "virt-router-traffic says sent ${claimed:-?}, pktgen's pkts-sofar says ${sent:-?}"
fi
# --- virt-router bench with generator=pktgen over the same veth --------------------
# The "router" is the veth pair itself: the bench drives pktgen in vrpg-tx and counts in vrpg-rx.
if [ -x "$B/virt-router" ]; then
	cat >"$T/pg.conf" <<EOC
[bench]
generator=pktgen
size=64
flows=4
repeat=2
duration=1s
[router veth]
source-netns=vrpg-tx
sink-netns=vrpg-rx
dst=10.17.8.2
load=5kpps..20kpps/2
EOC
	mkdir -p "$T/bench"
	VIRT_ROUTER_TRAFFIC=$VRT "$B/virt-router" bench --strict --no-plot -o "$T/bench" "$T/pg.conf" >"$T/bench.out" 2>"$T/bench.err"
	rc=$?
	sed 's/^/# bench: /' "$T/bench.out"
	sed 's/^/# bench stderr: /' "$T/bench.err" | tail -n 15
	sed 's/^/# bench summary: /' "$T/bench/pg-summary.csv" 2>/dev/null
	if [ $rc -eq 0 ] && [ -s "$T/bench/pg-summary.csv" ]; then
		pass "virt-router bench generator=pktgen (veth as the router, 5k and 20k pps, 2 x 1 s): exit 0 with --strict, every step valid"
	else
		fail "virt-router bench generator=pktgen: exit $rc"
	fi
else
	echo "SKIP: virt-router bench: no virt-router in the shared build"
fi
finish
