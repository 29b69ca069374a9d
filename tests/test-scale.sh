#!/usr/bin/env bash
# Inputs without bounds (issue 15 kind 5): a policy over the limits of virt-router.xml(5)
# is refused at once with the count and the limit, and the cost of apply, check and the
# hook's prepare and migrate grows linearly up to the limit. Counted as CPU time of a
# size 8 times larger (limit) over a small one: linear work gives about 8, the
# per-port scans this replaced gave 64 and more; the bound is 32, generous for a loaded
# machine. Figures per size: tests/bench/bench-scale.sh (make bench-scale).
set -uo pipefail
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck shell=bash source=tests/lib/result.sh
. "$top_srcdir/tests/lib/result.sh"
# shellcheck source=tests/lib/scale-domain.sh
. "$top_srcdir/tests/lib/scale-domain.sh"
top_builddir=${top_builddir:-$top_srcdir/build}
VR=${VIRT_ROUTER:-$top_builddir/virt-router}
HOOK=$top_builddir/virt-router-hook
if [[ ! -x $VR || ! -x $HOOK ]]; then
	echo "SKIP: $VR or $HOOK not built"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
scale_root "$tmp"
small=1024
limit=8192 # VR_MAX_PORTS

# cpu OUTVAR CMD...: runs CMD (stdin from $in, stdout to $out), rc in $rc, CPU seconds in OUTVAR
cpu() {
	local var=$1 t
	shift
	t=$({ TIMEFORMAT='%3U %3S'; time "$@" <"$in" >"$out" 2>"$tmp/err"; } 2>&1)
	rc=$(cat "$tmp/rc" 2>/dev/null || echo 0)
	printf -v "$var" '%s' "$(awk -v t="$t" 'BEGIN { split(t, a, " "); print a[1] + a[2] }')"
}
run() { "$@"; echo $? >"$tmp/rc"; }

# 1. Over the limits: refused at once, naming the element, the count and the limit.
over() { # DESC FILE EXPECTED-SUBSTRING
	local t0=$SECONDS
	"$VR" check "$2" >/dev/null 2>"$tmp/err"
	local rc=$?
	if [[ $rc -ne 0 ]] && grep -qF "$3" "$tmp/err" && ((SECONDS - t0 < 10)); then
		pass "$1"
	else
		fail "$1 (exit $rc, expected an error with '$3')"
		head -3 "$tmp/err" | sed 's/^/  | /'
	fi
}
scale_domain kvm $((limit + 1)) 0 >"$tmp/ports.xml"
over "$((limit + 1)) ports refused" "$tmp/ports.xml" "<vr:router> has $((limit + 1)) <vr:port> elements: expected at most $limit"
scale_domain lxc 1 $((2 * limit + 1)) >"$tmp/addrs.xml"
over "$((2 * limit + 1)) addresses refused" "$tmp/addrs.xml" "has $((2 * limit + 1)) <vr:address> elements: expected at most $((2 * limit))"
scale_domain kvm 1 1 $((2 * limit + 1)) >"$tmp/routes.xml"
over "$((2 * limit + 1)) routes refused" "$tmp/routes.xml" "has $((2 * limit + 1)) <vr:route> elements: expected at most $((2 * limit))"
"$HOOK" scale prepare begin - <"$tmp/ports.xml" >/dev/null 2>"$tmp/err"
rc=$?
if [[ $rc -ne 0 ]] && grep -qF "expected at most $limit" "$tmp/err"; then
	pass "the hook refuses $((limit + 1)) ports at prepare"
else
	fail "the hook refuses $((limit + 1)) ports at prepare (exit $rc)"
fi

# A KVM router whose guest configuration QEMU could not take (one -fw_cfg argument,
# at most 128 KiB): refused by apply, naming the size, rather than failing at start.
scale_domain kvm 3000 >"$tmp/fwcfg.xml"
"$VR" apply --config "$tmp/host.conf" --sysroot "$root" "$tmp/fwcfg.xml" >/dev/null 2>"$tmp/err"
rc=$?
if [[ $rc -eq 1 ]] && grep -q "the guest configuration for 3000 ports is [0-9]* bytes: expected at most 131032" "$tmp/err"; then
	pass "a KVM router whose guest configuration exceeds one QEMU argument is refused"
else
	fail "3000 KVM ports with addresses (exit $rc): $(head -1 "$tmp/err")"
fi

# 2. Linear up to the limit: every command at the largest size costs at most 32 times (8
# times the ports) what it costs at the small one, each port with an address. KVM's
# largest is what its guest configuration allows (about 2,300 ports with addresses).
declare -A secs sizes=([kvm]="256 2048" [lxc]="$small $limit")
for type in kvm lxc; do
	for n in ${sizes[$type]}; do
		scale_domain "$type" "$n" >"$tmp/$type$n.xml"
		in=$tmp/$type$n.xml out=$tmp/$type$n.applied.xml
		cpu "secs[$type-apply-$n]" run "$VR" apply --config "$tmp/host.conf" --sysroot "$root" -
		[[ $rc -eq 0 ]] || fail "$type: apply of $n ports (exit $rc): $(head -1 "$tmp/err")"
		in=$tmp/$type$n.applied.xml out=/dev/null
		cpu "secs[$type-check-$n]" run "$VR" check --config "$tmp/host.conf" -
		[[ $rc -eq 0 ]] || fail "$type: check of $n ports (exit $rc): $(head -1 "$tmp/err")"
		rm -rf "$tmp/state"
		cpu "secs[$type-prepare-$n]" run "$HOOK" scale prepare begin -
		[[ $rc -eq 0 ]] || fail "$type: hook prepare of $n ports (exit $rc): $(head -1 "$tmp/err")"
		if [[ $type == kvm ]]; then
			out=$tmp/migrated.xml
			cpu "secs[$type-migrate-$n]" run "$HOOK" scale migrate begin -
			[[ $rc -eq 0 ]] || fail "$type: hook migrate of $n ports (exit $rc): $(head -1 "$tmp/err")"
		fi
	done
done
for key in kvm-apply kvm-check kvm-prepare kvm-migrate lxc-apply lxc-check lxc-prepare; do
	read -r lon hin <<<"${sizes[${key%%-*}]}"
	lo=${secs[$key-$lon]} hi=${secs[$key-$hin]}
	# below 50 ms, start-up dominates: count the small size as 50 ms
	ratio=$(awk -v lo="$lo" -v hi="$hi" 'BEGIN { if (lo < 0.05) lo = 0.05; printf "%.1f", hi / lo }')
	if awk -v r="$ratio" 'BEGIN { exit !(r <= 32) }'; then
		pass "$key: $hin ports ${hi}s CPU, $lon ports ${lo}s: x$ratio for 8x the ports"
	else
		fail "$key: $hin ports ${hi}s CPU, $lon ports ${lo}s: x$ratio for 8x the ports (quadratic: 64)"
	fi
done
vr_test_summary
