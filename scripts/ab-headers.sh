#!/usr/bin/env bash
# Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
#
# scripts/ab-headers.sh: time two revisions of the library's headers against each other on one
# GPU, with benchmarks/kernel_sweep.cu, alternating the two builds so that both see the same
# card, clocks and neighbours.
#
# Usage:
#   scripts/ab-headers.sh build REV_A REV_B      compile (nvcc, no GPU needed)
#   scripts/ab-headers.sh run [--rounds N] [-- SWEEP_ARGS...]
#                                                time them (a GPU; nothing is compiled)
#
# build: compiles this checkout's benchmarks/kernel_sweep.cu against REV_A's include/ and then
#   REV_B's (a commit, a branch, or WORKTREE for the working tree's headers) into
#   build-ab/sweep_a and build-ab/sweep_b, for sm_90a; the registers and spills of each kernel
#   (`-Xptxas -v`) go to build-ab/ptxas_{a,b}.txt, and the two revisions to build-ab/revisions.
# run: runs sweep_a, sweep_b, sweep_a, sweep_b, ... N rounds (default 2) with SWEEP_ARGS (see
#   kernel_sweep.cu: --shapes, --tokens, --lanes, --replays) and prints one line a case: the
#   times of A, those of B, and B's best against A's best. Outputs go to $OUT if set, else
#   build-ab/. A case that fails its check against the reference kernel fails the run.
#
# With the device tool: `build` here, then `run` there with carry ["build-ab"].
# nvcc is taken from CUDACXX, else PATH, else /usr/local/cuda/bin.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=build-ab

usage()
{
  echo "usage: $0 build REV_A REV_B | run [--rounds N] [-- SWEEP_ARGS...]" >&2
  exit 2
}

build()
{
  [[ $# -eq 2 ]] || usage
  local nvcc=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
  mkdir -p "$dir"
  : > "$dir/revisions"
  local label rev
  for label in a b; do
    rev=$1
    shift
    rm -rf "$dir/include_$label"
    mkdir -p "$dir/include_$label"
    if [[ $rev == WORKTREE ]]; then
      cp -r include "$dir/include_$label/"
    else
      git archive "$rev" include | tar -x -C "$dir/include_$label"
    fi
    if [[ $rev == WORKTREE ]]; then
      echo "$label: the working tree's headers (HEAD $(git rev-parse --short HEAD) and what is not committed)"
    else
      echo "$label: $rev ($(git rev-parse --short "$rev"))"
    fi >> "$dir/revisions"
    echo "== building $label ($rev)"
    "$nvcc" -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Xptxas -v -I "$dir/include_$label/include" \
      benchmarks/kernel_sweep.cu -o "$dir/sweep_$label" 2> "$dir/ptxas_$label.txt"
  done
  cat "$dir/revisions"
}

run()
{
  local rounds=2
  while [[ $# -gt 0 ]]; do
    case $1 in
      --rounds) rounds=$2; shift 2 ;;
      --) shift; break ;;
      *) usage ;;
    esac
  done
  [[ -x $dir/sweep_a && -x $dir/sweep_b ]] || { echo "ab-headers: run 'build' first" >&2; exit 2; }
  local out=${OUT:-$dir}
  mkdir -p "$out"
  cat "$dir/revisions" 2>/dev/null || true
  local r label failed=0
  for ((r = 1; r <= rounds; ++r)); do
    for label in a b; do
      "$dir/sweep_$label" "$@" > "$out/ab_${label}_$r.txt" || failed=1
      grep -h -m1 '^# device\|^no CUDA device' "$out/ab_${label}_$r.txt" || true
    done
  done
  # One line a case (shape, logits, tokens, lanes): A's times, B's times, best of B over best of A.
  awk '
    FNR == 1 { match(FILENAME, /ab_[ab]_[0-9]+\.txt$/); label = substr(FILENAME, RSTART + 3, 1) }
    $1 == "sweep" {
      key = $2 " " $3 " " $4 " " $5 (NF > 6 ? " " $7 : "")
      if (!(key in seen)) { seen[key] = 1; order[++n] = key }
      times[key, label] = times[key, label] sprintf(" %8.3f", $6)
      if (!((key, label) in best) || $6 < best[key, label]) best[key, label] = $6
    }
    END {
      printf "%-18s %-5s %7s %5s   %-s\n", "shape", "logits", "tokens", "lanes", "A (us) | B (us) | B/A - 1"
      for (i = 1; i <= n; ++i) {
        k = order[i]
        split(k, f, " ")
        change = ((k, "a") in best && (k, "b") in best) ? sprintf("%+6.1f%%", 100 * (best[k, "b"] / best[k, "a"] - 1)) : "n/a"
        printf "%-18s %-5s %7s %5s  %s |%s | %s%s\n", f[1], f[2], f[3], f[4], times[k, "a"], times[k, "b"], change,
               (5 in f) ? "  " f[5] : ""
      }
    }' $(for ((r = 1; r <= rounds; ++r)); do echo "$out/ab_a_$r.txt" "$out/ab_b_$r.txt"; done) | tee "$out/ab_summary.txt"
  grep -h '^FAILED' "$out"/ab_?_*.txt && failed=1
  return $failed
}

[[ $# -ge 1 ]] || usage
command=$1
shift
case $command in
  build) build "$@" ;;
  run) run "$@" ;;
  *) usage ;;
esac
