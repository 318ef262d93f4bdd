// Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
//
// Example 02: route inside your own kernel, with the library's per-warp device pieces.
//
// At decode time a MoE layer first computes the router logits (a small GEMV: hidden states
// [T, 7168] times the gate weight [256, 7168]), then routes them. Usually these are two
// launches, the logits going through global memory in between. Here one user kernel does both:
//
//   gate_and_route_kernel, 8 warps a block: a block takes 8 experts and a tile of tokens (1
//   token for small batches, 8 beyond, so that a gate row is read once for 8 tokens); each warp
//   computes one expert's logits for the tile's tokens (warp-cooperative dot products). The
//   last block of a tile to finish (an atomic arrival counter, as in the CUDA sample
//   threadFenceReduction) then routes the tile's tokens, one warp each, with the same device
//   pieces the library's fused kernel runs: warp_load_bias, warp_score, lane_best_two,
//   warp_select_groups, warp_topk and warp_store_row.
//
// The routing must come out exactly as the library's own kernel gives it, so the example also
// runs the two-step path (a plain GEMV kernel writing the logits, then
// moe_router::route_fused<deepseek_v3_config<float>>) and compares bit for bit: the logits (both
// kernels call the same dot-product function, whose summation order is fixed: explicit fmaf in
// a fixed element order, then a butterfly), the ids and the weights. It prints the time of
// both paths (CUDA events around CUDA-graph replays, median of several) for 1, 8, 64 and 256
// tokens, then PASSED or FAILED, and returns 0 or 1.
//
// The shape is DeepSeek-V3's (256 experts in 8 groups, keep 4, top-8, sigmoid + fp32 bias),
// with renormalize, scale_output (factor 2.5) and one shared slot. This example needs a GPU:
// without one it says so and returns 0.
//
// The block between the two route-in-your-kernel markers below is quoted in docs/api.md (a test
// checks that the quote matches).

#include <moe_router/cuda_error.cuh>
#include <moe_router/error.hpp>
#include <moe_router/model_configs.cuh>
#include <moe_router/route.cuh>
#include <moe_router/types.hpp>
#include <moe_router/warp/warp_epilogue.cuh>
#include <moe_router/warp/warp_route_token.cuh>
#include <moe_router/warp/warp_score.cuh>
#include <moe_router/warp/warp_select.cuh>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

// The router: DeepSeek-V3's shape, fp32 logits (the GEMV accumulates in fp32), fp32 bias.
using config = moe_router::deepseek_v3_config<float, float, std::int32_t>;
constexpr int num_experts = config::num_experts;
constexpr int slots = config::topk + 1;  // one shared slot
constexpr int hidden_size = 7168;        // DeepSeek-V3's hidden size
constexpr int gate_warps = 8;            // experts per block: one warp computes one expert's logits
constexpr int gate_threads = gate_warps * moe_router::warp_lanes;
constexpr int expert_blocks = num_experts / gate_warps;
static_assert(num_experts % gate_warps == 0, "the experts must split evenly over the blocks");
// Tokens per block: 1 for small batches (most parallelism), 8 beyond (each gate row is then read
// once for 8 tokens). The logits do not depend on the tile size, to the bit.
constexpr int small_batch = 16;
constexpr int large_tile = 8;
static_assert(large_tile <= gate_warps, "the last block routes one token per warp");

/**
 * The logits of one expert for the `tokens` (<= Tile) tokens of a tile: dot(hidden[t], gate)
 * over `H` bf16 values, computed by one warp in a fixed order. Lane l takes the 16-byte chunks
 * l, l+32, l+64, ... and accumulates their 8 products in order with explicit fmaf (no
 * contraction choices left to the compiler); a butterfly then adds the 32 partial sums, so every
 * lane ends with the same values (fp32 addition is commutative). Each token's sum has the same
 * order whatever the tile, so every kernel that calls this gets bit-identical logits. Rows past
 * `tokens` repeat the last row (no branch between the loads); their sums are not used.
 */
