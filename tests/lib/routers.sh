# shellcheck shell=bash
# tests/lib/routers.sh: routers on a local libvirtd with a host on either side, for the
# demo, the isolation scenario and the guarantee bench.  Source it after libvirtd.sh
# and netns.sh; do not execute it.
#
# Router i (1..9) of a run with tag T:
#   namespace vrs<T><i> (198.18.<i>.2/24) -- veth vrw<T><i> -- macvtap wan
#   router: wan 198.18.<i>.1/24, lan 198.19.<i>.1/24
#   macvtap lan -- veth vrl<T><i> -- namespace vrk<T><i> (198.19.<i>.2/24)
# 198.18.0.0/15 is the range set aside for benchmarks (RFC 2544), used only inside this
# machine's namespaces.
#
#   vr_routers_preflight WHO WHY    skip (exit 77) without root, the build or the guest image
#   vr_routers_init TAG CONF_TEXT   temp dir, host config, hook (this build), libvirtd
#   vr_router_define I NAME POLICY_CPU_XML [EXTRA_POLICY_XML [QUEUE [CPUTUNE_XML]]]
#                                   namespaces, render, define (QUEUE: macvtap queue
#                                   length, default 50; empty: none given, the policy sizes
#                                   it; CPUTUNE_XML: written by hand into the rendered
#                                   <cputune>, as a user of libvirt alone writes it)
#   vr_router_start NAME            virsh start; waits for VR-READY (sets VR_READY_MS)
#   vr_router_stop NAME             virsh destroy (the hook releases)
#   vr_router_scenario_group I NAME LOAD   a [router NAME] group for `virt-router bench`
#   vr_capacity_of SUMMARY_CSV      "CAPACITY OVERLOADED" of a capacity probe
#   vr_shuffle SEED WORD...         the words in an order shuffled by SEED
#   vr_routers_cleanup              undefine all, remove hook, namespaces, links, temp dir
#
# Needs VR_TOP, VR_BUILDDIR (scripts/lib-build.sh or the test environment).

VR_RT_TAG=
VR_RT_TMP=
VR_RT_CONF=
VR_RT_NAMES=()
VR_RT_IDX=()
VR_READY_MS=

# Exit 77 (skip) unless root, the build's programs, the guest image and virsh are there.
vr_routers_preflight() {
	local who=$1 why=$2 f
	if [[ $EUID -ne 0 ]]; then
		echo "$who: needs root ($why)" >&2
		exit 77
	fi
	for f in "$VR_BUILDDIR/virt-router" "$VR_BUILDDIR/virt-router-traffic" "${GUEST_IMAGE_DIR:-$VR_TOP/images}/vmlinuz"; do
		[[ -e $f ]] || { echo "$who: $f missing (make, make guest)" >&2; exit 77; }
	done
	vr_require_root_or_skip virsh
}
vr_rt_virsh() { timeout 60 virsh -q "$@"; }

vr_routers_init() {
	VR_RT_TAG=$1
	VR_RT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/virt-router-rt.XXXXXX")
	VR_RT_CONF=$VR_RT_TMP/virt-router.conf
	printf '%s\nstate-dir=%s\n' "$2" "$VR_RT_TMP/state" >"$VR_RT_CONF"
	vr_libvirtd_start || return 1
	vr_hook_install qemu "virt-router-$VR_RT_TAG" "$VR_RT_CONF" "$VR_BUILDDIR/virt-router-hook" \
		"$VR_BUILDDIR/virt-router-tune"
}

