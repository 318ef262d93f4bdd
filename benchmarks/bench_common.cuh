// Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
//
// What the benchmark executables share: the error check, the random inputs, the timing of a
// CUDA graph's replays, and the options every timed call uses.

#pragma once

#include <moe_router/moe_router.cuh>

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#define BENCH_CHECK(call)                                                                                   \
  do {                                                                                                      \
    const cudaError_t status_ = (call);                                                                     \
    if (status_ != cudaSuccess) {                                                                           \
      std::fprintf(stderr, "%s:%d: %s: %s %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(status_), \
                   moe_router::last_error_message());                                                      \
      std::exit(1);                                                                                         \
    }                                                                                                       \
  } while (0)

namespace bench {

// ---- inputs --------------------------------------------------------------------------------

__device__ inline float hash_normal(std::uint64_t i, std::uint64_t seed)
{
  // Sum of four uniforms from a 64-bit mix: roughly normal, never all zero.
  std::uint64_t z = i * 0x9E3779B97F4A7C15ull + seed;
  float sum = 0.0f;
  for (int k = 0; k < 4; ++k) {
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ull;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBull;
    z ^= z >> 31;
    sum += static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
  }
  return (sum - 2.0f) * 1.7f;
}

template <class T>
__global__ void fill_normal(T* out, std::int64_t n, std::uint64_t seed, float scale)
{
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    out[i] = static_cast<T>(hash_normal(static_cast<std::uint64_t>(i), seed) * scale);
}

// ---- timing ----------------------------------------------------------------------------------

constexpr int launches_per_graph = 200;

/// Microseconds per call of `launch(set, stream)`: a CUDA graph of 200 launches (input set
/// `i % input_sets` for the i-th), replayed 3 times to warm up, then `replays` times between
/// CUDA events; the median replay over 200.
template <class Launch>
double time_per_call_us(Launch launch, int input_sets, int replays, cudaStream_t stream)
{
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  BENCH_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < launches_per_graph; ++i) launch(i % input_sets, stream);
  BENCH_CHECK(cudaStreamEndCapture(stream, &graph));
  BENCH_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t start, stop;
  BENCH_CHECK(cudaEventCreate(&start));
  BENCH_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 3; ++i) BENCH_CHECK(cudaGraphLaunch(exec, stream));
  std::vector<float> ms(replays);
  for (int r = 0; r < replays; ++r) {
    BENCH_CHECK(cudaEventRecord(start, stream));
    BENCH_CHECK(cudaGraphLaunch(exec, stream));
    BENCH_CHECK(cudaEventRecord(stop, stream));
    BENCH_CHECK(cudaEventSynchronize(stop));
    BENCH_CHECK(cudaEventElapsedTime(&ms[r], start, stop));
  }
  std::sort(ms.begin(), ms.end());
  BENCH_CHECK(cudaEventDestroy(start));
  BENCH_CHECK(cudaEventDestroy(stop));
  BENCH_CHECK(cudaGraphExecDestroy(exec));
  BENCH_CHECK(cudaGraphDestroy(graph));
  // The median: the middle replay, or the mean of the two middle ones for an even count.
  const double median = replays % 2 != 0 ? ms[replays / 2] : 0.5 * (ms[replays / 2 - 1] + ms[replays / 2]);
  return 1000.0 * median / launches_per_graph;
}

/// How many copies of a set of `set_bytes` of logits the timed launches rotate over: 1 when it
/// fits in half the L2 (it stays there, as in an engine right after the router GEMM), else
/// enough to exceed three times the L2 (at most 16).
inline int input_sets(double set_bytes, int l2_bytes)
{
  if (set_bytes <= l2_bytes / 2.0) return 1;
  return static_cast<int>(std::min<double>(16.0, std::ceil(3.0 * l2_bytes / set_bytes)));
}

// ---- the device --------------------------------------------------------------------------------

/// The properties of device 0, or false where there is no CUDA device (after saying so): a
/// benchmark then exits 0 with nothing timed.
inline bool first_device(cudaDeviceProp& prop)
{
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: nothing to time\n");
    return false;
  }
  BENCH_CHECK(cudaGetDeviceProperties(&prop, 0));
  return true;
}

// ---- checks ----------------------------------------------------------------------------------

/// Whether two routes' outputs on the device, `slots` weights and int32 ids each, are equal bit
/// for bit.
inline bool same_rows(const float* weights, const std::int32_t* ids, const float* other_weights,
                      const std::int32_t* other_ids, std::size_t slots)
{
  std::vector<float> w(slots), ow(slots);
  std::vector<std::int32_t> id(slots), oid(slots);
  BENCH_CHECK(cudaMemcpy(w.data(), weights, sizeof(float) * slots, cudaMemcpyDeviceToHost));
  BENCH_CHECK(cudaMemcpy(ow.data(), other_weights, sizeof(float) * slots, cudaMemcpyDeviceToHost));
  BENCH_CHECK(cudaMemcpy(id.data(), ids, sizeof(std::int32_t) * slots, cudaMemcpyDeviceToHost));
  BENCH_CHECK(cudaMemcpy(oid.data(), other_ids, sizeof(std::int32_t) * slots, cudaMemcpyDeviceToHost));
  return std::memcmp(w.data(), ow.data(), sizeof(float) * slots) == 0 && id == oid;
}

// ---- the call --------------------------------------------------------------------------------

/// The call the benchmarks time: `Config`'s shape, vLLM's DeepSeek-V3 options (renormalize,
/// scale_output with factor 2.5, one shared slot), int32 ids.
template <class Config>
moe_router::route_params bench_params(const void* logits, const float* bias, float* weights, std::int32_t* ids,
                                      std::int64_t tokens)
{
  moe_router::route_params p;
  p.num_experts = Config::num_experts;
  p.num_groups = Config::num_groups;
  p.topk_group = Config::topk_group;
  p.topk = Config::topk;
  p.scoring = Config::scoring;
  p.group_score = Config::group_score;
  p.logits = logits;
  p.logits_type = Config::logits_data_type;
  p.num_tokens = tokens;
  p.bias = bias;
  p.renormalize = true;
  p.scale_output = true;
  p.routed_scaling_factor = 2.5f;
  p.num_shared_slots = 1;
  p.weights = weights;
  p.ids = ids;
  return p;
}

}  // namespace bench
