#!/usr/bin/env python3
# Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
"""Executed warp instructions and stall samples of one kernel, by source line.

Usage: sass_lines.py SASS_CSV DISASSEMBLY TOKENS [--top N]

SASS_CSV: Nsight Compute's SASS view of one profiled launch (`ncu -i REPORT --page source --csv
--print-source sass`, a report with the SourceCounters section). DISASSEMBLY: `nvdisasm -g` of
the cubin that launch ran, built with -lineinfo. The kernel is the function of DISASSEMBLY whose
instructions are those of SASS_CSV. Each instruction counts for the innermost source line that
nvdisasm gives it; counts are divided by TOKENS (warp instructions a token). scripts/profile-lines.sh
runs the whole chain on a GPU machine.
"""
import collections
import csv
import re
import sys


def opcode(text):
    words = text.replace(';', ' ').split()
    if words and words[0].startswith('@'):
        words = words[1:]
    return words[0] if words else ''


def functions(path):
    """{name: [(offset, opcode, (file, line))]} from nvdisasm -g output."""
    out, name, where = {}, None, None
    for line in open(path):
        m = re.match(r'\.text\.(\S+):', line)
        if m:
            name, where = m.group(1), None
            out[name] = []
            continue
        m = re.search(r'//## File "([^"]+)", line (\d+)', line)
        if m:
            where = (m.group(1).split('/')[-1], int(m.group(2)))
            continue
        m = re.search(r'/\*([0-9a-f]{4,})\*/\s+([^;]*);', line)
        if m and name:
            out[name].append((int(m.group(1), 16), opcode(m.group(2)), where))
    return out


def main():
    args = sys.argv[1:]
    top = 40
    if '--top' in args:
        i = args.index('--top')
        top = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 3:
        sys.exit(__doc__)
    sass_csv, disassembly, tokens = args[0], args[1], float(args[2])
    rows = [r for r in csv.reader(open(sass_csv))]
    header = next(i for i, r in enumerate(rows) if r and r[0] == 'Address')
    kernel = rows[header - 1][1] if header > 0 and len(rows[header - 1]) > 1 else '?'
    names = rows[header]
    executed, samples = names.index('Instructions Executed'), names.index('Warp Stall Sampling (All Samples)')
    body = [r for r in rows[header + 1:] if len(r) > executed and r[0].startswith('0x')]
    ops = [opcode(r[1]) for r in body]
    matches = [(n, f) for n, f in functions(disassembly).items()
               if len(f) == len(ops) and sum(a[1] == b for a, b in zip(f, ops)) >= 0.95 * len(ops)]
    if len(matches) != 1:
        sys.exit('sass_lines: %d functions of %s match the %d instructions of %s' % (len(matches), disassembly, len(ops), sass_csv))
    function = matches[0][1]
    by_line, stalls = collections.Counter(), collections.Counter()
    for r, (_, _, where) in zip(body, function):
        by_line[where] += float(r[executed] or 0)
        stalls[where] += float(r[samples] or 0)
    total, total_samples = sum(by_line.values()), sum(stalls.values()) or 1
    print('%s\n%.1f warp instructions a token, %d stall samples' % (kernel, total / tokens, total_samples))
    print('%9s %9s  %s' % ('instr/tok', 'samples', 'file:line'))
    for where, n in by_line.most_common(top):
        print('%9.2f %8.1f%%  %s' % (n / tokens, 100 * stalls[where] / total_samples,
                                     '%s:%d' % where if where else '(no line)'))


if __name__ == '__main__':
    main()
