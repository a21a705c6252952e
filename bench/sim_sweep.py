#!/usr/bin/python3
"""sim_sweep.py: one pgmsim scenario over a range of receiver counts, with and without PGM
network elements (issue 18); writes a CSV and an SVG plot of NAKs at the source, repair
(RDATA) bytes on the source link and completion time against the number of receivers.

Each point is its own pgmsim process (--mode with / --mode without --json), so peak RSS and
CPU time are that run's. The points grow the tree of sim/scenario.h: fanout 10 routers,
receivers on their own links under the last level, the largest on one LAN per last-level
router (a router serves at most 64 interfaces). Every other option (--packets, --loss,
--delay-ms, --seed) is the same for every point.

Usage: sim_sweep.py --pgmsim build/cli/pgmsim --csv out.csv --svg out.svg
                    [--points 10,100,1000,10000,100000] [--without-up-to 1000]
                    [--packets 100] [--loss 1] [--delay-ms 10] [--seed 1]
--append keeps the rows of an earlier --csv and runs only the points it lacks.
Points above --without-up-to run with network elements only: without them every NCF and
RDATA of the source reaches every receiver, so the run grows as receivers squared.
The plot is drawn with the standard library only (no plotting package needed).
"""

import argparse
import csv
import json
import math
import subprocess
import sys

# receivers -> (depth, fanout, receivers per last-level router, on a LAN)
SHAPES = {
    10: (1, 10, 10, False),
    100: (2, 10, 10, False),
    1000: (3, 10, 10, False),
    10000: (4, 10, 10, False),
    100000: (4, 10, 100, True),
}

FIELDS = ["receivers", "routers", "network_elements", "complete", "receivers_complete",
          "source_nak_packets", "source_max_naks_per_sqn", "source_link_rdata_bytes",
          "completion_seconds", "cpu_seconds", "virtual_seconds", "peak_rss_kib"]


def run_point(args, receivers, with_ne):
    depth, fanout, leaf, lan = SHAPES[receivers]
    cmd = [args.pgmsim, "--json", "--mode", "with" if with_ne else "without",
           "--depth", str(depth), "--fanout", str(fanout), "--leaf-receivers", str(leaf),
           "--packets", str(args.packets), "--loss", str(args.loss),
           "--delay-ms", str(args.delay_ms), "--seed", str(args.seed)]
    if lan:
        cmd.append("--leaf-lan")
    print(" ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode not in (0, 1) or not out.stdout.strip():
        sys.exit(f"sim_sweep: {' '.join(cmd)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def svg_plot(rows, path, title):
    panels = [("source_nak_packets", "NAK packets at the source"),
              ("source_link_rdata_bytes", "RDATA bytes on the source link"),
              ("completion_seconds", "completion (virtual s)")]
    w, h, pad = 330, 260, 55
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{3 * w}" height="{h + 40}" '
             'font-family="sans-serif" font-size="11">',
             f'<text x="10" y="16" font-size="13">{title}</text>']
    series = [(True, "#1f77b4", "with network elements"), (False, "#d62728", "without")]
    for i, (field, label) in enumerate(panels):
        x0, y0 = i * w + pad, 40
        pw, ph = w - pad - 15, h - 60
        pts = [r for r in rows if r[field] is not None]
        xs = [math.log10(r["receivers"]) for r in pts]
        ys = [math.log10(max(float(r[field]), 1e-3)) for r in pts]
        if not xs:
            continue
        xmin, xmax = math.floor(min(xs)), math.ceil(max(xs))
        ymin, ymax = math.floor(min(ys)), math.ceil(max(ys))
        xmax = max(xmax, xmin + 1)
        ymax = max(ymax, ymin + 1)

        def px(x):
            return x0 + (x - xmin) / (xmax - xmin) * pw

        def py(y):
            return y0 + ph - (y - ymin) / (ymax - ymin) * ph

        parts.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" '
                     'stroke="#888"/>')
        parts.append(f'<text x="{x0}" y="{y0 - 6}">{label} (log)</text>')
        for e in range(xmin, xmax + 1):
            parts.append(f'<text x="{px(e) - 10:.1f}" y="{y0 + ph + 14}">1e{e}</text>')
        for e in range(ymin, ymax + 1):
            parts.append(f'<text x="{x0 - 40}" y="{py(e) + 4:.1f}">1e{e}</text>')
            parts.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{py(e):.1f}" y2="{py(e):.1f}" '
                         'stroke="#eee"/>')
        parts.append(f'<text x="{x0 + pw / 2 - 25}" y="{y0 + ph + 30}">receivers</text>')
        for ne, colour, _ in series:
            line = [(px(math.log10(r["receivers"])), py(math.log10(max(float(r[field]), 1e-3))))
                    for r in pts if r["network_elements"] == ne]
            if not line:
                continue
            d = " ".join(f"{x:.1f},{y:.1f}" for x, y in line)
            parts.append(f'<polyline points="{d}" fill="none" stroke="{colour}" '
                         'stroke-width="2"/>')
            for x, y in line:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
    for k, (_, colour, name) in enumerate(series):
        parts.append(f'<rect x="{10 + k * 200}" y="{h + 22}" width="12" height="4" '
                     f'fill="{colour}"/><text x="{26 + k * 200}" y="{h + 28}">{name}</text>')
    parts.append("</svg>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(parts) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pgmsim", required=True)
    p.add_argument("--csv", required=True)
    p.add_argument("--svg", required=True)
    p.add_argument("--points", default="10,100,1000,10000")
    p.add_argument("--without-up-to", type=int, default=1000)
    p.add_argument("--packets", type=int, default=100)
    p.add_argument("--loss", type=float, default=1.0)
    p.add_argument("--delay-ms", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--append", action="store_true",
                   help="add the points to the rows already in --csv (same options)")
    args = p.parse_args()
    points = [int(x) for x in args.points.split(",")]
    for n in points:
        if n not in SHAPES:
            sys.exit(f"sim_sweep: no tree shape for {n} receivers (have {sorted(SHAPES)})")
    rows = []
    if args.append:
        with open(args.csv, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                r["receivers"] = int(r["receivers"])
                r["network_elements"] = r["network_elements"] == "True"
                rows.append(r)
    for n in points:
        for with_ne in (True, False):
            if not with_ne and n > args.without_up_to:
                continue
            if any(r["receivers"] == n and r["network_elements"] == with_ne for r in rows):
                continue
            r = run_point(args, n, with_ne)
            rows.append({k: r[k] for k in FIELDS})
            print(json.dumps(rows[-1]), flush=True)
    with open(args.csv, "w", newline="", encoding="utf-8") as f:
        wr = csv.DictWriter(f, fieldnames=FIELDS)
        wr.writeheader()
        wr.writerows(rows)
    svg_plot(rows, args.svg,
             f"pgmsim sweep: {args.packets} APDUs, {args.loss} % loss and {args.delay_ms} ms "
             f"per hop, seed {args.seed}")


if __name__ == "__main__":
    main()
