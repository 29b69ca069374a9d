#!/usr/bin/env bash
# Integration test against a real libvirtd: every expected domain XML the unit
# tests compare against must be valid for libvirt's schema and accepted by
# `virsh define` (so what virt-router emits is something libvirt takes), and
# one rendered router must really start under QEMU with its ports on veths.
#
# Automake exit codes: 0 pass, 1 fail, 77 skip.  Needs root.
# Environment (AM_TESTS_ENVIRONMENT sets these; the defaults suit a manual run
# from anywhere):
#   top_srcdir    source tree (default: this script's ../..)
#   top_builddir  build tree (default: $top_srcdir/build)
#   VIRT_ROUTER   the CLI (default: $top_builddir/virt-router)
#   VIRT_ROUTER_TEMPLATE_DIR  templates for the CLI (default: $top_srcdir/xml-templates)
#   VIRT_XML_VALIDATE, XMLLINT  tool paths found by configure (optional)
set -euo pipefail

# shellcheck source=tests/lib/integration.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/integration.sh"
VIRT_XML_VALIDATE=${VIRT_XML_VALIDATE:-virt-xml-validate}
XMLLINT=${XMLLINT:-xmllint}

vr_require_root_or_skip ip "$VIRT_XML_VALIDATE" "$XMLLINT"
vr_require_built "$VIRT_ROUTER"

# Everything this run creates carries this prefix, so cleanup finds it all
# and parallel runs never touch each other's domains.
prefix="vrtest-$$-"
veth_a="vrt$$a"
veth_b="vrt$$b"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vrtest-define.XXXXXX")



cleanup_done=0
cleanup() {
	((cleanup_done)) && return 0
	cleanup_done=1
	# A second Ctrl-C must not cut the cleanup short; commands started from
	# here on inherit the ignored signals too.
	trap '' INT TERM
	vr_domains_remove "$prefix" qemu:///system lxc:///system
	vr_libvirt_test_teardown "$veth_a" "$tmp"
}
trap cleanup EXIT
trap 'cleanup; exit 1' INT TERM

vr_libvirtd_start_or_fail

# The libvirt connection a domain XML belongs to, from its type attribute.
uri_for() {
	local type
	type=$("$XMLLINT" --xpath 'string(/domain/@type)' "$1" 2>/dev/null || true)
	case "$type" in
	kvm | qemu) echo qemu:///system ;;
	lxc) echo lxc:///system ;;
	*) return 1 ;;
	esac
}

# Copy FILE to OUT under domain name NAME without its <uuid>, so defining it
# can never clash with a real domain (libvirt keys domains by name and uuid).
# The domain's own <name> and <uuid> come first in libvirt XML, so only the
# first occurrence of each is touched (metadata may hold other elements).
rename_copy() {
	local file=$1 name=$2 out=$3
	sed -e "0,/<name>[^<]*<\/name>/s//<name>$name<\/name>/" \
		-e '0,/<uuid>[^<]*<\/uuid>/s///' "$file" >"$out"
}

# True when virsh's error says this host cannot run type='kvm' domains.
kvm_unsupported() {
	grep -qiE "kvm.*(not supported|unsupported|does not support)|(unsupported|not support|no support).*kvm|domaintype=kvm" "$1"
}

