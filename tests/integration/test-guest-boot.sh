#!/usr/bin/env bash
# The guest image booted by QEMU directly (TCG, no libvirt): vr-init reads its config
# from fw_cfg, names two virtio NICs by MAC and routes between two network namespaces
# through macvtaps on veths (the product's macvtap path; all traffic stays inside this
# machine). Checks: VR-READY and no VR-ERROR on the serial console; UDP forwarded over
# IPv4 and IPv6; the ingress policer drops above its rate; the packet-rate shaper (egress
# police) drops above its rate; counters on the console and on the virtio-serial channel
# org.virt-router.0; the ACPI power button (virsh shutdown) powers the guest off.
# Runs `make guest` first (quick when the image is up to date). Needs root.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=$(cd "${top_srcdir:-$here/../..}" && pwd)
# shellcheck source=tests/lib/result.sh
. "$top_srcdir/tests/lib/result.sh"
top_builddir=${top_builddir:-$top_srcdir/build}
IMAGES=${GUEST_IMAGE_DIR:-$top_srcdir/images}
QEMU=${QEMU:-qemu-system-x86_64}

skip() { echo "SKIP: $*"; exit 77; }
[[ $EUID -eq 0 ]] || skip "needs root (network namespaces, macvtap, the image build)"
for cmd in "$QEMU" python3 ip timeout make; do
	command -v "$cmd" >/dev/null || skip "'$cmd' not found: run scripts/install-deps.sh"
done
if [[ ! -r $IMAGES/vmlinuz ]]; then
	command -v debootstrap >/dev/null || skip "no guest image in $IMAGES and no debootstrap to build one"
fi
[[ -f $top_builddir/Makefile ]] || skip "$top_builddir is not configured"

finish() { vr_test_summary; exit; }

# Always through make: the image must hold the vr-init of this tree.
t0=$(date +%s)
if ! make -s -C "$top_builddir" guest GUEST_IMAGE_DIR="$IMAGES" >"${TMPDIR:-/tmp}/vrtest-guest-boot-build.$$.log" 2>&1; then
	tail -20 "${TMPDIR:-/tmp}/vrtest-guest-boot-build.$$.log"
	rm -f "${TMPDIR:-/tmp}/vrtest-guest-boot-build.$$.log"
	fail "make guest"
	finish
fi
grep 'build-image:.*\(done\|up to date\)' "${TMPDIR:-/tmp}/vrtest-guest-boot-build.$$.log" | sed 's/^/# /'
rm -f "${TMPDIR:-/tmp}/vrtest-guest-boot-build.$$.log"
size=$(($(stat -c %s "$IMAGES/vmlinuz") + $(stat -c %s "$IMAGES/initrd.img")))
if ((size <= 32 * 1024 * 1024)); then
	pass "image ready in $(($(date +%s) - t0)) s: kernel + initramfs $((size / 1024)) KiB (at most 32 MiB)"
else
	fail "image is $((size / 1024)) KiB, more than 32 MiB"
fi

# The config parser on the host (vr-init --dry-run): what it runs and what it refuses.
cat >"${TMPDIR:-/tmp}/vrtest-guest-boot.$$.conf" <<'EOF'
version 1
name vr1

port wan mac 52:54:00:aa:bb:01 mtu 1500   # a comment
port lan mac 52:54:00:aa:bb:02; addr lan 198.51.100.1/24
addr wan 2001:db8:a::1/64
route default via 2001:db8:a::fe
police wan rate 800kpps burst 64
shape lan rate 100000000bit burst 10
frobnicate wan
port bad mac 52:54:00
addr dmz 192.0.2.1/24
route default via 192.0.2.1 dev lan extra
EOF
dry=$("$top_builddir/guest/vr-init" --dry-run "${TMPDIR:-/tmp}/vrtest-guest-boot.$$.conf" 2>&1 || true)
rm -f "${TMPDIR:-/tmp}/vrtest-guest-boot.$$.conf"
expect_dry=(
	"address add 198.51.100.1/24 dev lan"
	"address add 2001:db8:a::1/64 dev wan nodad"
	"route add ::/0 via 2001:db8:a::fe"
	"filter add dev wan ingress pref 1 protocol arp matchall action ok"
	"filter add dev wan ingress pref 2 matchall action police pkts_rate 800000 pkts_burst 64 conform-exceed drop/ok index 1"
	"qdisc add dev lan root tbf rate 100000000bit burst 15140 limit 15140"
	"VR-ERROR msg=config line 10: frobnicate: unknown directive"
	"VR-ERROR msg=config line 11: port: mac: expected xx:xx:xx:xx:xx:xx"
	"VR-ERROR msg=config line 12: addr: unknown port (declare it with 'port' first)"
	"VR-ERROR msg=config line 13: route: expected route DST via GATEWAY [dev PORT] or route DST dev PORT"
)
missing=0
for line in "${expect_dry[@]}"; do
	grep -qxF -- "$line" <<<"$dry" || { echo "# missing from vr-init --dry-run: $line"; missing=1; }
