// Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
//
// The cycles of each piece of one warp's routing chain, which is the whole time of a small
// batch (docs/performance.md, "Small batches"). One warp routes `rows` rows one after another
// with the device pieces a user's kernel calls (warp_load_logits, warp_score, lane_best_two and
// warp_select_groups, warp_topk with its short chain, warp_store_row), reading clock64 between
// them; the output is checked against the reference kernel bit for bit, and each piece's median
// over the rows after the first is printed. Each stamp waits for the piece before it to finish
// (it consumes the piece's results), so no piece overlaps the next as they may in the fused
// kernel: the sum is an upper bound on the chain, and each piece's share is what it costs.
//
//   moe_router_chain_probe [--rows N]      (default 65; the rows stay in L2)
//
// Shapes: DeepSeek-V3 and Kimi-K2, fp32 and bf16 logits, with the benchmark's inputs and
// options (renormalize, scale_output with factor 2.5, one shared slot, a random bias).
// One line per shape: "chain SHAPE LOGITS load score groups topk epilogue total" (cycles), the
// medians of the last of three launches made back to back, then a "first" line for each
// launch's first row: the first launch's shows what the code's first fetch costs.

#include "bench_common.cuh"

#include <moe_router/moe_router.cuh>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr int pieces = 5;  // load, score, groups, top-K, epilogue
constexpr int launches = 3;

/// Wait for every one of `values` before the next clock read: they are folded into one word
/// and a branch tests it (a store to `sink` that no lane of a one-warp block makes). The branch
/// cannot be taken before the fold is done, and the clock read after it is in another block,
/// which the compiler does not move above it; an unused fold would be dropped instead.
template <class T, int N>
__device__ __forceinline__ void wait_for(const T (&values)[N], long long* sink)
{
  std::uint32_t fold = 0;
#pragma unroll
  for (int j = 0; j < N; ++j) {
    std::uint32_t bits;
    std::memcpy(&bits, &values[j], sizeof bits);
    fold ^= bits;
  }
  if (fold == 0x9e3779b9u && threadIdx.x >= warpSize) *sink = fold;
}

template <class Config>
__global__ void chain_probe(const moe_router::route_params p, long long* cycles)
{
  using namespace moe_router;
  constexpr int V = Config::experts_per_lane;
  const int lane = static_cast<int>(threadIdx.x);
  __shared__ warp_topk_storage storage;
  float bias[V];
  warp_load_bias<Config>(static_cast<const typename Config::bias_type*>(p.bias), lane, bias);
  wait_for(bias, cycles);
  const auto* logits = static_cast<const typename Config::logit_type*>(p.logits);
  for (std::int64_t t = 0; t < p.num_tokens; ++t) {
    // The shared slot's id outside the stamps: the fused kernel keeps it incrementally
    // (detail::shared_slot_cursor), and the modulo here would be a division's worth of cycles.
    const int shared_id[1] = {shared_slot_id<Config>(p, t)};
    wait_for(shared_id, cycles);
    long long stamp[pieces + 1];
    stamp[0] = clock64();
    logit_fragment<Config> fragment;
    warp_load_logits<Config>(logits + t * p.stride(), lane, fragment);
    float x[V];
    fragment_to_float<Config>(fragment, x);
    wait_for(x, cycles);
    stamp[1] = clock64();
    float score[V];
    std::uint32_t key[V];
    warp_score<Config>(x, bias, lane, score, key);
    wait_for(score, cycles);
    wait_for(key, cycles);
    stamp[2] = clock64();
    lane_candidates candidates = lane_best_two<V>(key);
    warp_select_groups<Config>(lane, candidates);
    const std::uint32_t selected[3] = {candidates.best, candidates.floor, candidates.kept ? 1u : 0u};
    wait_for(selected, cycles);
    stamp[3] = clock64();
    const warp_topk_result result = warp_topk<Config>(key, score, lane, candidates, storage, true, false);
    const float chosen[3] = {result.score, result.score_sum, __int_as_float(result.expert)};
    wait_for(chosen, cycles);
    stamp[4] = clock64();
    warp_store_row<Config>(result, lane, p, t, shared_id[0]);
    stamp[5] = clock64();
    if (lane == 0)
      for (int i = 0; i < pieces; ++i) cycles[t * pieces + i] = stamp[i + 1] - stamp[i];
  }
}

