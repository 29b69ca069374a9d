#!/usr/bin/env bash
# Host queue and virtio ring of a lone overloaded router (issue 16: the queue default).
#
#   sudo tests/bench/bench-queue.sh          (make bench-queue; about 6 minutes)
#
# Paper 002 found macvtap's 500-packet queue collapses under overload while 35-50
# packets drop early and stay stable; virt-router's default queue is 50. This bench
# measures that choice on this host: one router alone on CPU 1 (the project's guest,
# type='qemu'), offered QUEUE_OVER times what it forwards alone without loss, in every
# combination of host queue (QUEUE_QUEUES, macvtap txqueuelen) and virtio receive ring
# (QUEUE_RINGS, rx-queue-size: the packets the guest's ring holds before the host queue
# is used at all). QUEUE_ROUNDS rounds, configurations in a shuffled order per round,
# each on a freshly started router; the figures per configuration (mean, 95% CI) and
# paired per round against the default (queue 50, ring 1024): forwarded rate, p50 and
# p99 delay, sent beside offered.
#
# Knobs: QUEUE_QUEUES ("50 500"), QUEUE_RINGS ("256 1024"), QUEUE_ROUNDS (4),
# QUEUE_OVER (2), QUEUE_DURATION (4s), QUEUE_PROBE ("20k 30k ... 100k"), QUEUE_SEED,
# QUEUE_OUT (build/bench/queue). Output: QUEUE_OUT/queue-samples.csv, queue-summary.csv,
# report.txt. Exit 0 when it ran.
set -euo pipefail

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/build}"
VR_TOP=$top_srcdir VR_BUILDDIR=$top_builddir
export VIRT_ROUTER_TEMPLATE_DIR=${VIRT_ROUTER_TEMPLATE_DIR:-$VR_TOP/xml-templates}
QUEUES=${QUEUE_QUEUES:-50 500}
RINGS=${QUEUE_RINGS:-256 1024}
ROUNDS=${QUEUE_ROUNDS:-4}
OVER=${QUEUE_OVER:-2}
DURATION=${QUEUE_DURATION:-4s}
PROBE=${QUEUE_PROBE:-20k 30k 40k 50k 60k 70k 80k 90k 100k}
SEED=${QUEUE_SEED:-$RANDOM}
OUT=${QUEUE_OUT:-$VR_BUILDDIR/bench/queue}
VR=$VR_BUILDDIR/virt-router

# shellcheck source=tests/lib/libvirtd.sh
. "$VR_TOP/tests/lib/libvirtd.sh"
# shellcheck source=tests/lib/netns.sh
. "$VR_TOP/tests/lib/netns.sh"
# shellcheck source=tests/lib/routers.sh
. "$VR_TOP/tests/lib/routers.sh"
vr_routers_preflight bench-queue "libvirtd, namespaces, macvtap"
command -v python3 >/dev/null || { echo "bench-queue: python3 missing (scripts/install-deps.sh installs it)" >&2; exit 77; }

trap vr_routers_cleanup EXIT
trap 'echo "bench-queue: interrupted" >&2; exit 130' INT TERM
rm -rf "$OUT"
mkdir -p "$OUT/runs"
vr_routers_init "q$$" "[host]
router-cpus=1
housekeeping-cpus=0
mode=best-effort"
BASE="<vr:cpu placement='shared' cpus='1' housekeeping='1'/>"

scenario() { # TITLE LOAD [DURATION] > conf
	printf '[bench]\ntitle=%s\nduration=%s\nrepeat=1\ngenerator-cpus=0\n' "$1" "${3:-$DURATION}"
	vr_router_scenario_group 1 R "$2"
}

configs=()
for q in $QUEUES; do
	for g in $RINGS; do
		configs+=("q$q-r$g")
		# The ring is a port attribute: the rendered <driver rx_queue_size=>.
		vr_router_define 1 "vr-q-q$q-r$g" "$BASE" "" "$q"
		sed -i "s/rx_queue_size='[0-9]*'/rx_queue_size='$g'/g" "$VR_RT_TMP/vr-q-q$q-r$g.xml"
		grep -q "rx_queue_size='$g'" "$VR_RT_TMP/vr-q-q$q-r$g.xml" || { echo "bench-queue: no rx_queue_size in the rendered domain" >&2; exit 1; }
		vr_rt_virsh define "$VR_RT_TMP/vr-q-q$q-r$g.xml" >/dev/null
	done
done
default=q50-r1024
[[ " ${configs[*]} " == *" $default "* ]] || default=${configs[0]}

echo "== capacity: the router alone on CPU 1 (configuration $default), offered $PROBE"
vr_router_start "vr-q-$default"
scenario "warm-up" 20k 2s >"$OUT/runs/warm-up.conf"
"$VR" bench --no-plot -o "$OUT/runs" "$OUT/runs/warm-up.conf" >/dev/null 2>&1 || true
scenario capacity "$PROBE" 3s >"$OUT/runs/capacity.conf"
"$VR" bench --no-plot -o "$OUT/runs" "$OUT/runs/capacity.conf" >"$OUT/runs/capacity.log" 2>&1 ||
	{ cat "$OUT/runs/capacity.log" >&2; exit 1; }
