#!/usr/bin/env bash
# Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
#
# scripts/carry-tests.sh: build the GPU test executables (and the benchmark) on a machine
# without a GPU, pack them small enough to carry, and run them on a machine with one.
#
# Usage: scripts/carry-tests.sh pack [--build-dir DIR] [--dest DEST] [--no-build]
#        scripts/carry-tests.sh run [--dest DEST] [--only NAMES] [--sanitize TOOLS]
#                                   [--sanitize-timeout S] [--sanitize-only] [--bench] [-- BENCH_ARGS...]
#
#   pack   builds, in the configured build tree DIR (default: build), the executables of the
#          tests labelled `gpu`, of the numbered examples (label `example_program`: on a GPU
#          they run the fused kernel, or example 02 its own, and check the rows) and
#          benchmarks/moe_router_bench (unless --no-build), and packs them into
#          DEST/gpu_tests.tar.xz with their md5 sums in DEST/md5.txt (default DEST:
#          build-carry, which git ignores). The whole build tree is too large to carry; the
#          archive of the 16 GPU tests, 3 examples and the benchmark is about 17 MB.
#   run    on the GPU machine, from the repository root: unpacks DEST into a temporary folder,
#          checks the md5 sums, and runs every test and example executable, then with --sanitize
#          each of them once per tool of TOOLS (comma-separated; the tests see
#          MOE_ROUTER_UNDER_SANITIZER=TOOL and cut their cases, the examples run whole;
#          gpu-check.sh --sanitize runs the `gpu` tests only; --sanitize-timeout stops a run
#          after S seconds and counts it as not clean), then with --bench moe_router_bench with
#          BENCH_ARGS. --only runs only the executables NAMES (comma-separated); --sanitize-only
#          skips the runs without a sanitizer (racecheck over the 14 tests took about 8 minutes
#          on an H100, the examples not counted).
#          One line per run: name, exit status, seconds and the test's, the example's or the
#          sanitizer's summary. The exit status is 0 when every run passed; a test that skips
#          (no GPU) fails, and so does an example that finds no CUDA device where nvidia-smi
#          sees one.
#
# With OUT set (a folder to keep the results in), `run` writes its output to
# $OUT/carry-tests.log as it goes and, at the end, every run's whole output to
# $OUT/carry-logs.tar.gz (one file, for machines that return only a few). BENCH_ARGS may name
# files under $OUT (`-- --csv $OUT/route_bench.csv`).
#
# For example: `scripts/carry-tests.sh pack` here, then on the GPU machine, with build-carry
# copied there, `scripts/carry-tests.sh run --sanitize memcheck --bench -- --csv
# $OUT/route_bench.csv` (about 4 minutes on an H100). Racecheck over the 14 tests takes about 8
# minutes: where a command's time is limited to 10, give it one of its own (`run --sanitize
# racecheck --sanitize-only --only NAMES` for fewer).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage() { sed -n '4,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; }

[[ $# -ge 1 ]] || { usage >&2; exit 2; }
[[ $1 != -h && $1 != --help ]] || { usage; exit 0; }
mode=$1
shift
build_dir=build
dest=build-carry
build=1
sanitize_tools=""
sanitize_timeout=""
run_bench=0
sanitize_only=0
only=""
bench_args=()
# value OPTION ARGS...: the value of an option given as `--opt VALUE` or `--opt=VALUE`
value() {
  if [[ $1 = *=* ]]; then echo "${1#*=}"; return; fi
  [[ $# -ge 2 && $2 != --* ]] || { echo "carry-tests.sh: $1 needs a value (see --help)" >&2; exit 2; }
  echo "$2"
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir|--build-dir=*) build_dir=$(value "$@") ;;
    --dest|--dest=*) dest=$(value "$@") ;;
    --sanitize|--sanitize=*) sanitize_tools=$(value "$@") ;;
    --sanitize-timeout|--sanitize-timeout=*) sanitize_timeout=$(value "$@") ;;
    --only|--only=*) only=$(value "$@") ;;
    --sanitize-only) sanitize_only=1 ;;
    --no-build) build=0 ;;
    --bench) run_bench=1 ;;
    --) shift; bench_args=("$@"); break ;;
    -h|--help) usage; exit 0 ;;
    *) echo "carry-tests.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  [[ $1 = *=* || $1 = --no-build || $1 = --bench || $1 = --sanitize-only ]] && shift || shift 2
