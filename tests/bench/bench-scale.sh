#!/usr/bin/env bash
# Issue 15 kind 5: the cost of ports. Generates router domains (KVM macvtap ports, each
# with an address) of 1000, 2000, 4000, 8000 ports, the limit (VR_MAX_PORTS, 8192) and
# 10000 (over it: refused at once), and times on a fake root (CPU seconds, user and
# system, median of RUNS, default 3: wall time on a shared machine measures its load): `virt-router apply`, `virt-router check` of the applied domain, and
# the hook's prepare and migrate on it. Prints a table with the ratio per doubling
# (time at N over time at N/2): about 2 is linear, 4 quadratic. Not a test: figures.
# Usage: tests/bench/bench-scale.sh [TYPE]   (TYPE kvm (default) or lxc; lxc has no migrate)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
builddir=${top_builddir:-$top/build}
VR=${VIRT_ROUTER:-$builddir/virt-router}
HOOK=${HOOK:-$builddir/virt-router-hook}
RUNS=${RUNS:-3}
type=${1:-kvm}
SIZES=${SIZES:-1000 2000 4000 8000 8192 10000}
[[ -x $VR && -x $HOOK ]] || { echo "bench-scale: build first ($VR, $HOOK)" >&2; exit 2; }
# shellcheck source=tests/lib/scale-domain.sh
. "$top/tests/lib/scale-domain.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
scale_root "$tmp"

# timed IN OUT CMD...: median CPU seconds (user + system) of RUNS runs
timed() {
	local in=$1 out=$2 t all=()
	shift 2
	for _ in $(seq "$RUNS"); do
		rm -rf "$VIRT_ROUTER_STATE_DIR"
		t=$({ TIMEFORMAT='%3U %3S'; time "$@" <"$in" >"$out" 2>"$tmp/err"; } 2>&1) || true
		all+=("$(awk -v t="$t" 'BEGIN { split(t, a, " "); printf "%.3f", a[1] + a[2] }')")
	done
	t=$(printf '%s\n' "${all[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
	echo "$t"
}

cmds="apply check prepare"
[[ $type == kvm ]] && cmds="$cmds migrate"
printf '%-7s' ports
for c in $cmds; do printf ' %9s %6s' "$c s" "x2"; done
echo
declare -A prev
for n in $SIZES; do
	scale_domain "$type" "$n" >"$tmp/in.xml"
	printf '%-7s' "$n"
	ref=""
	for c in $cmds; do
		case $c in
		apply) t=$(timed "$tmp/in.xml" "$tmp/applied.xml" "$VR" apply --config "$tmp/host.conf" --sysroot "$root" -) ;;
		check) t=$(timed "$tmp/applied.xml" /dev/null "$VR" check --config "$tmp/host.conf" -) ;;
		prepare) t=$(timed "$tmp/applied.xml" /dev/null "$HOOK" scale prepare begin -) ;;
		migrate) t=$(timed "$tmp/applied.xml" /dev/null "$HOOK" scale migrate begin -) ;;
		esac
		# per doubling: over the largest size at most half as large, scaled to a doubling
		ratio=-
		for pn in $SIZES; do
			((pn * 2 <= n)) || continue
			pt=${prev[$c-$pn]}
			ratio=$(awk -v t="$t" -v pt="$pt" -v n="$n" -v pn="$pn" \
				'BEGIN { if (pt <= 0) print "-"; else printf "%.2f", (t / pt) ^ (log(2) / log(n / pn)) }')
		done
		printf ' %9s %6s' "$t" "$ratio"
		prev[$c-$n]=$t
		if [[ $c == apply ]] && grep -q "expected at most" "$tmp/err"; then
			ref=" (refused: $(grep -o 'has [0-9]* <vr:port> elements: expected at most [0-9]*\|guest configuration for [0-9]* ports is [0-9]* bytes: expected at most [0-9]*' "$tmp/err" | head -1))"
			cp "$tmp/in.xml" "$tmp/applied.xml" # check and the hook see the domain as given
		fi
	done
	echo "$ref"
done
echo "(CPU seconds, user + system, median of $RUNS; x2: ratio per doubling of ports, 2 = linear, 4 = quadratic;"
echo " $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