long long median(std::vector<long long> v)
{
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <class Config>
void probe(const char* shape, int rows)
{
  using logit_type = typename Config::logit_type;
  constexpr int E = Config::num_experts;
  const int slots = Config::topk + 1;
  logit_type* logits = nullptr;
  float *bias = nullptr, *weights = nullptr, *reference_weights = nullptr;
  std::int32_t *ids = nullptr, *reference_ids = nullptr;
  long long* cycles = nullptr;
  BENCH_CHECK(cudaMalloc(&logits, sizeof(logit_type) * rows * E));
  BENCH_CHECK(cudaMalloc(&bias, sizeof(float) * E));
  BENCH_CHECK(cudaMalloc(&weights, sizeof(float) * rows * slots));
  BENCH_CHECK(cudaMalloc(&reference_weights, sizeof(float) * rows * slots));
  BENCH_CHECK(cudaMalloc(&ids, sizeof(std::int32_t) * rows * slots));
  BENCH_CHECK(cudaMalloc(&reference_ids, sizeof(std::int32_t) * rows * slots));
  BENCH_CHECK(cudaMalloc(&cycles, sizeof(long long) * launches * rows * pieces));
  bench::fill_normal<<<64, 256>>>(logits, static_cast<std::int64_t>(rows) * E, 1, 1.0f);
  bench::fill_normal<<<4, 256>>>(bias, E, 7, 0.05f);  // as the benchmark
  BENCH_CHECK(cudaGetLastError());

  const moe_router::route_params p = bench::bench_params<Config>(logits, bias, weights, ids, rows);
  moe_router::route_params reference = p;
  reference.weights = reference_weights;
  reference.ids = reference_ids;
  BENCH_CHECK(moe_router::route_reference(reference, nullptr));
  // Three launches back to back, as a graph replays them: the first brings the rows into L2,
  // and each launch's first row shows what the code's first fetch costs. The medians are the
  // last launch's.
  BENCH_CHECK(cudaMemset(weights, 0xff, sizeof(float) * rows * slots));
  BENCH_CHECK(cudaMemset(ids, 0xff, sizeof(std::int32_t) * rows * slots));
  for (int run = 0; run < launches; ++run) {
    chain_probe<Config><<<1, moe_router::warp_lanes>>>(p, cycles + static_cast<std::size_t>(run) * rows * pieces);
    BENCH_CHECK(cudaGetLastError());
  }
  BENCH_CHECK(cudaDeviceSynchronize());

  if (!bench::same_rows(weights, ids, reference_weights, reference_ids, static_cast<std::size_t>(rows) * slots)) {
    std::fprintf(stderr, "chain_probe: %s %s: the probe's rows differ from the reference kernel's\n", shape,
                 moe_router::to_string(Config::logits_data_type));
    std::exit(1);
  }

  std::vector<long long> all(static_cast<std::size_t>(launches) * rows * pieces);
  BENCH_CHECK(cudaMemcpy(all.data(), cycles, sizeof(long long) * all.size(), cudaMemcpyDeviceToHost));
  const long long* c = all.data() + static_cast<std::size_t>(launches - 1) * rows * pieces;
  long long piece_median[pieces];
  long long total = 0;
  for (int i = 0; i < pieces; ++i) {
    std::vector<long long> v;
    for (int t = 1; t < rows; ++t) v.push_back(c[static_cast<std::size_t>(t) * pieces + i]);
    piece_median[i] = median(v);
    total += piece_median[i];
  }
  std::printf("chain %-12s %-5s %6lld %6lld %6lld %6lld %6lld %6lld\n", shape,
              moe_router::to_string(Config::logits_data_type), piece_median[0], piece_median[1], piece_median[2],
              piece_median[3], piece_median[4], total);
  for (int run = 0; run < launches; ++run) {
    const long long* first = all.data() + static_cast<std::size_t>(run) * rows * pieces;
    std::printf("first %-12s %-5s %6lld %6lld %6lld %6lld %6lld %6lld  (launch %d, row 0)\n", shape,
                moe_router::to_string(Config::logits_data_type), first[0], first[1], first[2], first[3], first[4],
                first[0] + first[1] + first[2] + first[3] + first[4], run + 1);
  }
  for (void* ptr : {static_cast<void*>(logits), static_cast<void*>(bias), static_cast<void*>(weights),
                    static_cast<void*>(reference_weights), static_cast<void*>(ids), static_cast<void*>(reference_ids),
                    static_cast<void*>(cycles)})
    BENCH_CHECK(cudaFree(ptr));
}

}  // namespace

int main(int argc, char** argv)
{
  int rows = 65;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rows") == 0 && i + 1 < argc) {
      rows = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: moe_router_chain_probe [--rows N]\n");
      return 2;
    }
  }
  if (rows < 2) {
    std::fprintf(stderr, "moe_router_chain_probe: --rows must be 2 or more\n");
    return 2;
  }
  cudaDeviceProp prop{};
  if (!bench::first_device(prop)) return 0;
  std::printf("%s; cycles of one warp, the median over %d rows after the first\n", prop.name, rows - 1);
  std::printf("chain shape        logits   load  score groups   topk epilog  total\n");
  probe<moe_router::deepseek_v3_config<float>>("deepseek_v3", rows);
  probe<moe_router::deepseek_v3_config<__nv_bfloat16>>("deepseek_v3", rows);
  probe<moe_router::kimi_k2_config<float>>("kimi_k2", rows);
  probe<moe_router::kimi_k2_config<__nv_bfloat16>>("kimi_k2", rows);
  return 0;
}
