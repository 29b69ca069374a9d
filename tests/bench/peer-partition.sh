#!/usr/bin/env bash
# A root domain of its own for CPU 1, made by hand, for bench-peer's lever experiment:
#
#   PEER_AFTER_START=tests/bench/peer-partition.sh PEER_MODES="libvirt deadline" \
#       tests/bench/bench-peer.sh
#
# bench-peer runs it as CMD MODE DOMAIN N after each router is ready, and as CMD end
# when it exits. In modes deadline and guarantee, once both routers run, it does on
# cgroup v1 what tuned's cpu-partitioning profile does: load balancing off at the root
# and in libvirt's machine cpuset and each domain's group, and each domain's vcpuN and
# emulator cpusets hold CPU 1 only, with load balancing on. CPU 1 is then a root domain
# of its own: SCHED_DEADLINE runs per-CPU EDF there, and VR1's reserved threads stay on
# CPU 1 instead of also using CPU 0 (global EDF). In any other mode, and at the end, load
# balancing comes back on at the root and in machine (libvirt removes the domains'
# groups when they stop). Not part of the product: the tuner's partition code targets
# hosts where one can be made (cgroup v2 cpuset.cpus.partition, or v1 without an
# overlapping sibling), see docs/peer.md.
set -euo pipefail
mode=$1 n=${3:-0}
C=/sys/fs/cgroup/cpuset
restore() {
	echo 1 >"$C/cpuset.sched_load_balance"
	[[ ! -d $C/machine ]] || echo 1 >"$C/machine/cpuset.sched_load_balance"
}
[[ -e $C/cpuset.sched_load_balance ]] || { echo "peer-partition: no cgroup v1 cpuset at $C" >&2; exit 1; }
if [[ $mode != deadline && $mode != guarantee ]]; then
	restore
	exit 0
fi
[[ $n == 2 ]] || exit 0
echo 0 >"$C/cpuset.sched_load_balance"
echo 0 >"$C/machine/cpuset.sched_load_balance"
for d in "$C"/machine/qemu-*; do
	echo 0 >"$d/cpuset.sched_load_balance"
	for s in "$d"/vcpu* "$d/emulator"; do
		echo 1 >"$s/cpuset.cpus"
		echo 1 >"$s/cpuset.sched_load_balance"
	done
done
pid=$(cat "/run/libvirt/qemu/vr-peer-$mode-1.pid")
for t in /proc/"$pid"/task/*; do
	c=$(cat "$t/comm")
	[[ $c == "CPU 0/TCG" || ${t##*/} == "$pid" ]] || continue
	echo "peer-partition: VR1's $c: $(grep Cpus_allowed_list "$t/status" | tr -d '\t'), policy $(awk '{ print $41 }' "$t/stat") (6: deadline)" >&2
done
