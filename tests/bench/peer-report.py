#!/usr/bin/env python3
"""The report of tests/bench/bench-peer.sh: per mode and paired against libvirt's own knobs.

Reads OUT/peer-samples.csv (one row per round, mode, step and router: step 1 has VR2
idle, step 2 VR2 overloaded) and writes OUT/peer-summary.csv, OUT/peer-ratios.csv and,
with gnuplot, OUT/peer.png; prints the tables and the goal of issue 16.

Statistics (standard library only, as every bench here):
- a figure per mode: mean and 95% CI (Student's t) over the rounds; p99 delays also as
  the median over rounds, which one stalled round does not move;
- a ratio against libvirt: per round, the mode's figure over libvirt's figure of the
  same round (paired: both ran minutes apart on the same host state); the geometric
  mean of the ratios with a 95% CI from Student's t on their logarithms.
A row whose generator sent under 98% of what was offered is invalid: it is counted and
left out (and so is its pair), never averaged in.
"""
import argparse
import csv
import math
import statistics
import subprocess
import sys

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
        18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042}
MIN_SENT = 0.98  # a step whose sent rate is under this fraction of offered is invalid
ORDER = ["none", "libvirt", "shares", "guarantee", "deadline", "fifo"]
LABEL = {"none": "no policy (pinned only)", "libvirt": "libvirt <cputune> by hand",
         "shares": "virt-router shares", "guarantee": "virt-router guarantee",
         "deadline": "virt-router deadline (fixed)", "fifo": "virt-router FIFO"}


def t975(df):
    if df <= 0:
        return float("nan")
    keys = [k for k in sorted(T975) if k <= df]
    return T975[keys[-1]] if df <= 30 else 1.96


def mean_ci(v):
    v = [x for x in v if not math.isnan(x)]
    if not v:
        return float("nan"), float("nan"), 0
    if len(v) == 1:
        return v[0], float("nan"), 1
    return statistics.fmean(v), t975(len(v) - 1) * statistics.stdev(v) / math.sqrt(len(v)), len(v)


