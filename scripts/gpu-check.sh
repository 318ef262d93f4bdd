#!/usr/bin/env bash
# Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
#
# scripts/gpu-check.sh: run the whole test suite on a machine with a CUDA GPU.
#
# Usage: scripts/gpu-check.sh [--build-dir DIR] [--bench] [--sanitize[=TOOLS]] [--sanitize-timeout S]
#                            [--pytorch] [-- BENCH_ARGS...]
#
#   --build-dir DIR     build tree to use (default: build, the `release` preset's)
#   --bench             also run DIR/benchmarks/moe_router_bench, if it was built, with
#                       BENCH_ARGS; its output goes to $OUT/bench.txt when OUT is set
#   --sanitize[=TOOLS]  also run every GPU test executable under compute-sanitizer, once per
#                       tool; TOOLS is a comma-separated list (default:
#                       memcheck,racecheck,initcheck,synccheck). The tests run with
#                       MOE_ROUTER_UNDER_SANITIZER=TOOL set, and make their largest cases
#                       smaller (the fuzz test runs 200 cases, 40 under racecheck). Racecheck
#                       is the slow one: about 8 minutes over the suite on an H100
#   --sanitize-timeout S  stop each sanitizer run after S seconds; a run so stopped counts as
#                       not clean ("timed out"), and the next one starts
#   --pytorch           also run the PyTorch op's tests (examples/pytorch/test_moe_router_op.py;
#                       builds the op with torch's JIT) when python3 can import torch and pytest
#
# Two ways to get a build:
#   a. DIR holds a configured and built tree (built elsewhere with the same preset and copied
#      here): the tests run there as they are, nothing is rebuilt. If the tree was configured
#      in another checkout path that does not exist here, that path is made a symbolic link to
#      this checkout, since CTest files hold absolute paths. If the cmake that configured it
#      is not on this machine, the packaging test (which runs that cmake) is left out.
#   b. Otherwise it configures with the `release` preset and builds here (all cores). Catch2
#      comes from .deps/catch2 when present (scripts/vendor-deps.sh makes it on a machine that
#      has Catch2; carry .deps along), else from the system.
#
# nvcc is taken from CUDACXX, else PATH, else /usr/local/cuda/bin. The output ends with one
# line: "gpu-check: N tests passed, M failed, S skipped" (plus sanitizer and benchmark
# results); the exit status is 0 when nothing failed. When OUT names a folder, the output also
# goes to $OUT/gpu-check.log as it is printed, and each sanitizer run's whole output to
# $OUT/sanitizer/TOOL-TEST.log: a run stopped from outside (a time limit) leaves what it did.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=build
run_bench=0
sanitize_tools=""
sanitize_timeout=""
run_pytorch=0
bench_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --build-dir=*) build_dir=${1#*=}; shift ;;
    --bench) run_bench=1; shift ;;
    --sanitize) sanitize_tools=memcheck,racecheck,initcheck,synccheck; shift ;;
    --sanitize=*) sanitize_tools=${1#*=}; shift ;;
    --sanitize-timeout) sanitize_timeout=$2; shift 2 ;;
    --sanitize-timeout=*) sanitize_timeout=${1#*=}; shift ;;
    --pytorch) run_pytorch=1; shift ;;
    --) shift; bench_args=("$@"); break ;;
    -h|--help) sed -n '4,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "gpu-check.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