done
[[ $sanitize_only = 0 || -n $sanitize_tools ]] ||
  { echo "carry-tests.sh: --sanitize-only needs --sanitize TOOLS" >&2; exit 2; }
[[ -z $sanitize_timeout || $sanitize_timeout =~ ^[1-9][0-9]*$ ]] ||
  { echo "carry-tests.sh: --sanitize-timeout needs a whole number of seconds (got $sanitize_timeout)" >&2; exit 2; }

# ---- pack: here, without a GPU --------------------------------------------------------------------
if [[ $mode = pack ]]; then
  [[ -f $build_dir/CTestTestfile.cmake ]] || { echo "carry-tests.sh: $build_dir is not a configured build tree" >&2; exit 2; }
  # The GPU tests and the numbered examples (label `example_program`), from CTest's own list:
  # each is named after its executable's target and runs it without arguments.
  carried='^(gpu|example_program)$'
  mapfile -t names < <(ctest --test-dir "$build_dir" -N -L "$carried" | sed -n 's/^ *Test *#[0-9]*: *//p' | sort -u)
  [[ ${#names[@]} -gt 0 ]] || { echo "carry-tests.sh: no test labelled gpu in $build_dir" >&2; exit 1; }
  examples=$(ctest --test-dir "$build_dir" -N -L '^example_program$' | grep -c '^ *Test *#' || true)
  bench=$build_dir/benchmarks/moe_router_bench
  if [[ $build = 1 ]]; then
    targets=("${names[@]}")
    [[ ! -d $build_dir/benchmarks ]] || targets+=(moe_router_bench)  # built with MOE_ROUTER_BUILD_BENCHMARKS
    cmake --build "$build_dir" --target "${targets[@]}"
  fi
  # Their commands, now that they are built (CTest gives an empty one for a missing executable).
  mapfile -t tests < <(ctest --test-dir "$build_dir" -N -V -L "$carried" | sed -n 's/^.*Test command: //p' | sort -u)
  [[ ${#tests[@]} -eq ${#names[@]} ]] ||
    { echo "carry-tests.sh: not every GPU test and example is built in $build_dir (run without --no-build)" >&2; exit 1; }
  for t in "${tests[@]}"; do
    [[ -n $t && -x $t ]] ||
      { echo "carry-tests.sh: a GPU test or example is not built in $build_dir (run without --no-build)" >&2; exit 1; }
    [[ $t != *" "* ]] || { echo "carry-tests.sh: a test command with arguments is not supported: $t" >&2; exit 1; }
  done
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
  for t in "${tests[@]}"; do cp "$t" "$stage/"; done
  [[ ! -x $bench ]] || cp "$bench" "$stage/"
  mkdir -p "$dest"
  (cd "$stage" && md5sum -- *) > "$dest/md5.txt"
  tar -cJf "$dest/gpu_tests.tar.xz" -C "$stage" .
  echo "carry-tests.sh: packed $((${#tests[@]} - examples)) GPU tests, $examples examples$([[ -x $bench ]] && echo ' and moe_router_bench') into" \
    "$dest/gpu_tests.tar.xz ($(du -h "$dest/gpu_tests.tar.xz" | cut -f1)); carry $dest"
  exit 0
fi

[[ $mode = run ]] || { echo "carry-tests.sh: unknown mode: $mode (pack or run)" >&2; exit 2; }

# ---- run: on the GPU machine ----------------------------------------------------------------------
cd "$root"
[[ -f $dest/gpu_tests.tar.xz && -f $dest/md5.txt ]] || { echo "carry-tests.sh: nothing packed in $dest" >&2; exit 2; }
dest=$(cd "$dest" && pwd)
log_dir=$(mktemp -d)
work=$(mktemp -d)
if [[ -n ${OUT:-} ]]; then
  mkdir -p "$OUT"
  exec > >(tee "$OUT/carry-tests.log") 2>&1
  tee_pid=$!
fi
finish() {
  if [[ -n ${OUT:-} ]]; then
    tar -czf "$OUT/carry-logs.tar.gz" -C "$log_dir" . || true
    exec >&- 2>&-
    wait "$tee_pid" 2> /dev/null || true
  fi
  rm -rf "$work" "$log_dir"
}
trap finish EXIT

tar -xJf "$dest/gpu_tests.tar.xz" -C "$work"
(cd "$work" && md5sum --quiet -c "$dest/md5.txt") || { echo "carry-tests.sh: md5 sums differ" >&2; exit 1; }
gpu_seen=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2> /dev/null || { gpu_seen=0; echo "(nvidia-smi found no GPU)"; }
failed=()
runs=0
# run NAME COMMAND...: one line of result; its whole output in $log_dir/NAME.log
run() {
  local name=$1 status started=$SECONDS
  shift
  runs=$((runs + 1))
  set +e
  "$@" > "$log_dir/$name.log" 2>&1
  status=$?
  set -e
  local said
  said=$(grep -E 'All tests passed|^test cases:|^assertions:|^PASSED|^FAILED|^no CUDA device|ERROR SUMMARY|RACECHECK SUMMARY|hazards displayed' \
           "$log_dir/$name.log" | tail -n 3 | tr -s ' \n' ' ' || true)
  # An example finds no device and exits 0, having checked the host side only: a failure where
  # nvidia-smi sees a GPU (as a test's skip is, exit 77).
  if [[ $status -eq 0 && $gpu_seen = 1 ]] && grep -q '^no CUDA device\|no GPU to run' "$log_dir/$name.log"; then
    status=1
    said="exited 0 but found no CUDA device, though nvidia-smi sees one; $said"
  fi
  if [[ $status -eq 124 || $status -eq 137 ]] && [[ -n $sanitize_timeout ]]; then said="timed out; $said"; fi
  [[ $status -ne 77 ]] || said="skipped (no GPU: the tests' SKIP_RETURN_CODE)"
  echo "$name: exit $status, $((SECONDS - started)) s${said:+, $said}"
  if [[ $status -ne 0 ]]; then
    failed+=("$name")
    tail -n 30 "$log_dir/$name.log"
  fi
}

mapfile -t tests < <(cut -d' ' -f3- "$dest/md5.txt" | grep -v '^moe_router_bench$' || true)
[[ ${#tests[@]} -gt 0 ]] || { echo "carry-tests.sh: no test packed in $dest" >&2; exit 1; }
if [[ -n $only ]]; then
  chosen=()
  for name in ${only//,/ }; do
    printf '%s\n' "${tests[@]}" | grep -qx -- "$name" ||
      { echo "carry-tests.sh: --only: no test $name packed (packed: ${tests[*]})" >&2; exit 2; }
    chosen+=("$name")
  done
  [[ ${#chosen[@]} -gt 0 ]] || { echo "carry-tests.sh: --only names no test" >&2; exit 2; }
  tests=("${chosen[@]}")
fi
[[ $sanitize_only = 1 ]] || for t in "${tests[@]}"; do run "$t" "$work/$t"; done

if [[ -n $sanitize_tools ]]; then
  sanitizer=$(command -v compute-sanitizer || echo "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer")
  [[ -x $sanitizer ]] || { echo "carry-tests.sh: compute-sanitizer not found"; exit 1; }
  limit=()
  [[ -z $sanitize_timeout ]] || limit=(timeout -k 30 "$sanitize_timeout")
  for tool in ${sanitize_tools//,/ }; do
    for t in "${tests[@]}"; do
      run "$tool-$t" env MOE_ROUTER_UNDER_SANITIZER="$tool" "${limit[@]}" "$sanitizer" --tool "$tool" \
        --error-exitcode 99 "$work/$t"
    done
  done
fi

if [[ $run_bench = 1 ]]; then
  if [[ -x $work/moe_router_bench ]]; then
    run moe_router_bench "$work/moe_router_bench" "${bench_args[@]}"
    cat "$log_dir/moe_router_bench.log"
  else
    echo "moe_router_bench: not packed"
    runs=$((runs + 1))
    failed+=(moe_router_bench)
  fi
fi

if [[ ${#failed[@]} -eq 0 ]]; then
  echo "carry-tests: $runs of $runs runs passed"
else
  echo "carry-tests: $((runs - ${#failed[@]})) of $runs runs passed; failed: ${failed[*]}"
  exit 1
fi
