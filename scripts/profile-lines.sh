#!/usr/bin/env bash
# Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
#
# scripts/profile-lines.sh: where the fused kernel's instructions go, by source line, on a
# machine with a CUDA GPU and Nsight Compute (ncu).
#
# Usage: scripts/profile-lines.sh [--top N]
#
# Builds benchmarks/route_bench.cu with -lineinfo into build-prof/, then profiles with ncu
# (SourceCounters: executed instructions and stall samples of every SASS instruction) the
# second launch of each shape of the benchmark's --profile mode, as route_fused picks the
# kernel: DeepSeek-V3 fp32 at 131072 tokens and at 1 token, Kimi-K2 fp32 and DeepSeek-V3 bf16
# at 131072. For each it prints the warp instructions a token and the share of stall samples
# of the N source lines (default 40) that issue the most (scripts/sass_lines.py). Outputs go to
# $OUT if set, else build-prof/. nvcc and ncu are taken from PATH, else /usr/local/cuda/bin.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
top=40
[[ ${1:-} == --top ]] && top=$2
[[ -x /usr/local/cuda/bin/nvcc ]] && export PATH=$PATH:/usr/local/cuda/bin
out=${OUT:-build-prof}
mkdir -p build-prof "$out"
nvcc -O3 -std=c++17 -lineinfo -gencode arch=compute_90a,code=sm_90a -I include \
  benchmarks/route_bench.cu -o build-prof/route_bench
cuobjdump -xelf all build-prof/route_bench > /dev/null
mv route_bench.*.cubin build-prof/route_bench.cubin 2> /dev/null || mv ./*.cubin build-prof/route_bench.cubin
nvdisasm -g build-prof/route_bench.cubin > build-prof/route_bench.dis
# launch (counted among the route kernels), name, tokens
for run in "1 deepseek_v3_f32 131072" "3 deepseek_v3_f32_1_token 1" "5 kimi_k2_f32 131072" "7 deepseek_v3_bf16 131072"; do
  read -r skip name tokens <<< "$run"
  ncu -f -o "$out/prof_$name" -k regex:route_kernel -s "$skip" -c 1 --section SourceCounters \
    build-prof/route_bench --profile > "$out/ncu_$name.log" 2>&1
  ncu -i "$out/prof_$name.ncu-rep" --page source --csv --print-source sass > "$out/sass_$name.csv"
  echo "== $name ($tokens tokens)"
  python3 scripts/sass_lines.py "$out/sass_$name.csv" build-prof/route_bench.dis "$tokens" --top "$top"
done