vr_router_stop "vr-q-$default"
read -r CAP _ < <(vr_capacity_of "$OUT/runs/capacity-summary.csv")
((CAP >= 1000)) || { echo "bench-queue: capacity $CAP pps: too little to measure" >&2; exit 1; }
LOAD=$(awk -v c="$CAP" -v o="$OVER" 'BEGIN { printf "%d", c * o }')
echo "   capacity $CAP pps; offered $LOAD pps ($OVER x) in every configuration: ${configs[*]}"

echo "round,config,offered_pps,sent_pps,forwarded_pps,p50_ms,p90_ms,p99_ms" >"$OUT/queue-samples.csv"
for ((r = 1; r <= ROUNDS; r++)); do
	order=$(vr_shuffle "$SEED-$r" "${configs[@]}")
	for c in $order; do
		vr_router_start "vr-q-$c"
		ip -n "vrs${VR_RT_TAG}1" neigh flush all 2>/dev/null || true
		"$VR" bench --no-plot -o "$OUT/runs" "$OUT/runs/warm-up.conf" >/dev/null 2>&1 || true
		scenario "round $r, $c" "$LOAD" >"$OUT/runs/r$r-$c.conf"
		"$VR" bench --no-plot -o "$OUT/runs" "$OUT/runs/r$r-$c.conf" >"$OUT/runs/r$r-$c.log" 2>&1 ||
			{ cat "$OUT/runs/r$r-$c.log" >&2; exit 1; }
		awk -F, -v r="$r" -v c="$c" 'NR > 1 { printf "%s,%s,%s,%s,%s,%s,%s,%s\n", r, c, $4, $5, $6, $7, $8, $9 }' \
			"$OUT/runs/r$r-$c-samples.csv" | tee -a "$OUT/queue-samples.csv" |
			awk -F, '{ printf "   round %s %-10s offered %s sent %.0f forwarded %.0f, p50 %.1f ms, p99 %.1f ms\n", $1, $2, $3, $4, $5, $6, $8 }'
		vr_router_stop "vr-q-$c"
	done
done

python3 - "$OUT" "$default" "$CAP" "$SEED" "$VR_TOP" <<'PY' | tee "$OUT/report.txt"
import csv, importlib.util, math, os, statistics, sys
out, default, cap, seed, top = sys.argv[1:6]
spec = importlib.util.spec_from_file_location("peer", os.path.join(top, "tests/bench/peer-report.py"))
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)
rows = list(csv.DictReader(open(out + "/queue-samples.csv")))
by = {}
for r in rows:
    for k in ("offered_pps", "sent_pps", "forwarded_pps", "p50_ms", "p99_ms"):
        r[k] = float(r[k])
    if r["sent_pps"] < peer.MIN_SENT * r["offered_pps"]:
        print("invalid (sent < 98%% of offered): round %s %s: sent %.0f of %.0f" % (r["round"], r["config"], r["sent_pps"], r["offered_pps"]))
        continue
    by.setdefault(r["config"], {})[r["round"]] = r
print("A lone router on CPU 1 offered 2x its capacity (%s pps); rounds shuffled (seed %s)" % (cap, seed))
print("  %-11s %-20s %-22s %-16s %-16s %s" % ("config", "offered / sent", "forwarded", "p50 ms", "p99 ms", "paired against %s: forwarded, p50, p99" % default))
with open(out + "/queue-summary.csv", "w") as o:
    o.write("config,forwarded_pps,forwarded_ci95,p50_ms,p50_ci95,p99_ms,p99_ci95,fwd_ratio,fwd_lo,fwd_hi,p50_ratio,p50_lo,p50_hi,p99_ratio,p99_lo,p99_hi,rounds\n")
    for c in sorted(by):
        v = by[c]
        f = peer.mean_ci([x["forwarded_pps"] for x in v.values()])
        p50 = peer.mean_ci([x["p50_ms"] for x in v.values()])
        p99 = peer.mean_ci([x["p99_ms"] for x in v.values()])
        pairs = sorted(set(v) & set(by.get(default, {})))
        rat = [peer.geo_ci([v[k][m] / by[default][k][m] for k in pairs]) for m in ("forwarded_pps", "p50_ms", "p99_ms")]
        print("  %-11s %-20s %-22s %-16s %-16s %s" % (c, "%.0f / %.0f" % (statistics.fmean(x["offered_pps"] for x in v.values()), statistics.fmean(x["sent_pps"] for x in v.values())),
              "%.0f ± %.0f" % f[:2], "%.2f ± %.2f" % p50[:2], "%.2f ± %.2f" % p99[:2],
              "-" if c == default else ", ".join("x%.2f [%.2f, %.2f]" % r[:3] for r in rat)))
        o.write("%s,%.1f,%.1f,%.3f,%.3f,%.3f,%.3f,%s,%d\n" % (c, f[0], f[1], p50[0], p50[1], p99[0], p99[1],
                ",".join("%.4g,%.4g,%.4g" % r[:3] for r in rat), len(v)))
PY