done
if ((missing == 0)) && [[ $(grep -c '^VR-ERROR' <<<"$dry") == 4 ]]; then
	pass "vr-init --dry-run: the ip and tc batches, and one error per bad line"
else
	fail "vr-init --dry-run printed:"
	echo "$dry"
fi

tag=$$
nsa=vrgba$tag nsb=vrgbb$tag
wa=vgbwa$tag wb=vgbwb$tag la=vgbla$tag lb=vgblb$tag
ma=vgbma$tag mb=vgbmb$tag
mac_wan=52:54:00:5e:10:01 mac_lan=52:54:00:5e:10:02
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vrtest-guest-boot.XXXXXX")
console=$tmp/console.log
qemu_pid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	trap '' INT TERM
	exec 5>&- 2>/dev/null || true
	if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	ip netns del "$nsa" 2>/dev/null || true
	ip netns del "$nsb" 2>/dev/null || true
	ip link del "$wa" 2>/dev/null || true # takes its macvtap along
	ip link del "$la" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wan: namespace A <-> router, lan: router <-> namespace B. QEMU gets the macvtaps on
# wa and la, which carry the guest's MACs as libvirt would set them.
ip link add "$wa" type veth peer name "$wb" || skip "no veth support"
ip link add "$la" type veth peer name "$lb"
ip link add link "$wa" name "$ma" address "$mac_wan" type macvtap mode bridge 2>/dev/null || skip "no macvtap support"
ip link add link "$la" name "$mb" address "$mac_lan" type macvtap mode bridge
ip netns add "$nsa"
ip netns add "$nsb"
ip link set "$wb" netns "$nsa"
ip link set "$lb" netns "$nsb"
for dev in "$wa" "$la" "$ma" "$mb"; do ip link set "$dev" up; done
# A macvtap passes the guest only the multicast in its own filter, which the guest's
# list does not reach (libvirt: trustGuestRxFilters): without this no neighbour
# solicitation gets through, and IPv6 does not work.
ip link set "$ma" allmulticast on
ip link set "$mb" allmulticast on
ip -n "$nsa" addr add 192.0.2.2/24 dev "$wb"
ip -n "$nsa" addr add 2001:db8:a::2/64 dev "$wb" nodad
ip -n "$nsa" link set "$wb" up
ip -n "$nsa" route add default via 192.0.2.1
ip -n "$nsa" -6 route add default via 2001:db8:a::1
ip -n "$nsb" addr add 198.51.100.2/24 dev "$lb"
ip -n "$nsb" addr add 2001:db8:b::2/64 dev "$lb" nodad
ip -n "$nsb" link set "$lb" up
ip -n "$nsb" route add default via 198.51.100.1
ip -n "$nsb" -6 route add default via 2001:db8:b::1

# Policer on wan's ingress (A -> router), packet-rate shaper on wan's egress
# (router -> A), a bit-rate shaper (tbf) on lan that this traffic never reaches.
# lan has no MAC (as a VF from a pool): it gets the NIC wan's MAC leaves.
cat >"$tmp/config" <<EOF
version 1
name vrboot
port wan mac $mac_wan
port lan mtu 1500
addr wan 192.0.2.1/24
addr wan 2001:db8:a::1/64
addr lan 198.51.100.1/24; addr lan 2001:db8:b::1/64
route 203.0.113.0/24 via 198.51.100.2
police wan rate 1000pps burst 20
shape wan rate 1500pps burst 20
shape lan rate 100000000bit burst 16
rps off
EOF