cd "$root"
[[ $build_dir = /* ]] || build_dir=$root/$build_dir

if [[ -z ${CUDACXX:-} ]] && ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
jobs=$(nproc 2>/dev/null || echo 4)
if [[ -n $sanitize_timeout && ! $sanitize_timeout =~ ^[1-9][0-9]*$ ]]; then
  echo "gpu-check.sh: --sanitize-timeout takes a whole number of seconds, got: $sanitize_timeout" >&2
  exit 2
fi
log_dir=$(mktemp -d)
tee_pid=""
# On exit: remove the scratch logs and, when the output is copied to $OUT, close it and wait
# for tee, so that the log holds the last line before the script returns.
finish() {
  local status=$?
  rm -rf "$log_dir"
  if [[ -n $tee_pid ]]; then
    exec >&- 2>&-
    wait "$tee_pid" 2>/dev/null || true
  fi
  exit "$status"
}
trap finish EXIT
sanitizer_log_dir=$log_dir
if [[ -n ${OUT:-} ]]; then
  mkdir -p "$OUT/sanitizer"
  sanitizer_log_dir=$OUT/sanitizer
  exec > >(tee -a "$OUT/gpu-check.log") 2>&1
  tee_pid=$!
fi

echo "== gpu-check: $(date -u '+%Y-%m-%d %H:%M:%S UTC') in $root"
gpu_present=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null \
  || { gpu_present=0; echo "(nvidia-smi found no GPU: the GPU tests will report themselves skipped)"; }
echo "cmake $(cmake --version | head -n1 | awk '{print $3}'), $(${CUDACXX:-nvcc} --version | grep -i release)"

# ---- a build: reuse the one in build_dir, or make one ------------------------------------------
prebuilt=0
cache=$build_dir/CMakeCache.txt
if [[ -f $cache ]] && ls "$build_dir"/CTestTestfile.cmake >/dev/null 2>&1; then
  built_source=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$cache")
  built_binary=$(sed -n 's/^CMAKE_CACHEFILE_DIR:INTERNAL=//p' "$cache")
  if [[ $built_source = "$root" && $built_binary = "$build_dir" ]]; then
    prebuilt=1
  elif [[ $built_binary = "$built_source"/* && ! -e $built_source && $build_dir = "$root"/* &&
          ${built_binary#"$built_source"} = "${build_dir#"$root"}" ]]; then
    echo "the build was configured in $built_source: linking that path to $root"
    mkdir -p "$(dirname "$built_source")" && ln -s "$root" "$built_source"
    build_dir=$built_binary
    prebuilt=1
  else
    echo "$build_dir was configured for $built_source, not usable here: building in $root/build-gpu"
    build_dir=$root/build-gpu
  fi
fi
ctest_args=()
if [[ $prebuilt = 1 ]]; then
  echo "== using the prebuilt tree $build_dir"
  # The packaging test runs the cmake that configured the tree; a tree copied from another
  # machine may name one that is not here. Skip that test then (CI runs it).
  built_cmake=$(sed -n 's/^CMAKE_COMMAND:INTERNAL=//p' "$build_dir/CMakeCache.txt")
  if [[ ! -x $built_cmake ]]; then
    echo "the tree was configured by $built_cmake, which is not here: skipping the tests labelled packaging"
    ctest_args+=(-LE packaging)
  fi
else
  configure_args=(--preset release -B "$build_dir")
  [[ -d $root/.deps/catch2 ]] && configure_args+=("-DCMAKE_PREFIX_PATH=$root/.deps/catch2")
  echo "== configure and build in $build_dir ($jobs jobs)"
  cmake "${configure_args[@]}"
  cmake --build "$build_dir" -j "$jobs"
fi

# ---- the tests ---------------------------------------------------------------------------------
echo "== ctest"
set +e
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" "${ctest_args[@]}" 2>&1 | tee "$log_dir/ctest.log"
set -e
# One line per test: "  3/12 Test  #3: name .....   Passed    0.01 sec" (or ***Failed, ***Skipped, ...).
total=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#' "$log_dir/ctest.log" || true)
passed=$(grep -E '^ *[0-9]+/[0-9]+ Test +#' "$log_dir/ctest.log" | grep -cE ' Passed +[0-9.]+ sec' || true)
skipped=$(grep -E '^ *[0-9]+/[0-9]+ Test +#' "$log_dir/ctest.log" | grep -c '\*\*\*Skipped' || true)
failed=$((total - passed - skipped))
summary="$passed tests passed, $failed failed, $skipped skipped"
ok=1
[[ $failed -eq 0 && $total -gt 0 ]] || ok=0  # no test at all is a failure too
# A GPU test skips itself only where it finds no device: with a GPU here, a skip is a failure.
if [[ $gpu_present = 1 && $skipped -gt 0 ]]; then
  summary+=" (skipped although nvidia-smi sees a GPU: counted as failed)"
  ok=0
fi

# ---- compute-sanitizer over the GPU test executables --------------------------------------------
if [[ -n $sanitize_tools ]]; then
  sanitizer=$(command -v compute-sanitizer || echo "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer")
  mapfile -t gpu_tests < <(ctest --test-dir "$build_dir" -N -V -L gpu | sed -n 's/^.*Test command: //p' | sort -u)
  runs=0 clean=0 dirty=()
  if [[ ! -x $sanitizer ]]; then
    echo "== compute-sanitizer not found"
    summary+="; sanitizer: not found"
    ok=0
  else
    limit=()
    [[ -z $sanitize_timeout ]] || limit=(timeout -k 30 "$sanitize_timeout")
    for tool in ${sanitize_tools//,/ }; do
      for exe in "${gpu_tests[@]}"; do
        echo "== compute-sanitizer --tool $tool $exe"
        runs=$((runs + 1))
        name=$(basename "${exe%% *}")
        log=$sanitizer_log_dir/$tool-$name.log
        started=$SECONDS
        set +e
        MOE_ROUTER_UNDER_SANITIZER=$tool "${limit[@]}" "$sanitizer" --tool "$tool" --error-exitcode 99 $exe >"$log" 2>&1
        status=$?
        set -e
        if [[ $status -eq 0 ]]; then
          clean=$((clean + 1))
          tail -n 2 "$log"
        elif [[ -n $sanitize_timeout && ($status -eq 124 || $status -eq 137) ]]; then
          dirty+=("$tool:$name (timed out)")
          tail -n 20 "$log"
          echo "stopped after $sanitize_timeout s"
        else
          dirty+=("$tool:$name")
          tail -n 40 "$log"
        fi
        echo "($((SECONDS - started)) s)"
      done
    done
    summary+="; sanitizer: $clean of $runs runs clean"
    [[ ${#dirty[@]} -eq 0 ]] || { summary+=" (errors: ${dirty[*]})"; ok=0; }
  fi
fi

# ---- benchmarks -------------------------------------------------------------------------------
if [[ $run_bench = 1 ]]; then
  bench=$build_dir/benchmarks/moe_router_bench
  if [[ -x $bench ]]; then
    echo "== $bench ${bench_args[*]}"
    bench_out=/dev/null
    [[ -n ${OUT:-} ]] && mkdir -p "$OUT" && bench_out=$OUT/bench.txt
    set +e
    "$bench" "${bench_args[@]}" 2>&1 | tee "$bench_out"
    bench_status=${PIPESTATUS[0]}
    set -e
    if [[ $bench_status -eq 0 ]]; then
      summary+="; bench: ran"
    else
      summary+="; bench: failed ($bench_status)"
      ok=0
    fi
    [[ $bench_out = /dev/null ]] || summary+=" (output in $bench_out)"
  else
    summary+="; bench: not built"
  fi
fi

# ---- the PyTorch op (examples/pytorch) ----------------------------------------------------------
if [[ $run_pytorch = 1 ]]; then
  if python3 -c 'import torch, pytest' >/dev/null 2>&1; then
    echo "== pytest examples/pytorch/test_moe_router_op.py"
    set +e
    # A build directory of its own for the op: after a run was killed while torch built the op,
    # the next run on that machine waited on the shared directory until its time ran out.
    (cd "$root/examples/pytorch" && TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-$log_dir/torch_extensions} \
       python3 -m pytest -q -rs test_moe_router_op.py) 2>&1 | tee "$log_dir/pytest.log"
    pytest_status=${PIPESTATUS[0]}
    set -e
    if [[ $pytest_status -eq 0 ]]; then
      summary+="; pytorch: $(grep -E '^[0-9]+ (passed|skipped)' "$log_dir/pytest.log" | tail -n1)"
    else
      summary+="; pytorch: failed ($pytest_status)"
      ok=0
    fi
  else
    summary+="; pytorch: not run (python3 cannot import torch and pytest)"
  fi
fi

echo "gpu-check: $summary"
[[ $ok = 1 ]]
