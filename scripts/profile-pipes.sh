#!/usr/bin/env bash
# Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
#
# scripts/profile-pipes.sh: what holds the fused kernel back, on a machine with a CUDA GPU and
# Nsight Compute (ncu): how busy each execution pipe is, how often the schedulers issue, and
# what the warps wait for.
#
# Usage: scripts/profile-pipes.sh
#
# Builds benchmarks/route_bench.cu into build-prof/ (as scripts/profile-lines.sh does), then
# profiles the second launch of five shapes of the benchmark's --profile mode, as route_fused
# picks the kernel: DeepSeek-V3 fp32 at 131072, 1 and 2048 tokens, Kimi-K2 fp32 and DeepSeek-V3
# bf16 at 131072. The caches are left as the launch before left them (--cache-control none), as
# in the benchmark's graphs, where the same kernel runs again and again. For each it prints the
# warp instructions a token, the share of cycles the schedulers issued in, the warps each
# scheduler held, each pipe's share of its peak (alu: integer and compare, min/max, select;
# fmaheavy and fmalite: the two halves of the fp32 pipe, fmaheavy also the integer multiply-add;
# xu: the MUFU's transcendentals and conversions; lsu: loads, stores, shuffles; adu: branches'
# address unit; cbu: convergence), and the stall reasons in cycles a warp waits per instruction
# issued. Outputs go to $OUT if set, else build-prof/. nvcc and ncu are taken from PATH, else
# /usr/local/cuda/bin.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -x /usr/local/cuda/bin/nvcc ]] && export PATH=$PATH:/usr/local/cuda/bin
out=${OUT:-build-prof}
mkdir -p build-prof "$out"
nvcc -O3 -std=c++17 -lineinfo -gencode arch=compute_90a,code=sm_90a -I include \
  benchmarks/route_bench.cu -o build-prof/route_bench
pipes=alu,fmaheavy,fmalite,xu,lsu,adu,cbu,uniform
metrics=sm__inst_executed.sum,smsp__issue_active.avg.pct_of_peak_sustained_active
metrics+=,smsp__warps_active.avg.per_cycle_active
for pipe in ${pipes//,/ }; do metrics+=,sm__inst_executed_pipe_$pipe.avg.pct_of_peak_sustained_active; done
nvidia-smi --query-gpu=name --format=csv,noheader | head -n1
# launch (counted among the route kernels), name, tokens
for run in "1 deepseek_v3_f32 131072" "3 deepseek_v3_f32_1_token 1" "9 deepseek_v3_f32_2048 2048" \
  "5 kimi_k2_f32 131072" "7 deepseek_v3_bf16 131072"; do
  read -r skip name tokens <<< "$run"
  ncu --cache-control none -k regex:route_kernel -s "$skip" -c 1 --metrics "$metrics" --section WarpStateStats \
    --page raw --csv build-prof/route_bench --profile > "$out/pipes_$name.csv" 2> "$out/pipes_$name.log"
  python3 - "$out/pipes_$name.csv" "$name" "$tokens" "$pipes" << 'EOF'
import csv, sys

path, name, tokens, pipes = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(",")
rows = list(csv.reader(open(path)))
start = next(i for i, r in enumerate(rows) if r[:1] == ["ID"])  # after the benchmark's own lines
header, values = rows[start], rows[start + 2]  # the metric names, the units, the one kernel
m = dict(zip(header, values))
num = lambda key: float(m[key].replace(",", ""))
line = f"== {name}: {num('sm__inst_executed.sum') / tokens:.1f} warp instructions a token, "
line += f"issue active {num('smsp__issue_active.avg.pct_of_peak_sustained_active'):.1f}%, "
line += f"{num('smsp__warps_active.avg.per_cycle_active'):.2f} warps a scheduler"
print(line)
print("   pipes (% of peak): " + ", ".join(
    f"{p} {num(f'sm__inst_executed_pipe_{p}.avg.pct_of_peak_sustained_active'):.1f}" for p in pipes))
prefix, suffix = "smsp__average_warps_issue_stalled_", "_per_issue_active.ratio"
stalls = [(k[len(prefix):-len(suffix)], num(k)) for k in m if k.startswith(prefix) and k.endswith(suffix)]
stalls = sorted((s for s in stalls if s[1] >= 0.05 and s[0] != "selected"), key=lambda s: -s[1])
print("   stalls (cycles a warp waits per issued instruction): " + ", ".join(f"{k} {v:.2f}" for k, v in stalls))
EOF
done