vr_router_define() {
	local i=$1 name=$2 cpu=$3 extra=${4:-} q=${5-50} cputune=${6:-} s=vrs$VR_RT_TAG$1 k=vrk$VR_RT_TAG$1 w=vrw$VR_RT_TAG$1 l=vrl$VR_RT_TAG$1
	# Recorded before anything is made, so cleanup removes the namespaces even when the
	# render or define below fails.
	VR_RT_IDX+=("$i")
	ip netns list | grep -qw "$s" || vr_host_side "$s" "$w" "${w}p" "198.18.$i.2/24" "198.18.$i.1"
	ip netns list | grep -qw "$k" || vr_host_side "$k" "$l" "${l}p" "198.19.$i.2/24" "198.19.$i.1"
	cat >"$VR_RT_TMP/policy-$name.xml" <<XML
<vr:router xmlns:vr='urn:virt-router:1'>
  $cpu
  <vr:port name='wan' mode='macvtap' dev='$w'${q:+ queue='$q'}/>
  <vr:port name='lan' mode='macvtap' dev='$l'${q:+ queue='$q'}/>
  <vr:address port='wan' ip='198.18.$i.1/24'/>
  <vr:address port='lan' ip='198.19.$i.1/24'/>
  $extra
  <vr:strip devices='sound graphics video input usb memballoon'/>
</vr:router>
XML
	"$VR_BUILDDIR/virt-router" render kvm-macvtap --type qemu -n "$name" --memory 256 \
		--image-dir "${GUEST_IMAGE_DIR:-$VR_TOP/images}" \
		--policy "$VR_RT_TMP/policy-$name.xml" -c "$VR_RT_CONF" >"$VR_RT_TMP/$name.xml" || return 1
	# The guest's console into a file: VR-READY and counters are read from it.
	sed -i "0,/<serial type='pty'>/s||<serial type='pty'>\n      <log file='$VR_RT_TMP/$name.console' append='off'/>|" "$VR_RT_TMP/$name.xml"
	if [[ -n $cputune ]]; then
		grep -q '<cputune>' "$VR_RT_TMP/$name.xml" || { echo "vr_router_define: $name: no <cputune> rendered to add '$cputune' to" >&2; return 1; }
		sed -i "0,/<cputune>/s||<cputune>\n    $cputune|" "$VR_RT_TMP/$name.xml"
	fi
	vr_rt_virsh define "$VR_RT_TMP/$name.xml" >/dev/null || return 1
	VR_RT_NAMES+=("$name")
}

vr_router_start() {
	local name=$1 t0 ready
	: >"$VR_RT_TMP/$name.console"
	t0=$(date +%s%N)
	vr_rt_virsh start "$name" >/dev/null || return 1
	ready=$(vr_console_ready "$VR_RT_TMP/$name.console")
	if [[ -z $ready ]]; then
		echo "$name did not report VR-READY within 30 s; its console:" >&2
		tail -c 1500 "$VR_RT_TMP/$name.console" >&2 || true
		return 1
	fi
	VR_READY_MS=$((($(date +%s%N) - t0) / 1000000))
}

vr_router_stop() {
	vr_rt_virsh destroy "$1" >/dev/null 2>&1 || true
}

# Traffic from the router's source namespace to its sink, at LOAD (pps, a list or a range).
vr_router_scenario_group() {
	printf '[router %s]\nsource-netns=vrs%s%s\nsink-netns=vrk%s%s\ndst=198.19.%s.2\nload=%s\n' \
		"$2" "$VR_RT_TAG" "$1" "$VR_RT_TAG" "$1" "$1" "$3"
}

# A capacity probe's verdict, from `virt-router bench`'s summary CSV of one router
# stepped up: "CAPACITY OVERLOADED". CAPACITY is the last step before the first lossy one
# (forwarded < 99% of sent), looking no further than the first step the generator did
# not deliver (sent < 98% of offered); 0 when the first step already lost. OVERLOADED is
# what it forwarded at that lossy step, else at the last step.
vr_capacity_of() {
	awk -F, 'NR > 1 && !stop {
			if ($5 < 0.98 * $4) { stop = 1; next }   # not delivered: no conclusion past here
			if ($7 >= 0.99 * $5) m = $4; else { stop = 1; over = $7 }
		} NR > 1 { last = $7 }
		END { printf "%d %d\n", m, over ? over : last }' "$1"
}

# The words after SEED in an order shuffled by SEED (the same seed, the same order).
vr_shuffle() {
	python3 -c 'import random, sys; m = sys.argv[2:]; random.Random(sys.argv[1]).shuffle(m); print(" ".join(m))' "$@"
}

vr_routers_cleanup() {
	local n i
	for n in "${VR_RT_NAMES[@]}"; do
		if vr_rt_virsh dominfo "$n" >/dev/null 2>&1; then
			vr_rt_virsh destroy "$n" >/dev/null 2>&1 || true
			vr_rt_virsh undefine "$n" >/dev/null 2>&1 || true
		fi
	done
	vr_hooks_remove
	for i in "${VR_RT_IDX[@]}"; do
		ip netns del "vrs$VR_RT_TAG$i" 2>/dev/null || true
		ip netns del "vrk$VR_RT_TAG$i" 2>/dev/null || true
		ip link del "vrw$VR_RT_TAG$i" 2>/dev/null || true
		ip link del "vrl$VR_RT_TAG$i" 2>/dev/null || true
	done
	[[ -n $VR_RT_TMP ]] && rm -rf "$VR_RT_TMP"
	VR_RT_NAMES=() VR_RT_IDX=()
	vr_libvirtd_stop
}
