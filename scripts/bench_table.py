#!/usr/bin/env python3
# Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
"""Print the results table of docs/performance.md from a CSV of moe_router_bench.

    python3 scripts/bench_table.py docs/route_bench_h100.csv
    python3 scripts/bench_table.py docs/route_bench_h100.csv --check docs/performance.md \
        --heading "## Results (H100)"     # exit 1 if the first table under that heading differs

One Markdown row per CSV row, in the CSV's order, with the columns and decimals of the
benchmark's own summary table (its stdout). The CSV carries one more decimal than the table
(four for times and ratios, whole tokens per second), so that the table shows what the run
printed; CSVs written before that (three decimals, four significant figures for tokens per
second) can differ from it in a last digit. "-": the reference kernel was not timed.
"""

import argparse
import csv
import difflib
import re
import sys

HEADER = ("| shape | logits | tokens | inputs | lanes | fused µs | floor µs | fused / floor | fused GB/s "
          "| Mtokens/s | reference µs |")
ALIGN = "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"


def table(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{path}: no rows")
    lines = [HEADER, ALIGN]
    for r in rows:
        fused, floor = float(r["fused_us"]), float(r["floor_us"])
        reference = float(r["reference_us"])
        lines.append("| {} | {} | {} | {} | {} | {:.2f} | {:.2f} | {:.2f} | {:.0f} | {:.1f} | {} |".format(
            r["shape"], r["logits"], r["tokens"], r["inputs"], r["lanes_per_token"], fused, floor,
            float(r["fused_over_floor"]), float(r["fused_GBps"]), float(r["fused_tokens_per_s"]) / 1e6,
            f"{reference:.0f}" if reference > 0 else "-"))
    return "\n".join(lines)


def table_under(doc, heading):
    """The first Markdown table after the line `heading` of the file `doc`."""
    with open(doc, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if heading not in lines:
        sys.exit(f"{doc}: no line '{heading}'")
    start = next((i for i in range(lines.index(heading), len(lines)) if lines[i].startswith("|")), None)
    if start is None:
        sys.exit(f"{doc}: no table after '{heading}'")
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join(lines[start:end])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", help="a CSV written by moe_router_bench --csv")
    parser.add_argument("--check", metavar="DOC", help="compare with the table in DOC instead of printing")
    parser.add_argument("--heading", default="## Results (H100)", help="the heading the table follows in DOC")
    args = parser.parse_args()
    expected = table(args.csv)
    if not args.check:
        print(expected)
        return
    # A heading that names a card ("## Results (H100)") takes only a CSV measured on that card.
    card = re.search(r"\((H\d+)\)", args.heading)
    if card:
        with open(args.csv, newline="") as f:
            others = sorted({r["device"] for r in csv.DictReader(f) if card.group(1) not in r["device"]})
        if others:
            sys.exit(f"{args.csv}: measured on {', '.join(others)}, not on the {card.group(1)} of '{args.heading}'")
    found = table_under(args.check, args.heading)
    if found != expected:
        diff = difflib.unified_diff(found.splitlines(), expected.splitlines(), f"{args.check} ({args.heading})",
                                    f"from {args.csv}", lineterm="")
        sys.exit("\n".join(diff))
    print(f"{args.check} ({args.heading}): the table matches {args.csv}")


if __name__ == "__main__":
    main()
