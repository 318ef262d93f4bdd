#!/usr/bin/env python3
# Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
"""Plot the benchmark CSV of moe_router_bench as docs/performance.png.

    build/benchmarks/moe_router_bench --csv route_bench.csv
    python3 scripts/plot_performance.py route_bench.csv            # writes docs/performance.png
    python3 scripts/plot_performance.py route_bench.csv -o out.png --device H100

The CSV has the columns device, shape, logits, tokens, inputs, fused_us, floor_us,
fused_over_floor, fused_tokens_per_s, fused_GBps, reference_us (one row per shape, logits type
and token count). The figure has two panels over the token count (log scale):
  1. the fused kernel's time and the traffic floor's (the time it takes just to move the bytes
     routing must move), one color per shape and logits type, fused solid, floor dashed;
  2. fused / floor, with horizontal lines at the target ratios (1.25, 1.5 and 2 by default).
Needs matplotlib (`pip install matplotlib`, or Debian's `python3-matplotlib`); it is not a dependency
of the library.
"""

import argparse
import csv
import pathlib
import sys
from collections import defaultdict

COLUMNS = ["device", "shape", "logits", "tokens", "inputs", "fused_us", "floor_us", "fused_over_floor",
           "fused_tokens_per_s", "fused_GBps", "reference_us"]


def read_rows(path, device_filter=None):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            sys.exit(f"{path}: missing column(s) {', '.join(missing)} (expected {','.join(COLUMNS)})")
        rows = []
        for r in reader:
            if device_filter and device_filter.lower() not in r["device"].lower():
                continue
            r["tokens"] = int(r["tokens"])
            for c in ("fused_us", "floor_us", "fused_over_floor"):
                r[c] = float(r[c])
            rows.append(r)
    if not rows:
        sys.exit(f"{path}: no rows" + (f" for device '{device_filter}'" if device_filter else ""))
    return rows


def series(rows):
    """(device, shape, logits) -> rows sorted by tokens."""
    out = defaultdict(list)
    for r in rows:
        out[(r["device"], r["shape"], r["logits"])].append(r)
    for key in out:
        out[key].sort(key=lambda r: r["tokens"])
    return dict(sorted(out.items()))


def token_label(value, _position=None):
    """1, 4, ..., 256, 1K, 4K, ..., 1M."""
    v = int(round(value))
    for unit, suffix in ((1 << 20, "M"), (1 << 10, "K")):
        if v >= unit and v % unit == 0:
            return f"{v // unit}{suffix}"
    return str(v)


def plot(rows, output, targets, title=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    groups = series(rows)
    devices = sorted({key[0] for key in groups})
    fig, (ax_time, ax_ratio) = plt.subplots(2, 1, figsize=(9, 9), sharex=True,
                                            gridspec_kw={"height_ratios": [3, 2]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, ((device, shape, logits), rs) in enumerate(groups.items()):
        color = colors[i % len(colors)]
        label = f"{shape} {logits}" + (f" ({device})" if len(devices) > 1 else "")
        tokens = [r["tokens"] for r in rs]
        ax_time.plot(tokens, [r["fused_us"] for r in rs], "-o", color=color, markersize=3, label=f"{label} fused")
        ax_time.plot(tokens, [r["floor_us"] for r in rs], "--", color=color, alpha=0.7, label=f"{label} floor")
        ax_ratio.plot(tokens, [r["fused_over_floor"] for r in rs], "-o", color=color, markersize=3, label=label)
        # HBM-resident inputs (larger than the L2 holds) are marked with hollow points.
        hbm = [r for r in rs if r["inputs"].upper() == "HBM"]
        if hbm:
            ax_ratio.plot([r["tokens"] for r in hbm], [r["fused_over_floor"] for r in hbm], "o", color=color,
                          markerfacecolor="white", markersize=6)

    ax_time.set_xscale("log", base=2)
    ax_time.set_yscale("log")
    ax_time.set_ylabel("time per call (us)")
    ax_time.grid(True, which="both", alpha=0.3)
    ax_time.legend(fontsize=7, ncol=2)
    ax_time.set_title(title or f"moe_router fused kernel vs traffic floor ({', '.join(devices)})")

    styles = [":", "-.", "--"]
    for j, target in enumerate(sorted(targets)):
        ax_ratio.axhline(target, color="gray", linestyle=styles[j % len(styles)], linewidth=1,
                         label=f"target {target:g}x")
    ax_ratio.axhline(1.0, color="black", linewidth=0.8)
    ax_ratio.set_xscale("log", base=2)
    ax_ratio.set_xlabel("tokens")
    ax_ratio.set_ylabel("fused / floor")
    ratios = [r["fused_over_floor"] for r in rows]
    ax_ratio.set_ylim(min(ratios + [1.0]) * 0.9, max(ratios + list(targets)) * 1.08)
    tick_format = matplotlib.ticker.FuncFormatter(token_label)
    ax_ratio.xaxis.set_major_formatter(tick_format)
    ax_ratio.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=4))
    ax_ratio.grid(True, which="both", alpha=0.3)
    ax_ratio.legend(fontsize=7, ncol=3, loc="upper left", title="hollow points: inputs from HBM", title_fontsize=7)

    fig.tight_layout()
    output = pathlib.Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=130)
    plt.close(fig)
    return output


def main(argv=None):
    root = pathlib.Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default="route_bench.csv", help="benchmark CSV (default: route_bench.csv)")
    parser.add_argument("-o", "--output", default=str(root / "docs" / "performance.png"),
                        help="image to write (default: docs/performance.png)")
    parser.add_argument("--device", help="only the rows whose device name contains this")
    parser.add_argument("--targets", default="1.25,1.5,2",
                        help="fused/floor target ratios drawn on the second panel (default: 1.25,1.5,2)")
    parser.add_argument("--title", help="title of the figure")
    args = parser.parse_args(argv)
    targets = [float(t) for t in args.targets.split(",") if t.strip()]
    rows = read_rows(args.csv, args.device)
    out = plot(rows, args.output, targets, args.title)
    print(f"wrote {out} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