template <int H, int Tile>
__device__ __forceinline__ void gate_dot_tile(const __nv_bfloat16* hidden, int tokens, const __nv_bfloat16* gate,
                                              int lane, float (&sum)[Tile])
{
  static_assert(H % (8 * moe_router::warp_lanes) == 0, "the hidden size must be a multiple of 256");
  constexpr int chunks = H / 8;  // 8 bf16 per 16-byte chunk
  const uint4* g = reinterpret_cast<const uint4*>(gate);
  const uint4* h[Tile];
#pragma unroll
  for (int t = 0; t < Tile; ++t) {
    h[t] = reinterpret_cast<const uint4*>(hidden + static_cast<std::int64_t>(t < tokens ? t : tokens - 1) * H);
    sum[t] = 0.0f;
  }
#pragma unroll(Tile == 1 ? 4 : 1)
  for (int c = lane; c < chunks; c += moe_router::warp_lanes) {
    const uint4 gv = __ldg(g + c);
    const __nv_bfloat162* gp = reinterpret_cast<const __nv_bfloat162*>(&gv);
    uint4 hv[Tile];
#pragma unroll
    for (int t = 0; t < Tile; ++t) hv[t] = h[t][c];
#pragma unroll
    for (int t = 0; t < Tile; ++t) {
      const __nv_bfloat162* hp = reinterpret_cast<const __nv_bfloat162*>(&hv[t]);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float2 a = __bfloat1622float2(hp[i]);
        const float2 b = __bfloat1622float2(gp[i]);
        sum[t] = __fmaf_rn(a.x, b.x, sum[t]);
        sum[t] = __fmaf_rn(a.y, b.y, sum[t]);
      }
    }
  }
#pragma unroll
  for (int t = 0; t < Tile; ++t)
#pragma unroll
    for (int offset = moe_router::warp_lanes / 2; offset >= 1; offset /= 2)
      sum[t] = __fadd_rn(sum[t], __shfl_xor_sync(moe_router::full_warp_mask, sum[t], offset));
}

/// Step 1 of the two-step path: the router GEMV alone, logits [T, E] fp32 to global memory.
/// Grid (E / 8, ceil(T / Tile)), 8 warps: warp w computes expert 8 * blockIdx.x + w for the tile.
template <int H, int Tile>
__global__ void __launch_bounds__(gate_threads)
    router_gemv_kernel(const __nv_bfloat16* hidden, const __nv_bfloat16* gate, float* logits, int num_tokens)
{
  const int lane = static_cast<int>(threadIdx.x) % moe_router::warp_lanes;
  const int expert = static_cast<int>(blockIdx.x) * gate_warps + static_cast<int>(threadIdx.x) / moe_router::warp_lanes;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.y) * Tile;
  const int tokens = static_cast<int>(num_tokens - first < Tile ? num_tokens - first : Tile);
  float logit[Tile];
  gate_dot_tile<H, Tile>(hidden + first * H, tokens, gate + static_cast<std::int64_t>(expert) * H, lane, logit);
#pragma unroll
  for (int t = 0; t < Tile; ++t)
    if (lane == 0 && t < tokens) logits[(first + t) * num_experts + expert] = logit[t];
}

/**
 * The user kernel: the router GEMV and the routing in one launch. Grid (E / 8, ceil(T / Tile)),
 * 8 warps, as the GEMV above; the last block of a token tile to finish routes the tile's
 * tokens, one warp each. `logits` is a [T, E] fp32 scratch, `arrivals` one counter per tile,
 * zero at the start (the kernel leaves them at zero, so it can be launched again and replayed
 * in a CUDA graph). `p` holds the routing options and the outputs (its `logits` is not used).
 */
template <class Config, int H, int Tile>
__global__ void __launch_bounds__(gate_threads)
    gate_and_route_kernel(const __nv_bfloat16* hidden, const __nv_bfloat16* gate, float* logits, unsigned* arrivals,
                          int num_tokens, const moe_router::route_params p)
{
  const int lane = static_cast<int>(threadIdx.x) % moe_router::warp_lanes;
  const int warp = static_cast<int>(threadIdx.x) / moe_router::warp_lanes;
  const int expert = static_cast<int>(blockIdx.x) * gate_warps + warp;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.y) * Tile;
  const int tokens = static_cast<int>(num_tokens - first < Tile ? num_tokens - first : Tile);
  float logit[Tile];
  gate_dot_tile<H, Tile>(hidden + first * H, tokens, gate + static_cast<std::int64_t>(expert) * H, lane, logit);
