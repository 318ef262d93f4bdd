#!/usr/bin/env python3
# Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
"""The worked example of docs/semantics.md, recomputed step by step in fp32.

A small shape with the structure of DeepSeek-V3: E=16 experts in G=4 groups of 4, the
TG=2 best groups kept by the sum of their two best choice scores, K=4 experts routed,
sigmoid scores plus a bias, renormalize and scale_output with a factor of 2.5, and one
shared slot (NS=1). Every operation is done on numpy float32 values, in the order the
contract gives, so the printed numbers are what the library computes (up to an ulp of
`exp`, which numpy and libm may round differently).

    python3 docs/worked_example.py          # the Markdown tables of the doc
    python3 docs/worked_example.py --cpp    # the expected outputs as C++ initializers

tests/host/worked_example_test.cpp holds the same inputs and checks the library against the
printed outputs.
"""

import math
import sys

import numpy as np

f32 = np.float32
NAN, INF = float("nan"), float("inf")

E, G, TG, K = 16, 4, 2, 4
GROUP_SIZE = E // G
FACTOR = f32(2.5)
NUM_SHARED_EXPERTS = 1

BIAS = [f32(v) for v in [0, 0, 0, 0, 0.125, 0, 0, -0.125, 0, 0.25, 0, 0, 0, 0, 0, 0]]

LOGITS = [
    # token 0: the ordinary case; the bias lifts expert 4 above expert 10
    [-1, 0.5, -2, 0, 1, 2, -1, 1.5, 0, 1, 1.5, -0.5, -1.5, 1, -3, 0],
    # token 1: the best single expert (0) sits in a group that is not kept
    [3, -2, -2.5, -3, 1, 1, -1, 0, 0.5, 0.5, 1.5, -1, 1, 0.5, 0.5, -2],
    # token 2: a NaN, a -inf, two tied groups and a tie at the last slot
    [NAN, 2, -INF, 1, 0, 0, 0, 0, 2, 1, 1, -1, 1, -INF, 2, 0],
]
LOGITS = [[f32(v) for v in row] for row in LOGITS]


def sigmoid(x):
    # 1 / (1 + exp(-x)), evaluated as numeric.hpp's sigmoid_score: t = exp(-|x|), r = 1 / (1 + t),
    # r for x >= 0 and t * r otherwise
    t = np.exp(-np.abs(x))
    r = f32(1) / (f32(1) + t)
    return r if x >= 0 else t * r


def order(values, indices):
    """`indices` sorted by the contract: larger value first, NaN last, lower index on ties."""
    return sorted(indices, key=lambda i: (math.isnan(values[i]), -float(values[i]) if not math.isnan(values[i]) else 0, i))


def route(t, logits):
    s = [sigmoid(x) for x in logits]                                     # step 1
    b = [s[e] + BIAS[e] for e in range(E)]                               # step 2
    groups = []                                                          # step 3
    for g in range(G):
        members = order(b, range(g * GROUP_SIZE, (g + 1) * GROUP_SIZE))
        groups.append((members[0], members[1], b[members[0]] + b[members[1]]))
    group_scores = [gs for _, _, gs in groups]
    group_rank = order(group_scores, range(G))
    kept = sorted(group_rank[:TG])
    candidates = [e for e in range(E) if e // GROUP_SIZE in kept]
    ids = order(b, candidates)[:K]                                       # step 4
    w = [s[e] for e in ids]                                              # step 5
    total = f32(0)                                                       # step 6
    for v in w:
        total = total + v
    divisor = f32(1) if total == 0 else total
    w_renorm = [v / divisor for v in w]
    w_scaled = [v * FACTOR for v in w_renorm]                            # step 7
    shared_sum = f32(0)                                                  # step 8
    for v in w_scaled:
        shared_sum = shared_sum + v
    shared_weight = shared_sum / FACTOR
    shared_id = E + t % NUM_SHARED_EXPERTS
    return dict(s=s, b=b, groups=groups, group_rank=group_rank, kept=kept, ids=ids, w=w, total=total,
                w_renorm=w_renorm, w_scaled=w_scaled, shared_sum=shared_sum, shared_weight=shared_weight,
                shared_id=shared_id)


def fmt(v):
    v = f32(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "-inf" if v < 0 else "inf"
    return repr(float(v)) if float(v) == int(v) and abs(v) < 1e6 else str(v)


def markdown():
    out = []
    for t, logits in enumerate(LOGITS):
        r = route(t, logits)
        out.append(f"### Token {t}\n")
        out.append("| e | group | logit x | s = sigmoid(x) | bias | b = s + bias |")
        out.append("|---:|---:|---:|---:|---:|---:|")
        for e in range(E):
            out.append(f"| {e} | {e // GROUP_SIZE} | {fmt(logits[e])} | {fmt(r['s'][e])} | {fmt(BIAS[e])} | {fmt(r['b'][e])} |")
        out.append("")
        out.append("| group | two best experts | group score | rank | kept |")
        out.append("|---:|---|---:|---:|---|")
        for g, (first, second, score) in enumerate(r["groups"]):
            rank = r["group_rank"].index(g)
            out.append(f"| {g} | {first}, {second} | {fmt(score)} | {rank} | {'yes' if g in r['kept'] else 'no'} |")
        out.append("")
        out.append("| slot | id | b | w = s | w / sum | x 2.5 (output) |")
        out.append("|---:|---:|---:|---:|---:|---:|")
        for k, e in enumerate(r["ids"]):
            out.append(f"| {k} | {e} | {fmt(r['b'][e])} | {fmt(r['w'][k])} | {fmt(r['w_renorm'][k])} | {fmt(r['w_scaled'][k])} |")
        out.append(f"| {K} (shared) | {r['shared_id']} | | | | {fmt(r['shared_weight'])} |")
        out.append("")
        out.append(f"Sum of the chosen scores (slot order): {fmt(r['total'])}. Sum of the scaled weights: "
                   f"{fmt(r['shared_sum'])}, divided by 2.5: {fmt(r['shared_weight'])}.\n")
    return "\n".join(out)


def cpp():
    out = []
    for t, logits in enumerate(LOGITS):
        r = route(t, logits)
        ids = list(r["ids"]) + [r["shared_id"]]
        weights = list(r["w_scaled"]) + [r["shared_weight"]]
        out.append(f"// token {t}")
        out.append("{" + ", ".join(str(i) for i in ids) + "},")
        out.append("{" + ", ".join(f"{fmt(w)}f" for w in weights) + "},")
    return "\n".join(out)


if __name__ == "__main__":
    print(cpp() if "--cpp" in sys.argv else markdown())
