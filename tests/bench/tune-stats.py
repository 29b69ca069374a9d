#!/usr/bin/env python3
"""tune-stats.py: latencies of bench-tune.sh's runs, and the tuner against its peer.

Each SAMPLE is NAME=CSV:COLUMN, a column of fake-qemu's CSV in microseconds, or
NAME=CSV:COLUMN-OTHER, their difference per thread (-1, a timeout, in either is
counted and left out). For each sample: count, median and p99 (nearest
rank, as fake-qemu computes them) with 95% bootstrap intervals. For each --ratio
A/B: the ratios of A's median and p99 to B's, with 95% intervals from resampling A
and B independently (their threads are not paired: each process sees the same
pauses, not the same moments), percentile method. Deterministic for a seed.

Prints one line per sample and ratio; --json FILE writes them as one JSON object.

Usage: tune-stats.py [--resamples N] [--seed S] [--json FILE] SAMPLE... [--ratio A/B]...
"""
import argparse
import csv
import json
import math
import random
import sys


def rank(sorted_values, q):
    """Nearest rank, ceil: fake-qemu's median (q=0.5 rounds down) and p99."""
    n = len(sorted_values)
    if q == 0.5:
        return sorted_values[(n - 1) // 2]
    return sorted_values[max(1, math.ceil(q * n)) - 1]


def stats(values):
    s = sorted(values)
    return rank(s, 0.5), rank(s, 0.99)


def interval(points):
    points = sorted(points)
    lo = points[int(0.025 * (len(points) - 1))]
    hi = points[int(math.ceil(0.975 * (len(points) - 1)))]
    return [lo, hi]


def load(spec):
    name, _, rest = spec.partition("=")
    path, _, column = rest.rpartition(":")
    if not name or not path or not column:
        sys.exit("tune-stats: sample '%s': expected NAME=CSV:COLUMN" % spec)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = column.split("-")
    for c in columns:
        if rows and c not in rows[0]:
            sys.exit("tune-stats: %s has no column '%s'" % (path, c))
    values, missing = [], 0
    for r in rows:
        v = [int(r[c]) for c in columns]
        if min(v) < 0:
            missing += 1
        else:
            values.append(v[0] - sum(v[1:]))
    return name, values, missing


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json")
    ap.add_argument("--ratio", action="append", default=[])
    ap.add_argument("samples", nargs="+")
    a = ap.parse_args()
    rng = random.Random(a.seed)

    samples, out = {}, {"resamples": a.resamples, "samples": {}, "ratios": {}}
    boots = {}
    for spec in a.samples:
        name, values, missing = load(spec)
        samples[name] = values
        entry = {"n": len(values), "timeouts": missing}
        if values:
            med, p99 = stats(values)
            bm, bp = [], []
            for _ in range(a.resamples):
                m, p = stats(rng.choices(values, k=len(values)))
                bm.append(m)
                bp.append(p)
            boots[name] = (bm, bp)
            entry.update(median_us=med, median_ci_us=interval(bm), p99_us=p99, p99_ci_us=interval(bp),
                         max_us=max(values))
            print("%s: n=%d timeouts=%d median=%d us [%d, %d] p99=%d us [%d, %d] max=%d us" % (
                name, len(values), missing, med, *entry["median_ci_us"], p99, *entry["p99_ci_us"], max(values)))
        else:
            print("%s: n=0 timeouts=%d" % (name, missing))
        out["samples"][name] = entry
    for r in a.ratio:
        x, _, y = r.partition("/")
        if x not in samples or y not in samples:
            sys.exit("tune-stats: --ratio %s: expected two sample names" % r)
        if x not in boots or y not in boots:
            out["ratios"][r] = None
            print("%s: no ratio (a sample is empty)" % r)
            continue
        (xm, xp), (ym, yp) = stats(samples[x]), stats(samples[y])
        rm = [p / q for p, q in zip(boots[x][0], boots[y][0]) if q > 0]
        rp = [p / q for p, q in zip(boots[x][1], boots[y][1]) if q > 0]
        entry = {"median": xm / ym if ym else None, "median_ci": interval(rm) if rm else None,
                 "p99": xp / yp if yp else None, "p99_ci": interval(rp) if rp else None}
        out["ratios"][r] = entry

        def fmt(v, ci):
            if v is None or ci is None:
                return "n/a"
            return "x%.4f [%.4f, %.4f]" % (v, ci[0], ci[1])

        print("%s: median %s, p99 %s" % (r, fmt(entry["median"], entry["median_ci"]),
                                         fmt(entry["p99"], entry["p99_ci"])))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, separators=(",", ":"))
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