#pragma unroll
  for (int t = 0; t < Tile; ++t)
    if (lane == 0 && t < tokens) logits[(first + t) * Config::num_experts + expert] = logit[t];

  // The last block of this tile to arrive routes it: all of the tile's logits are then written.
  __shared__ bool last_block;
  __shared__ moe_router::warp_topk_storage topk_storage[gate_warps];  // for routing, one per warp
  __threadfence();  // this block's logits are visible to the whole device before it counts itself
  __syncthreads();
  if (threadIdx.x == 0) {
    last_block = atomicAdd(arrivals + blockIdx.y, 1u) == gridDim.x - 1;
    if (last_block) arrivals[blockIdx.y] = 0;  // every block of the tile has counted: ready for the next launch
  }
  __syncthreads();
  if (!last_block || warp >= tokens) return;
  __threadfence();
  const std::int64_t token = first + warp;  // warp w routes token w of the tile

  // [route-in-your-kernel]
  // One warp routes one token. Lane l holds experts l*V .. l*V+V-1 (V = 8 for 256 experts),
  // in registers; warp_topk needs 512 bytes of shared memory per warp (topk_storage, declared
  // with the block's other shared memory). `p` carries the options and the outputs.
  constexpr int V = Config::experts_per_lane;
  const float* row = logits + token * Config::num_experts;  // written by other blocks: read it
  float x[V];                                               // through L2 (__ldcg), not L1
#pragma unroll
  for (int j = 0; j < V; ++j) x[j] = moe_router::holds_expert<Config>(lane, j) ? __ldcg(row + lane * V + j) : 0.0f;
  float bias[V];  // does not depend on the token: a persistent kernel loads it once
  moe_router::warp_load_bias<Config>(static_cast<const typename Config::bias_type*>(p.bias), lane, bias);

  float score[V];        // s[e]: the weights come from these
  std::uint32_t key[V];  // order keys of the choice scores s[e] + bias[e]
  moe_router::warp_score<Config>(x, bias, lane, score, key);
  moe_router::lane_candidates candidates = moe_router::lane_best_two<V>(key);
  moe_router::warp_select_groups<Config>(lane, candidates);  // drops the experts of the groups not kept
  moe_router::warp_topk_storage& storage = topk_storage[warp];  // this warp's shared memory
  const moe_router::warp_topk_result result = moe_router::warp_topk<Config>(key, score, lane, candidates, storage);
  // Renormalize, scale, shared slot, expert map, as `p` says; lanes 0..K+S-1 store the row.
  const int shared_id = moe_router::shared_slot_id<Config>(p, token);  // E + token mod NS
  moe_router::warp_store_row<Config>(result, lane, p, token, shared_id);
  // [route-in-your-kernel]
}

// ---- host side ------------------------------------------------------------------------------

