#!/usr/bin/env python3
"""Draw docs/benchmarks.svg from the benchmarks' result files (python3 stdlib only).

    scripts/bench/chart.py                      # target/bench/*.tsv -> docs/benchmarks.svg
    scripts/bench/chart.py docs/bench-data      # the figures docs/benchmarks.md records
    scripts/bench/chart.py --out /tmp/b.svg target/bench/dump.tsv

Inputs are TSV files written by the scripts in scripts/bench/ (their columns are described
in scripts/bench/results.sh), or directories of them. A row with a baseline is drawn in
the first panel as the ratio dfkit / baseline of the medians (< 1: dfkit is faster), with
a line at 1.0 and the row's target ratio marked; a row without one (start-up time, binary
size, peak RSS) is drawn in a panel of its own bench, in its unit, with min-max whiskers
when the row has them and its target marked. When several files hold the same bench and
case, the later one wins. The output depends only on the input: no date of its own.
"""

import argparse
import csv
import math
import os
import sys
from xml.sax.saxutils import escape

COLUMNS = [
    "bench", "case", "unit", "dfkit", "dfkit_min", "dfkit_max",
    "baseline", "baseline_min", "baseline_max", "target", "date", "load",
]

# Titles of the panels of figures that stand alone; others get "BENCH (UNIT)".
TITLES = {
    "startup": "Start-up: TOOL --version, ms (median, whisker min–max; hyperfine -N)",
    "size": "Binary size as built (release, symbols kept), MiB",
    "dump-rss": "df-dump-db dump: peak RSS, MiB (with the dump program it runs)",
    "restore-rss": "df-dump-db restore: peak RSS, MiB (with the client it runs)",
    "snapshot-rss": "df-backup-env snapshot: peak RSS, MiB",
    "perms-rss": "df-perms (all cores, changing): peak RSS, MiB",
}

WIDTH = 960
LABEL_W = 330  # room for the row labels, left of the bars
VALUE_W = 90  # room for the value, right of the plot
ROW_H = 20
BAR_H = 13
TITLE_H = 26
AXIS_H = 22
GAP = 18
FONT = "font-family:DejaVu Sans,Helvetica,Arial,sans-serif"
PASS, FAIL, NONE = "#3a8f4b", "#d9822b", "#7f8c9b"


def num(s):
    s = (s or "").strip()
    return float(s) if s else None


def read_rows(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".tsv"))
        elif os.path.exists(p):
            files.append(p)
        else:
            sys.exit("chart.py: no such file or directory: %s" % p)
    rows = {}
    for f in files:
        with open(f, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh, delimiter="\t")
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                sys.exit("chart.py: %s lacks the columns %s" % (f, ", ".join(missing)))
            for r in reader:
                rows[(r["bench"], r["case"])] = r  # later files win; order of first appearance kept
    if not rows:
        sys.exit("chart.py: no result rows in %s" % " ".join(paths))
    return list(rows.values())


def nice_step(span):
    """A tick step of 1, 2 or 5 × 10^k giving about 5 ticks over span."""
    raw = span / 5.0
    k = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * k:
            return m * k
    return 10 * k