# b) Every expected output of the apply and render tests.
shopt -s nullglob
files=("$top_srcdir"/tests/data/xml/*.expected.xml "$top_srcdir"/tests/data/render/*.expected.xml)
shopt -u nullglob
echo "# defining ${#files[@]} expected domain XML files"
for file in "${files[@]}"; do
	rel=${file#"$top_srcdir"/tests/data/}
	base=$(basename "$file" .expected.xml)
	name="$prefix$(printf '%s' "${rel%%/*}-$base" | tr -c 'A-Za-z0-9_.-' '_')"
	copy="$tmp/$name.xml"
	err="$tmp/$name.err"

	# A domain of another driver without router policy (xen, test, hvf, ...) is only
	# passed through, byte for byte: test-xml checks that; this libvirtd cannot define it.
	if ! uri_for "$file" >/dev/null && [[ -f ${file%.expected.xml}.xml ]] && cmp -s "$file" "${file%.expected.xml}.xml"; then
		pass "$rel: another driver's domain, passed through unchanged (not defined here)"
		continue
	fi
	if ! "$VIRT_XML_VALIDATE" "$file" domain >"$err" 2>&1; then
		fail "$rel: virt-xml-validate: $(tail -n 3 "$err" | tr '\n' ' ')"
		continue
	fi
	if ! uri=$(uri_for "$file"); then
		fail "$rel: no <domain type='kvm|qemu|lxc'>"
		continue
	fi
	rename_copy "$file" "$name" "$copy"
	note=""
	if ! timeout 60 virsh -q -c "$uri" define "$copy" >/dev/null 2>"$err"; then
		if [[ "$uri" == qemu:///system ]] && kvm_unsupported "$err"; then
			# This host has no usable KVM; the XML is still checked by
			# libvirt, with QEMU's TCG as the accelerator.
			# In the domain's own quote: KubeVirt and Nova domains may use ".
			sed -i -E "0,/<domain type=(['\"])kvm\1/s//<domain type=\1qemu\1/" "$copy"
			note=" (no KVM here: defined as type='qemu')"
			if ! timeout 60 virsh -q -c "$uri" define "$copy" >/dev/null 2>"$err"; then
				fail "$rel: virsh define$note: $(tr '\n' ' ' <"$err")"
				continue
			fi
		else
			fail "$rel: virsh -c $uri define: $(tr '\n' ' ' <"$err")"
			continue
		fi
	fi
	if ! timeout 60 virsh -q -c "$uri" undefine "$name" >/dev/null 2>"$err"; then
		fail "$rel: virsh undefine: $(tr '\n' ' ' <"$err")"
		continue
	fi
	pass "$rel: valid, defined on $uri$note"
done

# c) A rendered router really starts: QEMU (TCG) with two macvtap ports on
# a veth pair.  --no-image: no guest kernel yet (issue 5); QEMU running is enough.
start_test() {
	local name="${prefix}start" xml="$tmp/start.xml" err="$tmp/start.err"
	local state pid qemu_pid iflist deadline

	if ! ip link add "$veth_a" type veth peer name "$veth_b" 2>"$err" ||
		! ip link set "$veth_a" up || ! ip link set "$veth_b" up; then
		fail "start: veth pair $veth_a/$veth_b: $(tr '\n' ' ' <"$err")"
		return
	fi
	if ! "$VIRT_ROUTER" render kvm-macvtap --type qemu -n "$name" \
		--port "wan=$veth_a" --port "lan=$veth_b" --memory 128 --no-image >"$xml" 2>"$err"; then
		fail "start: virt-router render kvm-macvtap: $(tr '\n' ' ' <"$err")"
		return
	fi
	pass "start: virt-router render kvm-macvtap --type qemu"
	if ! "$VIRT_XML_VALIDATE" "$xml" domain >"$err" 2>&1; then
		fail "start: rendered XML fails virt-xml-validate: $(tail -n 3 "$err" | tr '\n' ' ')"
		return
	fi
	pass "start: rendered XML is valid"
	if ! timeout 60 virsh -q -c qemu:///system define "$xml" >/dev/null 2>"$err"; then
		fail "start: virsh define: $(tr '\n' ' ' <"$err")"
		return
	fi
	# An edited re-render defines over the domain (libvirt refuses a name it has with
	# another <uuid>, or none): render gives a name the same <uuid> every time.
	if "$VIRT_ROUTER" render kvm-macvtap --type qemu -n "$name" --port "wan=$veth_a" --port "lan=$veth_b" \
		--memory 160 --no-image >"$tmp/again.xml" 2>"$err" &&
		timeout 60 virsh -q -c qemu:///system define "$tmp/again.xml" >/dev/null 2>"$err"; then
		pass "start: $name rendered again (memory changed) defines over the first"
	else
		fail "start: $name rendered again does not define over the first: $(tr '\n' ' ' <"$err")"
	fi
	if ! timeout 60 virsh -q -c qemu:///system start "$name" >/dev/null 2>"$err"; then
		fail "start: virsh start: $(tr '\n' ' ' <"$err")"
		return
	fi
	state=$(timeout 20 virsh -q -c qemu:///system domstate "$name" 2>&1 || true)
	if [[ "$state" != running ]]; then
		fail "start: domstate is '$state', expected 'running'"
		return
	fi
	pass "start: $name defined and running"

	# Both ports must be macvtaps on our veths.
	iflist=$(timeout 20 virsh -q -c qemu:///system domiflist "$name" 2>&1 || true)
	if awk -v a="$veth_a" -v b="$veth_b" '$2 == "direct" && $3 == a {fa = 1}
		$2 == "direct" && $3 == b {fb = 1} END {exit !(fa && fb)}' <<<"$iflist"; then
		pass "start: ports are macvtaps on $veth_a and $veth_b"
	else
		fail "start: domiflist shows no macvtap on both veths: $(tr '\n' ' ' <<<"$iflist")"
	fi

	pid=$(cat "/run/libvirt/qemu/$name.pid" 2>/dev/null || true)
	qemu_pid=""
	vr_pid_alive "$pid" && qemu_pid=$pid
	if ! timeout 60 virsh -q -c qemu:///system destroy "$name" >/dev/null 2>"$err" ||
		! timeout 60 virsh -q -c qemu:///system undefine "$name" >/dev/null 2>>"$err"; then
		fail "start: virsh destroy/undefine: $(tr '\n' ' ' <"$err")"
		return
	fi
	if timeout 20 virsh -q -c qemu:///system dominfo "$name" >/dev/null 2>&1; then
		fail "start: $name still known to libvirt after undefine"
		return
	fi
	# destroy returns once QEMU is killed; allow a moment for it to exit.
	deadline=$((SECONDS + 10))
	while [[ -n "$qemu_pid" ]] && vr_pid_alive "$qemu_pid" && ((SECONDS < deadline)); do
		sleep 0.2
	done
	if [[ -z "$qemu_pid" ]]; then
		fail "start: no QEMU pid found in /run/libvirt/qemu/$name.pid"
	elif vr_pid_alive "$qemu_pid"; then
		fail "start: QEMU ($qemu_pid) still running after destroy"
	else
		pass "start: destroyed, undefined, QEMU exited"
	fi
}
echo "# starting a rendered router on $veth_a/$veth_b"
start_test

vr_test_summary