def geo_ci(ratios):
    """Geometric mean of positive ratios and its 95% CI (low, high)."""
    logs = [math.log(x) for x in ratios if x > 0 and math.isfinite(x)]
    if len(logs) < 2:
        return float("nan"), float("nan"), float("nan"), len(logs)
    m, h = statistics.fmean(logs), t975(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(m), math.exp(m - h), math.exp(m + h), len(logs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--capacity", type=float, required=True)
    ap.add_argument("--capacity-min", type=float, default=float("nan"))
    ap.add_argument("--capacity-max", type=float, default=float("nan"))
    ap.add_argument("--share", default="")
    ap.add_argument("--over", default="")
    ap.add_argument("--duration", default="")
    ap.add_argument("--seed", default="")
    ap.add_argument("--delay", default="")
    ap.add_argument("--queue", default="")
    ap.add_argument("--strict", action="store_true")
    a = ap.parse_args()

    path = "%s/peer-samples.csv" % a.out
    rows, unreadable = [], []
    for line, r in enumerate(csv.DictReader(open(path)), start=2):
        try:
            r["round"], r["step"] = int(r["round"]), int(r["step"])
            for k in ("offered_pps", "sent_pps"):
                r[k] = float(r[k])
            # Delays and the forwarded rate are empty or nan when nothing arrived.
            for k in ("forwarded_pps", "p50_ms", "p90_ms", "p99_ms"):
                r[k] = float(r[k]) if r[k] not in ("", "nan", None) else float("nan")
        except (TypeError, ValueError, KeyError) as e:
            unreadable.append("%s:%d: %s" % (path, line, e))
            continue
        rows.append(r)
    if unreadable:
        sys.exit("peer-report: rows that do not read (expected the columns bench-peer writes):\n  " + "\n  ".join(unreadable))
    if not rows:
        sys.exit("peer-report: %s has no runs" % path)
    cell = {}  # (mode, round, step, router) -> row
    for r in rows:
        r["valid"] = r["offered_pps"] == 0 or r["sent_pps"] >= MIN_SENT * r["offered_pps"]
        cell[r["mode"], r["round"], r["step"], r["router"]] = r
    modes = [m for m in ORDER if any(k[0] == m for k in cell)]
    if "libvirt" not in modes:
        sys.exit("peer-report: no runs of the libvirt mode in %s: every mode is paired against it" % path)
    rounds = sorted({k[1] for k in cell})
    invalid = [r for r in rows if not r["valid"]]
    missing = ["round %d %s" % (rd, m) for rd in rounds for m in modes
               if not all((m, rd, st, rt) in cell for st in (1, 2) for rt in ("VR1", "VR2"))]

    def series(mode, step, router, fn):
        out = {}
        for rd in rounds:
            r = cell.get((mode, rd, step, router))
            if r is None or not r["valid"]:
                continue
            # a VR1 row is only as good as the step's VR2 row: an undelivered overload
            # did not load VR1's neighbour as asked
            other = cell.get((mode, rd, step, "VR2" if router == "VR1" else "VR1"))
            if other is not None and not other["valid"]:
                continue
            out[rd] = fn(r)
        return out

    kept = lambda r: r["forwarded_pps"] / r["sent_pps"] if r["sent_pps"] > 0 else float("nan")
    p99 = lambda r: r["p99_ms"]
    fields = [
        ("vr1_alone_kept", 1, "VR1", kept),
        ("vr1_alone_p99_ms", 1, "VR1", p99),
        ("vr1_offered_pps", 2, "VR1", lambda r: r["offered_pps"]),
        ("vr1_sent_pps", 2, "VR1", lambda r: r["sent_pps"]),
        ("vr1_forwarded_pps", 2, "VR1", lambda r: r["forwarded_pps"]),
        ("vr1_kept", 2, "VR1", kept),
        ("vr1_p50_ms", 2, "VR1", lambda r: r["p50_ms"]),
        ("vr1_p99_ms", 2, "VR1", p99),
        ("vr2_offered_pps", 2, "VR2", lambda r: r["offered_pps"]),
        ("vr2_sent_pps", 2, "VR2", lambda r: r["sent_pps"]),
        ("vr2_forwarded_pps", 2, "VR2", lambda r: r["forwarded_pps"]),
    ]
    data = {m: {f: series(m, s, rt, fn) for f, s, rt, fn in fields} for m in modes}

    # Summary per mode.
    with open("%s/peer-summary.csv" % a.out, "w") as o:
        o.write("mode," + ",".join("%s,%s_ci95" % (f, f) for f, *_ in fields) + ",vr1_p99_ms_median,rounds,vr1_p50_ms_median\n")
        for m in modes:
            vals = []
            for f, *_ in fields:
                mu, ci, _ = mean_ci(list(data[m][f].values()))
                vals += ["%.6g" % mu, "%.6g" % ci]
            med = statistics.median(data[m]["vr1_p99_ms"].values()) if data[m]["vr1_p99_ms"] else float("nan")
            med50 = statistics.median(data[m]["vr1_p50_ms"].values()) if data[m]["vr1_p50_ms"] else float("nan")
            o.write("%s,%s,%.6g,%d,%.6g\n" % (m, ",".join(vals), med, len(data[m]["vr1_kept"]), med50))

    # Paired ratios against libvirt.
    ratio_fields = [("vr1_p99_ms", "VR1 p99 delay beside VR2"), ("vr1_kept", "VR1 kept beside VR2"),
                    ("vr1_alone_p99_ms", "VR1 p99 delay alone"), ("vr2_forwarded_pps", "VR2 forwarded")]
    ratios, unpaired = {}, {}
    with open("%s/peer-ratios.csv" % a.out, "w") as o:
        o.write("mode,figure,ratio_geomean,ci95_low,ci95_high,pairs\n")
        for m in modes:
            if m == "libvirt":
                continue
            for f, _ in ratio_fields:
                base, mine = data["libvirt"][f], data[m][f]
                both = sorted(set(base) & set(mine))
                # A round where either side measured no figure (nothing forwarded: no
                # delay) cannot be paired: counted and named, never dropped silently.
                unpaired[m, f] = [k for k in both if not (base[k] > 0 and math.isfinite(mine[k]) and mine[k] > 0)]
                rs = [mine[k] / base[k] for k in both if k not in unpaired[m, f]]
                ratios[m, f] = geo_ci(rs)
                o.write("%s,%s,%.4g,%.4g,%.4g,%d\n" % ((m, f) + ratios[m, f]))

    def fmt(m, f, scale=1.0, prec=3, unit=""):
        mu, ci, n = mean_ci(list(data[m][f].values()))
        if n == 0:
            return "-"
        return ("%.*f ± %.*f%s" % (prec, mu * scale, prec, ci * scale, unit)) if n > 1 else ("%.*f%s" % (prec, mu * scale, unit))

    print("Peer comparison: VR1 and VR2 on CPU 1, generators on CPU 0; %d rounds, modes in a shuffled order per round (seed %s)" % (len(rounds), a.seed))
    print("Capacity of one router alone on CPU 1: %.0f pps (median; min %.0f, max %.0f). VR1 offered %s of it, VR2 %s x; %s per run; macvtap queue %s"
          % (a.capacity, a.capacity_min, a.capacity_max, a.share, a.over, a.duration, a.queue))
    print("Guarantee delay bound: %s" % a.delay)
    if missing:
        print("Missing runs (not measured, so not paired): %s" % ", ".join(missing))
    print("Invalid rows (sent < 98%% of offered): %d of %d%s" % (len(invalid), len(rows),
          "".join("\n   round %s %s step %s %s: offered %.0f, sent %.0f" % (r["round"], r["mode"], r["step"], r["router"], r["offered_pps"], r["sent_pps"]) for r in invalid)))
    print()
    hdr = ["mode", "VR1 alone kept", "VR1 offered/sent", "VR1 kept", "VR1 p50 ms", "VR1 p99 ms (median)", "VR1 p99 ms (mean)", "VR2 offered/sent", "VR2 forwarded"]
    table = [hdr]
    for m in modes:
        med = statistics.median(data[m]["vr1_p99_ms"].values()) if data[m]["vr1_p99_ms"] else float("nan")
        table.append([LABEL[m], fmt(m, "vr1_alone_kept"),
                      "%s / %s" % (fmt(m, "vr1_offered_pps", prec=0).split(" ")[0], fmt(m, "vr1_sent_pps", prec=0)),
                      fmt(m, "vr1_kept"), fmt(m, "vr1_p50_ms", prec=2), "%.2f" % med, fmt(m, "vr1_p99_ms", prec=2),
                      "%s / %s" % (fmt(m, "vr2_offered_pps", prec=0).split(" ")[0], fmt(m, "vr2_sent_pps", prec=0)),
                      fmt(m, "vr2_forwarded_pps", prec=0)])
    widths = [max(len(r[i]) for r in table) for i in range(len(hdr))]
    for r in table:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print()
    print("Paired against libvirt's <cputune> in the same rounds (geometric mean of per-round ratios, 95% CI):")
    for m in modes:
        if m == "libvirt":
            continue
        parts = []
        for f, label in ratio_fields:
            g, lo, hi, n = ratios[m, f]
            parts.append("%s x%.2f [%.2f, %.2f]" % (label, g, lo, hi))
        print("  %-26s %s  (%d pairs)" % (LABEL[m], "; ".join(parts), ratios[m, "vr1_p99_ms"][3]))
        if unpaired[m, "vr1_p99_ms"]:
            print("  %-26s rounds with no VR1 delay measured beside VR2 on one side, not paired: %s"
                  % ("", ", ".join(str(k) for k in unpaired[m, "vr1_p99_ms"])))

    ok = "guarantee" in modes
    print()
    if not ok:
        print("Goal of issue 16: not judged (no guarantee mode in this run)")
    else:
        k, _, n = mean_ci(list(data["guarantee"]["vr1_kept"].values()))
        g, lo, hi, _ = ratios["guarantee", "vr1_p99_ms"]
        s2, _, _ = mean_ci(list(data["guarantee"]["vr2_sent_pps"].values()))
        alone = {m: mean_ci(list(data[m]["vr1_alone_kept"].values()))[0] for m in modes}
        goals = [
            ("VR2 sent >= 2x one router's capacity", s2 >= 2 * a.capacity,
             "%.1fx the median capacity%s" % (s2 / a.capacity, "" if math.isnan(a.capacity_max) else
                                              ", %.1fx its highest reading" % (s2 / a.capacity_max))),
            ("VR1 under the guarantee keeps >= 0.99", k >= 0.99, "%.4f" % k),
            # A round without a delay measure on the guarantee's side (nothing forwarded)
            # fails the goal rather than leaving the pairs.
            ("its p99 <= 0.5x the libvirt mode's", g <= 0.5 and not unpaired["guarantee", "vr1_p99_ms"],
             "x%.2f [%.2f, %.2f]%s%s" % (g, lo, hi, " (the whole CI under 0.5)" if hi <= 0.5 else " (the CI reaches above 0.5)",
                                        "; unpaired rounds %s" % unpaired["guarantee", "vr1_p99_ms"] if unpaired["guarantee", "vr1_p99_ms"] else "")),
            ("VR1 alone keeps >= 0.99 in every mode", all(v >= 0.99 for v in alone.values()),
             ", ".join("%s %.4f" % (m, v) for m, v in alone.items())),
        ]
        print("Goal of issue 16:")
        for label, met, val in goals:
            print("  %-42s %-5s %s" % (label, "yes" if met else "NO", val))
            ok = ok and met
        print("RESULT %s" % ("goal met" if ok else "goal missed"))

    if subprocess.run(["sh", "-c", "command -v gnuplot"], stdout=subprocess.DEVNULL).returncode == 0:
        plot(a, modes)
    sys.exit(1 if a.strict and not ok else 0)


def plot(a, modes):
    s, r = "%s/peer-summary.csv" % a.out, "%s/peer-ratios.csv" % a.out
    gp = """set terminal pngcairo size 1300,460 noenhanced
set output '{out}/peer.png'
set datafile separator ','
set multiplot layout 1,3 title 'VR1 offered {share} of the capacity of one router ({cap:.0f} pps) beside VR2 offered {over}x, both on CPU 1 ({n} modes, paired rounds)'
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.6 border -1
set grid ytics
set key below
set xtics rotate by -20
set title 'VR1 kept: forwarded / sent (95% CI)'
set yrange [0:1.1]
plot '{s}' every ::1 using 2:3:xtic(1) title 'VR2 idle', '' every ::1 using 12:13 title 'VR2 overloaded'
set title 'VR1 delay, VR2 overloaded (ms, median of rounds, log)'
set logscale y
set yrange [*:*]
set style histogram clustered gap 2
plot '{s}' every ::1 using 24:xtic(1) title 'p99', '' every ::1 using 26 title 'p50'
set title 'VR1 p99 / libvirt mode p99 (paired, 95% CI)'
set style data points
unset style histogram
set xrange [-0.5:{nm}-0.5]
plot '{r}' every ::1 using ($0/4):(strcol(2) eq 'vr1_p99_ms' ? $3 : NaN):(strcol(2) eq 'vr1_p99_ms' ? $4 : NaN):(strcol(2) eq 'vr1_p99_ms' ? $5 : NaN):xtic(strcol(2) eq 'vr1_p99_ms' ? strcol(1) : '') with yerrorbars pt 7 title 'p99 ratio', 0.5 with lines dt 2 title 'goal 0.5', 1 with lines lc rgb 'gray' title 'equal'
unset multiplot
""".format(out=a.out, share=a.share, cap=a.capacity, over=a.over, n=len(modes), s=s, r=r, nm=len(modes) - 1)
    with open("%s/peer.gp" % a.out, "w") as o:
        o.write(gp)
    if subprocess.run(["gnuplot", "%s/peer.gp" % a.out]).returncode == 0:
        print("plot: %s/peer.png" % a.out)


if __name__ == "__main__":
    main()