def fmt(v):
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def panel(out, y, title, items, ratio):
    """Draw one panel at y; items are dicts label/value/lo/hi/target/unit. Returns new y."""
    plot_x, plot_w = LABEL_W, WIDTH - LABEL_W - VALUE_W
    top = max([i["value"] for i in items] + [i["hi"] or 0 for i in items]
              + [i["target"] or 0 for i in items] + ([1.0] if ratio else []))
    step = nice_step(top * 1.05)
    xmax = step * math.ceil(top * 1.05 / step)

    def x(v):
        return plot_x + plot_w * v / xmax

    out.append('<text x="10" y="%d" style="%s;font-size:14px;font-weight:bold">%s</text>'
               % (y + 17, FONT, escape(title)))
    y += TITLE_H
    h = ROW_H * len(items)
    # grid and ticks
    t = 0.0
    while t <= xmax + step / 1000:
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e3e6ea"/>' % (x(t), y, x(t), y + h))
        out.append('<text x="%.1f" y="%d" text-anchor="middle" style="%s;font-size:11px" fill="#555">%s</text>'
                   % (x(t), y + h + 14, FONT, ("%g×" % t) if ratio else "%g" % t))
        t += step
    for n, i in enumerate(items):
        ry = y + n * ROW_H
        cy = ry + ROW_H / 2
        target = i["target"]
        color = NONE if target is None else (PASS if i["value"] <= target else FAIL)
        out.append('<text x="%d" y="%.1f" text-anchor="end" style="%s;font-size:12px">%s</text>'
                   % (plot_x - 8, cy + 4, FONT, escape(i["label"])))
        out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>'
                   % (plot_x, cy - BAR_H / 2, max(x(i["value"]) - plot_x, 1), BAR_H, color,
                      escape("%s: %s%s" % (i["label"], fmt(i["value"]), i["tooltip"]))))
        if i["lo"] is not None and i["hi"] is not None:
            out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222" stroke-width="1"/>'
                       % (x(i["lo"]), cy, x(i["hi"]), cy))
            for w in (i["lo"], i["hi"]):
                out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222"/>' % (x(w), cy - 3, x(w), cy + 3))
        if target is not None:
            out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c0392b" stroke-width="2.5">'
                       '<title>target %s</title></line>'
                       % (x(target), ry + 1, x(target), ry + ROW_H - 1, fmt(target)))
        value = (fmt(i["value"]) + "×") if ratio else "%s %s" % (fmt(i["value"]), i["unit"])
        out.append('<text x="%.1f" y="%.1f" style="%s;font-size:11px">%s</text>'
                   % (WIDTH - VALUE_W + 6, cy + 4, FONT, escape(value)))
    if ratio:
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#222" stroke-dasharray="4,3"/>'
                   % (x(1.0), y - 4, x(1.0), y + h + 2))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>' % (plot_x, y, plot_x, y + h))
    return y + h + AXIS_H + GAP


def main():
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="*", default=[os.path.join(here, "target", "bench")],
                    help="TSV files or directories of them [default: target/bench]")
    ap.add_argument("--out", default=os.path.join(here, "docs", "benchmarks.svg"))
    args = ap.parse_args()
    rows = read_rows(args.inputs)

    ratios, alone = [], {}
    for r in rows:
        d, b = num(r["dfkit"]), num(r["baseline"])
        if d is None:
            continue
        if b:
            ratios.append({
                "label": "%s: %s" % (r["bench"], r["case"]), "value": d / b, "lo": None, "hi": None,
                "target": num(r["target"]), "unit": "",
                "tooltip": " (dfkit %s %s, baseline %s %s; %s, load %s)"
                % (r["dfkit"], r["unit"], r["baseline"], r["unit"], r["date"], r["load"]),
            })
        else:
            alone.setdefault((r["bench"], r["unit"]), []).append({
                "label": r["case"], "value": d, "lo": num(r["dfkit_min"]), "hi": num(r["dfkit_max"]),
                "target": num(r["target"]), "unit": r["unit"],
                "tooltip": " %s (%s, load %s)" % (r["unit"], r["date"], r["load"]),
            })

    dates = sorted(r["date"] for r in rows if r["date"])
    loads = sorted(float(r["load"]) for r in rows if num(r["load"]) is not None)
    body = []
    y = 10
    body.append('<text x="10" y="%d" style="%s;font-size:17px;font-weight:bold">dfkit benchmarks</text>' % (y + 16, FONT))
    note = "Medians of ≥ 5 runs, dfkit and its baseline side by side in one run. Red tick: the target; green: met, orange: not met, grey: no target."
    if dates:
        note2 = "Measured %s … %s, 1-minute load average %s–%s before each case (see docs/benchmarks.md for the machine)." % (
            dates[0], dates[-1], fmt(loads[0]) if loads else "?", fmt(loads[-1]) if loads else "?")
    else:
        note2 = ""
    body.append('<text x="10" y="%d" style="%s;font-size:11px" fill="#444">%s</text>' % (y + 34, FONT, escape(note)))
    body.append('<text x="10" y="%d" style="%s;font-size:11px" fill="#444">%s</text>' % (y + 49, FONT, escape(note2)))
    y += 62
    if ratios:
        y = panel(body, y, "dfkit / baseline, median wall time (dashed: 1.0, same speed; < 1: dfkit faster)", ratios, True)
    for (bench, unit), items in alone.items():
        y = panel(body, y, TITLES.get(bench, "%s (%s)" % (bench, unit)), items, False)

    svg = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">' % (WIDTH, y, WIDTH, y),
           '<rect width="100%" height="100%" fill="#ffffff"/>'] + body + ["</svg>", ""]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(svg))
    os.replace(tmp, args.out)
    print("chart.py: %d ratios, %d other figures -> %s" % (len(ratios), sum(len(v) for v in alone.values()), args.out),
          file=sys.stderr)


if __name__ == "__main__":
    main()