# The serial console: output to a file, input from a FIFO we hold open (fd 5).
mkfifo "$tmp/console.in"
exec 5<>"$tmp/console.in"
start_ns=$(date +%s%N)
# shellcheck disable=SC2094
"$QEMU" -machine q35,accel=tcg -m 256 -smp 2 -nodefaults -no-user-config -display none \
	-kernel "$IMAGES/vmlinuz" -initrd "$IMAGES/initrd.img" -append "console=ttyS0 quiet panic=-1" \
	-fw_cfg name=opt/org.virt-router/config,file="$tmp/config" \
	-netdev tap,id=wan,fd=3 -device virtio-net-pci,netdev=wan,mac=$mac_wan \
	-netdev tap,id=lan,fd=4 -device virtio-net-pci,netdev=lan,mac=$mac_lan \
	-device virtio-serial-pci \
	-chardev socket,id=ch0,path="$tmp/channel.sock",server=on,wait=off \
	-device virtserialport,chardev=ch0,name=org.virt-router.0 \
	-qmp unix:"$tmp/qmp.sock",server=on,wait=off \
	-serial stdio <"$tmp/console.in" >"$console" 2>"$tmp/qemu.err" \
	3<>"/dev/tap$(cat "/sys/class/net/$ma/ifindex")" 4<>"/dev/tap$(cat "/sys/class/net/$mb/ifindex")" &
qemu_pid=$!

ready=
for ((i = 0; i < 1200; i++)); do # 60 s: TCG on a busy machine
	ready=$(grep -a -m1 '^VR-READY' "$console" 2>/dev/null | tr -d '\r' || true)
	[[ -n $ready ]] && break
	kill -0 "$qemu_pid" 2>/dev/null || break
	sleep 0.05
done
ready_ms=$((($(date +%s%N) - start_ns) / 1000000))
if [[ -z $ready ]]; then
	fail "no VR-READY within 60 s"
	tail -c 3000 "$console" | tr -d '\r'
	cat "$tmp/qemu.err"
	finish
fi
pass "VR-READY $ready_ms ms after QEMU started (TCG): $ready"
[[ $ready == "VR-READY name=vrboot uptime_ms="*" ports=wan,lan" ]] && pass "both ports found (by MAC, and the one left) and named" || fail "ready line: $ready"
if grep -a '^VR-ERROR' "$console" >"$tmp/errors"; then
	fail "errors on the console:"; tr -d '\r' <"$tmp/errors"
else
	pass "no VR-ERROR: addresses, routes, clsact policer, egress police and tbf all installed"
fi

# One helper for traffic, the channel and QMP.
cat >"$tmp/helper.py" <<'PY'
import json, socket, sys, time

def recv(host, port, idle):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((host, int(port)))
    s.settimeout(10.0)  # the first packet may take a while
    n, first, last = 0, 0.0, 0.0
    try:
        while True:
            s.recv(2048)
            last = time.monotonic()
            first = first or last
            n += 1
            s.settimeout(float(idle))
    except socket.timeout:
        pass
    # how many, and over how long they arrived: a rate limit shows in both
    print(n, "%.4f" % (last - first))

def send(host, port, count, rate):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    count, rate = int(count), float(rate)
    t0 = time.monotonic()
    for i in range(count):
        try:
            s.sendto(b"x" * 18, (host, int(port)))
        except OSError:  # a full queue under a burst: the packet is lost, as on a wire
            pass
        if rate > 0:
            delay = t0 + (i + 1) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    print("%.3f" % (time.monotonic() - t0))

def channel(path, nports):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(2.0)
    buf, deadline = b"", time.monotonic() + 20
    # the guest looks at an unconnected port once a second: ask until it answers
    while buf.count(b"VR-COUNTERS") < int(nports) and time.monotonic() < deadline:
        s.sendall(b"counters\n")
        try:
            while buf.count(b"VR-COUNTERS") < int(nports):
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        except socket.timeout:
            pass
    sys.stdout.write(buf.decode(errors="replace"))

def qmp(path, command):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    f = s.makefile("rw")
    f.readline()
    for cmd in ("qmp_capabilities", command):
        f.write(json.dumps({"execute": cmd}) + "\n")
        f.flush()
        f.readline()

globals()[sys.argv[1]](*sys.argv[2:])
PY
# udp NS_FROM NS_TO DST COUNT RATE (0: as fast as it goes): prints "received
# seconds_from_first_to_last_arrival seconds_sending"
udp() {
	local from=$1 to=$2 dst=$3 count=$4 rate=$5 rpid secs
	timeout 30 ip netns exec "$to" python3 "$tmp/helper.py" recv "$dst" 9999 1.5 >"$tmp/recv.out" 2>&1 &
	rpid=$!
	sleep 0.3
	secs=$(timeout 60 ip netns exec "$from" python3 "$tmp/helper.py" send "$dst" 9999 "$count" "$rate")
	wait "$rpid" || true
	echo "$(cat "$tmp/recv.out") $secs"
}