std::uint16_t to_bf16_bits(float f)
{
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/// Uniform in [-1, 1), deterministic.
float next_uniform(std::uint64_t& state)
{
  state = state * 6364136223846793005ull + 1442695040888963407ull;
  return static_cast<float>(static_cast<double>(state >> 40) * 0x1.0p-23 - 1.0);
}

struct device_buffers {
  __nv_bfloat16* hidden = nullptr;  // [max_tokens, H]
  __nv_bfloat16* gate = nullptr;    // [E, H]
  float* bias = nullptr;            // [E]
  float* logits_two_step = nullptr;
  float* logits_fused = nullptr;
  unsigned* arrivals = nullptr;
  float* weights_two_step = nullptr;
  float* weights_fused = nullptr;
  std::int32_t* ids_two_step = nullptr;
  std::int32_t* ids_fused = nullptr;
};

moe_router::route_params make_params(std::int64_t num_tokens, const float* logits, const float* bias, float* weights,
                                     std::int32_t* ids)
{
  moe_router::route_params p;
  p.num_experts = config::num_experts;
  p.num_groups = config::num_groups;
  p.topk_group = config::topk_group;
  p.topk = config::topk;
  p.scoring = config::scoring;
  p.group_score = config::group_score;
  p.logits = logits;
  p.logits_type = moe_router::data_type::f32;
  p.num_tokens = num_tokens;
  p.bias = bias;
  p.renormalize = true;
  p.scale_output = true;
  p.routed_scaling_factor = 2.5f;
  p.num_shared_slots = 1;
  p.num_shared_experts = 1;
  p.weights = weights;
  p.ids = ids;
  return p;
}

/// The grid of both kernels: E / 8 blocks of experts times the token tiles.
template <int Tile>
dim3 grid(std::int64_t num_tokens)
{
  return dim3(expert_blocks, static_cast<unsigned>((num_tokens + Tile - 1) / Tile));
}

/// The two paths, each one enqueue on `stream`.
cudaError_t enqueue_two_step(const device_buffers& d, std::int64_t num_tokens, cudaStream_t stream)
{
  const int n = static_cast<int>(num_tokens);
  if (num_tokens <= small_batch)
    router_gemv_kernel<hidden_size, 1><<<grid<1>(n), gate_threads, 0, stream>>>(d.hidden, d.gate, d.logits_two_step, n);
  else
    router_gemv_kernel<hidden_size, large_tile>
        <<<grid<large_tile>(n), gate_threads, 0, stream>>>(d.hidden, d.gate, d.logits_two_step, n);
  MOE_ROUTER_CUDA_TRY(cudaGetLastError());
  MOE_ROUTER_CUDA_TRY(moe_router::route_fused<config>(
      make_params(num_tokens, d.logits_two_step, d.bias, d.weights_two_step, d.ids_two_step), stream));
  return cudaSuccess;
}

cudaError_t enqueue_fused(const device_buffers& d, std::int64_t num_tokens, cudaStream_t stream)
{
  const int n = static_cast<int>(num_tokens);
  const moe_router::route_params p = make_params(num_tokens, nullptr, d.bias, d.weights_fused, d.ids_fused);
  if (num_tokens <= small_batch)
    gate_and_route_kernel<config, hidden_size, 1>
        <<<grid<1>(n), gate_threads, 0, stream>>>(d.hidden, d.gate, d.logits_fused, d.arrivals, n, p);
  else
    gate_and_route_kernel<config, hidden_size, large_tile>
        <<<grid<large_tile>(n), gate_threads, 0, stream>>>(d.hidden, d.gate, d.logits_fused, d.arrivals, n, p);
  MOE_ROUTER_CUDA_TRY(cudaGetLastError());
  return cudaSuccess;
}

/// Microseconds per call of `enqueue` (a CUDA graph of 20 calls, replayed; median of 15).
template <class Enqueue>
cudaError_t time_path(Enqueue enqueue, cudaStream_t stream, double& us)
{
  constexpr int calls_per_graph = 20, samples = 15;
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  MOE_ROUTER_CUDA_TRY(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < calls_per_graph; ++i) {
    const cudaError_t status = enqueue(stream);
    if (status != cudaSuccess) {
      cudaStreamEndCapture(stream, &graph);
      return status;
    }
  }
  MOE_ROUTER_CUDA_TRY(cudaStreamEndCapture(stream, &graph));
  MOE_ROUTER_CUDA_TRY(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t start, stop;
  MOE_ROUTER_CUDA_TRY(cudaEventCreate(&start));
  MOE_ROUTER_CUDA_TRY(cudaEventCreate(&stop));
  MOE_ROUTER_CUDA_TRY(cudaGraphLaunch(exec, stream));  // warm-up
  std::vector<float> times;
  for (int s = 0; s < samples; ++s) {
    MOE_ROUTER_CUDA_TRY(cudaEventRecord(start, stream));
    MOE_ROUTER_CUDA_TRY(cudaGraphLaunch(exec, stream));
    MOE_ROUTER_CUDA_TRY(cudaEventRecord(stop, stream));
    MOE_ROUTER_CUDA_TRY(cudaEventSynchronize(stop));
    float ms = 0.0f;
    MOE_ROUTER_CUDA_TRY(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms);
  }
  std::nth_element(times.begin(), times.begin() + samples / 2, times.end());
  us = 1e3 * static_cast<double>(times[samples / 2]) / calls_per_graph;
  MOE_ROUTER_CUDA_TRY(cudaEventDestroy(start));
  MOE_ROUTER_CUDA_TRY(cudaEventDestroy(stop));
  MOE_ROUTER_CUDA_TRY(cudaGraphExecDestroy(exec));
  MOE_ROUTER_CUDA_TRY(cudaGraphDestroy(graph));
  return cudaSuccess;
}

/// Number of 32-bit words of `a` and `b` (count elements each) whose bits differ.
template <class T>
std::size_t bit_differences(const std::vector<T>& a, const std::vector<T>& b)
{
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(T)) != 0;
  return n;
}

cudaError_t run(bool& passed)
{
  const std::int64_t token_counts[] = {1, 8, 64, 256};
  constexpr std::int64_t max_tokens = 256;
  passed = true;

  // Inputs: hidden states in [-1, 1), gate weights scaled so that the logits spread over a few
  // units (as trained routers' do), the bias small.
  std::uint64_t state = 7;
  std::vector<std::uint16_t> hidden(static_cast<std::size_t>(max_tokens) * hidden_size);
  std::vector<std::uint16_t> gate(static_cast<std::size_t>(num_experts) * hidden_size);
  std::vector<float> bias(num_experts);
  for (std::uint16_t& v : hidden) v = to_bf16_bits(next_uniform(state));
  for (std::uint16_t& v : gate) v = to_bf16_bits(0.07f * next_uniform(state));
  for (float& v : bias) v = 0.05f * next_uniform(state);

  device_buffers d;
  const std::size_t out_count = static_cast<std::size_t>(max_tokens) * slots;
  const std::size_t logits_count = static_cast<std::size_t>(max_tokens) * num_experts;
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d.hidden, hidden.size() * 2));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d.gate, gate.size() * 2));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d.bias, bias.size() * sizeof(float)));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d.logits_two_step, logits_count * sizeof(float)));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d.logits_fused, logits_count * sizeof(float)));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d.arrivals, max_tokens * sizeof(unsigned)));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d.weights_two_step, out_count * sizeof(float)));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d.weights_fused, out_count * sizeof(float)));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d.ids_two_step, out_count * sizeof(std::int32_t)));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d.ids_fused, out_count * sizeof(std::int32_t)));
  MOE_ROUTER_CUDA_TRY(cudaMemcpy(d.hidden, hidden.data(), hidden.size() * 2, cudaMemcpyHostToDevice));
  MOE_ROUTER_CUDA_TRY(cudaMemcpy(d.gate, gate.data(), gate.size() * 2, cudaMemcpyHostToDevice));
  MOE_ROUTER_CUDA_TRY(cudaMemcpy(d.bias, bias.data(), bias.size() * sizeof(float), cudaMemcpyHostToDevice));
  MOE_ROUTER_CUDA_TRY(cudaMemset(d.arrivals, 0, max_tokens * sizeof(unsigned)));
  cudaStream_t stream;
  MOE_ROUTER_CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));

  // The user kernel skips route_fused's checks, so run them once here: the contract within the
  // fused kernel's limits, and the shape and element types the kernel was compiled for.
  const moe_router::route_params checked =
    make_params(max_tokens, d.logits_fused, d.bias, d.weights_fused, d.ids_fused);
  if (!moe_router::validate_params(checked, moe_router::fused_limits) || !config::matches(checked)) {
    const char* reason = moe_router::last_error_message();
    std::printf("invalid routing parameters: %s\n", *reason ? reason : "not the compiled configuration");
    passed = false;
    return cudaSuccess;
  }

  std::printf("%8s | %28s | %22s | %s\n", "tokens", "GEMV + route_fused (2 kernels)", "gate_and_route (1 kernel)",
              "bit-for-bit");
  for (const std::int64_t num_tokens : token_counts) {
    // Different garbage in the two outputs, so that a slot left unwritten cannot match.
    MOE_ROUTER_CUDA_TRY(cudaMemsetAsync(d.weights_two_step, 0x11, out_count * sizeof(float), stream));
    MOE_ROUTER_CUDA_TRY(cudaMemsetAsync(d.weights_fused, 0x22, out_count * sizeof(float), stream));
    MOE_ROUTER_CUDA_TRY(cudaMemsetAsync(d.ids_two_step, 0x33, out_count * sizeof(std::int32_t), stream));
    MOE_ROUTER_CUDA_TRY(cudaMemsetAsync(d.ids_fused, 0x44, out_count * sizeof(std::int32_t), stream));
    MOE_ROUTER_CUDA_TRY(enqueue_two_step(d, num_tokens, stream));
    MOE_ROUTER_CUDA_TRY(enqueue_fused(d, num_tokens, stream));
    MOE_ROUTER_CUDA_TRY(cudaStreamSynchronize(stream));

    const std::size_t n_out = static_cast<std::size_t>(num_tokens) * slots;
    const std::size_t n_logits = static_cast<std::size_t>(num_tokens) * num_experts;
    std::vector<float> l2(n_logits), l1(n_logits), w2(n_out), w1(n_out);
    std::vector<std::int32_t> i2(n_out), i1(n_out);
    MOE_ROUTER_CUDA_TRY(cudaMemcpy(l2.data(), d.logits_two_step, n_logits * sizeof(float), cudaMemcpyDeviceToHost));
    MOE_ROUTER_CUDA_TRY(cudaMemcpy(l1.data(), d.logits_fused, n_logits * sizeof(float), cudaMemcpyDeviceToHost));
    MOE_ROUTER_CUDA_TRY(cudaMemcpy(w2.data(), d.weights_two_step, n_out * sizeof(float), cudaMemcpyDeviceToHost));
    MOE_ROUTER_CUDA_TRY(cudaMemcpy(w1.data(), d.weights_fused, n_out * sizeof(float), cudaMemcpyDeviceToHost));
    MOE_ROUTER_CUDA_TRY(cudaMemcpy(i2.data(), d.ids_two_step, n_out * sizeof(std::int32_t), cudaMemcpyDeviceToHost));
    MOE_ROUTER_CUDA_TRY(cudaMemcpy(i1.data(), d.ids_fused, n_out * sizeof(std::int32_t), cudaMemcpyDeviceToHost));
    const std::size_t logit_diffs = bit_differences(l1, l2), weight_diffs = bit_differences(w1, w2),
                      id_diffs = bit_differences(i1, i2);
    // A sanity check on top: the routed weights of each row sum to the scaling factor.
    std::size_t bad_rows = 0;
    for (std::int64_t t = 0; t < num_tokens; ++t) {
      float sum = 0.0f;
      for (int k = 0; k < config::topk; ++k) sum += w1[static_cast<std::size_t>(t * slots + k)];
      bad_rows += std::fabs(sum - 2.5f) > 1e-5f;
    }
    const bool same = logit_diffs == 0 && weight_diffs == 0 && id_diffs == 0 && bad_rows == 0;
    passed = passed && same;

    double us_two_step = 0.0, us_fused = 0.0;
    MOE_ROUTER_CUDA_TRY(
        time_path([&](cudaStream_t s) { return enqueue_two_step(d, num_tokens, s); }, stream, us_two_step));
    MOE_ROUTER_CUDA_TRY(time_path([&](cudaStream_t s) { return enqueue_fused(d, num_tokens, s); }, stream, us_fused));
    std::printf("%8lld | %25.2f us | %19.2f us | %s\n", static_cast<long long>(num_tokens), us_two_step, us_fused,
                same ? "yes" : "NO");
    if (!same)
      std::printf("  differences: %zu logits, %zu weights, %zu ids; %zu rows whose weights do not sum to 2.5\n",
                  logit_diffs, weight_diffs, id_diffs, bad_rows);
    if (num_tokens == 1) {
      std::printf("  token 0 (expert:weight):");
      for (int k = 0; k < slots; ++k)
        std::printf(" %d:%.4f", i1[static_cast<std::size_t>(k)], static_cast<double>(w1[static_cast<std::size_t>(k)]));
      std::printf("\n");
    }
  }

  MOE_ROUTER_CUDA_TRY(cudaStreamDestroy(stream));
  for (void* ptr :
       {static_cast<void*>(d.hidden), static_cast<void*>(d.gate), static_cast<void*>(d.bias),
        static_cast<void*>(d.logits_two_step), static_cast<void*>(d.logits_fused), static_cast<void*>(d.arrivals),
        static_cast<void*>(d.weights_two_step), static_cast<void*>(d.weights_fused), static_cast<void*>(d.ids_two_step),
        static_cast<void*>(d.ids_fused)})
    MOE_ROUTER_CUDA_TRY(cudaFree(ptr));
  return cudaSuccess;
}

}  // namespace

int main()
{
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: this example runs a user kernel and needs a GPU; nothing to do\n");
    return 0;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) std::printf("device: %s\n", prop.name);
  std::printf("router GEMV (hidden %d bf16 x gate [%d x %d] bf16, fp32 logits) + DeepSeek-V3 routing\n", hidden_size,
              num_experts, hidden_size);
  bool passed = false;
  if (run(passed) != cudaSuccess) passed = false;
  std::printf("%s\n", passed ? "PASSED" : "FAILED");
  return passed ? 0 : 1;
}