# ARP and neighbour discovery on both sides first.
udp "$nsa" "$nsb" 198.51.100.2 10 50 >/dev/null
udp "$nsa" "$nsb" 2001:db8:b::2 10 50 >/dev/null
read -r got _ _ < <(udp "$nsa" "$nsb" 198.51.100.2 300 300)
((got >= 295)) && pass "IPv4: $got of 300 UDP packets forwarded A -> B at 300 pps" || fail "IPv4: $got of 300 forwarded at 300 pps"
read -r got _ _ < <(udp "$nsa" "$nsb" 2001:db8:b::2 200 300)
((got >= 195)) && pass "IPv6: $got of 200 UDP packets forwarded A -> B at 300 pps" || fail "IPv6: $got of 200 forwarded at 300 pps"

# Three times the policer's 1000 pps for a second: what passes must arrive at no more
# than 1000 pps after the burst of 20 (10% and 10 packets of slack for the timing of
# an emulated guest on a busy machine), and not much less (the policer must pass its
# rate, not drop everything).
within() { # GOT RATE SPAN SECS -> true when GOT fits the rate
	python3 -c "import sys; sys.exit(not ($2 * $4 * 0.5 <= $1 <= $2 * $3 * 1.1 + 20 + 10))"
}
read -r got span secs < <(udp "$nsa" "$nsb" 198.51.100.2 3000 3000)
if within "$got" 1000 "$span" "$secs"; then
	pass "policer: $got of 3000 packets sent at 3000 pps in $secs s passed 1000 pps burst 20 (arriving over $span s)"
else
	fail "policer: $got of 3000 packets sent at 3000 pps in $secs s passed, arriving over $span s (1000 pps burst 20)"
fi
# And the other way: lan has no policer, wan's egress holds 1500 pps.
udp "$nsb" "$nsa" 192.0.2.2 10 50 >/dev/null
read -r got span secs < <(udp "$nsb" "$nsa" 192.0.2.2 4500 4500)
if within "$got" 1500 "$span" "$secs"; then
	pass "shaper: $got of 4500 packets sent B -> A at 4500 pps in $secs s left at 1500 pps burst 20 (arriving over $span s)"
else
	fail "shaper: $got of 4500 packets sent B -> A at 4500 pps in $secs s left wan, arriving over $span s (1500 pps burst 20)"
fi

# Counters on the serial console ...
lines_before=$(grep -a -c '^VR-COUNTERS' "$console" || true)
echo counters >&5
for ((i = 0; i < 200; i++)); do
	(($(grep -a -c '^VR-COUNTERS' "$console" || true) >= lines_before + 2)) && break
	sleep 0.05
done
wan_line=$(grep -a '^VR-COUNTERS port=wan ' "$console" | tail -n1 | tr -d '\r')
police_drops=$(sed -n 's/.* police_drops=\([0-9]*\).*/\1/p' <<<"$wan_line")
shape_drops=$(sed -n 's/.* shape_drops=\([0-9]*\).*/\1/p' <<<"$wan_line")
if [[ -n $wan_line ]] && grep -a -q '^VR-COUNTERS port=lan ' "$console"; then
	pass "counters on the console: $wan_line"
else
	fail "no VR-COUNTERS for wan and lan after 'counters' on the console"
fi
((${police_drops:-0} > 0)) && pass "police_drops=$police_drops counted by the guest" || fail "police_drops '${police_drops:-}'"
((${shape_drops:-0} > 0)) && pass "shape_drops=$shape_drops counted by the guest" || fail "shape_drops '${shape_drops:-}'"

# ... and on the virtio-serial channel, replying to the asker.
chan=$(timeout 30 python3 "$tmp/helper.py" channel "$tmp/channel.sock" 2 2>&1 || true)
if grep -q '^VR-COUNTERS port=wan ' <<<"$chan" && grep -q '^VR-COUNTERS port=lan ' <<<"$chan"; then
	pass "counters on the virtio-serial channel org.virt-router.0"
else
	fail "channel answered: ${chan:-nothing}"
fi

# The ACPI power button (what virsh shutdown presses) powers the guest off.
timeout 10 python3 "$tmp/helper.py" qmp "$tmp/qmp.sock" system_powerdown || true
for ((i = 0; i < 300; i++)); do
	kill -0 "$qemu_pid" 2>/dev/null || break
	sleep 0.1
done
if ! kill -0 "$qemu_pid" 2>/dev/null && grep -a -q '^VR-POWEROFF reason=power-button' "$console"; then
	pass "power button: the guest powered off"
	wait "$qemu_pid" 2>/dev/null || true
	qemu_pid=
else
	fail "the guest did not power off on the ACPI power button"
fi

finish
