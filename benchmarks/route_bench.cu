// Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
//
// Times the fused kernel, the reference kernel and a "traffic floor" kernel that moves exactly
// the bytes routing must move (each token's logits read once, its ids and weights written) and
// does no routing. Each number is CUDA events around replays of a CUDA graph of 200 launches,
// the median of many replays. Small inputs stay in L2, as they do in an engine right after the
// router GEMM; inputs of more than half the L2 rotate over enough copies to exceed 3x the L2.
//
//   moe_router_bench [--csv FILE] [--quick]
//
// Prints a table and writes a CSV (default: route_bench.csv, or $OUT/route_bench.csv).

#include "bench_common.cuh"

#include <moe_router/moe_router.cuh>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using bench::bench_params;
using bench::fill_normal;
using bench::time_per_call_us;

// ---- the traffic floor -----------------------------------------------------------------------

// Streams the logits in 16-byte loads over a persistent grid and writes every output slot; an
// output depends on what was read, so no load can be dropped. With `InFlight` > 1 each thread
// issues that many independent loads before it uses any (the plain loop waits for each load
// before it issues the next); the benchmark times both and takes the faster as the floor.
template <int InFlight>
__global__ void traffic_floor_kernel(const uint4* logits, std::int64_t chunks, float* weights, std::int32_t* ids,
                                     std::int64_t outputs)
{
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t first = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  unsigned acc = 0;
  std::int64_t c = first;
  if constexpr (InFlight > 1) {
    for (; c + (InFlight - 1) * stride < chunks; c += InFlight * stride) {
      uint4 v[InFlight];
#pragma unroll
      for (int u = 0; u < InFlight; ++u) v[u] = __ldg(logits + c + u * stride);
#pragma unroll
      for (int u = 0; u < InFlight; ++u) acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
    }
  }
  for (; c < chunks; c += stride) {
    const uint4 v = __ldg(logits + c);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  for (std::int64_t o = first; o < outputs; o += stride) {
    weights[o] = acc == 0x9e3779b9u ? 1.0f : 0.0f;
    ids[o] = static_cast<std::int32_t>(acc & 1u);
  }
}

struct row {
  std::string shape, logits;
  std::int64_t tokens;
  bool in_l2;
  double fused_us, reference_us, floor_us;
  double floor_plain_us, floor_in_flight_us;  ///< the two floor kernels; floor_us is the faster
  double bytes;
  int lanes = 32;  ///< lanes per token of the kernel route_fused ran
};

template <class Config>
void bench_config(const char* name, const std::vector<std::int64_t>& token_counts, bool quick, cudaStream_t stream,
                  int l2_bytes, int sms, std::vector<row>& rows)
{
  using logit_type = typename Config::logit_type;
  constexpr int E = Config::num_experts, K = Config::topk, slots = K + 1;
  auto report = [&](const void* kernel, int lanes) {
    cudaFuncAttributes attributes{};
    BENCH_CHECK(cudaFuncGetAttributes(&attributes, kernel));
    std::printf("# %s logits=%s: fused kernel (%d lanes per token) uses %d registers, %zu bytes local (spills/stack), "
                "%zu bytes shared\n",
                name, moe_router::to_string(Config::logits_data_type), lanes, attributes.numRegs,
                attributes.localSizeBytes, attributes.sharedSizeBytes);
  };
  report(reinterpret_cast<const void*>(moe_router::fused_route_kernel<typename Config::template with_token_lanes<32>>),
         32);
  if constexpr (moe_router::fused_half_warp_available<Config>())
    report(reinterpret_cast<const void*>(moe_router::fused_route_kernel<typename Config::template with_token_lanes<16>>),
           16);
  if constexpr (moe_router::fused_tiled_available<Config>()) {
    using tiled = typename Config::template with_token_lanes<8>;
    report(reinterpret_cast<const void*>(moe_router::tiled_route_kernel<tiled>), 8);
    std::printf("# %s logits=%s: tiled kernel: %zu bytes of dynamic shared memory per block of %d warps\n", name,
                moe_router::to_string(Config::logits_data_type), sizeof(moe_router::tiled_block_storage<tiled>),
                moe_router::tiled_warps_per_block<tiled>());
  }
  float* bias = nullptr;
  BENCH_CHECK(cudaMalloc(&bias, E * sizeof(float)));
  fill_normal<<<4, 256, 0, stream>>>(bias, E, 7, 0.05f);
  for (const std::int64_t tokens : token_counts) {
    const double set_bytes = static_cast<double>(tokens) * E * sizeof(logit_type);
    const bool rotate = set_bytes > l2_bytes / 2.0;
    const int sets = bench::input_sets(set_bytes, l2_bytes);
    std::vector<logit_type*> logits(sets);
    for (int s = 0; s < sets; ++s) {
      BENCH_CHECK(cudaMalloc(&logits[s], static_cast<std::size_t>(set_bytes) + 16));
      fill_normal<<<1024, 256, 0, stream>>>(logits[s], tokens * E, 1000 + s, 1.0f);
    }
    float* weights = nullptr;
    std::int32_t* ids = nullptr;
    BENCH_CHECK(cudaMalloc(&weights, tokens * slots * sizeof(float)));
    BENCH_CHECK(cudaMalloc(&ids, tokens * slots * sizeof(std::int32_t)));
    BENCH_CHECK(cudaStreamSynchronize(stream));

    const moe_router::route_params p = bench_params<Config>(nullptr, bias, weights, ids, tokens);
    auto params = [&](int set) {
      moe_router::route_params q = p;
      q.logits = logits[set];
      return q;
    };
    // Time only a kernel that is right: the fused kernel must equal the reference bit for bit, at
    // every size. Each writes over poisoned outputs (0xff bytes: NaN weights, ids -1), so that a
    // slot one of them leaves unwritten cannot pass with what an earlier run left there.
    {
      std::vector<float> fused_w(tokens * slots), ref_w(tokens * slots);
      std::vector<std::int32_t> fused_i(tokens * slots), ref_i(tokens * slots);
      auto poison = [&] {
        BENCH_CHECK(cudaMemsetAsync(weights, 0xff, fused_w.size() * sizeof(float), stream));
        BENCH_CHECK(cudaMemsetAsync(ids, 0xff, fused_i.size() * sizeof(std::int32_t), stream));
      };
      poison();
      BENCH_CHECK(moe_router::route_fused<Config>(params(0), stream));
      BENCH_CHECK(cudaMemcpyAsync(fused_w.data(), weights, fused_w.size() * 4, cudaMemcpyDeviceToHost, stream));
      BENCH_CHECK(cudaMemcpyAsync(fused_i.data(), ids, fused_i.size() * 4, cudaMemcpyDeviceToHost, stream));
      poison();
      BENCH_CHECK(moe_router::route_reference(params(0), stream));
      BENCH_CHECK(cudaMemcpyAsync(ref_w.data(), weights, ref_w.size() * 4, cudaMemcpyDeviceToHost, stream));
      BENCH_CHECK(cudaMemcpyAsync(ref_i.data(), ids, ref_i.size() * 4, cudaMemcpyDeviceToHost, stream));
      BENCH_CHECK(cudaStreamSynchronize(stream));
      if (std::memcmp(fused_w.data(), ref_w.data(), fused_w.size() * 4) != 0 ||
          std::memcmp(fused_i.data(), ref_i.data(), fused_i.size() * 4) != 0) {
        std::printf("FAILED: %s %lld tokens: the fused kernel differs from the reference kernel\n", name,
                    static_cast<long long>(tokens));
        std::exit(1);
      }
      // Both may have left the same slot poisoned (no row here is padding, so no id is -1, and
      // no weight has the poison's bits, a NaN).
      const auto poisoned = [](float w) {
        std::uint32_t bits;
        std::memcpy(&bits, &w, sizeof bits);
        return bits == 0xffffffffu;
      };
      if (std::find(fused_i.begin(), fused_i.end(), -1) != fused_i.end() ||
          std::find_if(fused_w.begin(), fused_w.end(), poisoned) != fused_w.end()) {
        std::printf("FAILED: %s %lld tokens: an output slot was not written\n", name, static_cast<long long>(tokens));
        std::exit(1);
      }
    }
    const int replays = quick ? 5 : 25;
    row r{name, moe_router::to_string(Config::logits_data_type), tokens, !rotate, 0, 0, 0, 0, 0, 0};
    // The kernel route_fused chooses for this batch (see route.cuh).
    r.lanes = moe_router::fused_token_lanes<Config>(tokens);
    r.fused_us = time_per_call_us(
      [&](int set, cudaStream_t s) { BENCH_CHECK(moe_router::route_fused<Config>(params(set), s)); }, sets, replays,
      stream);
    const std::int64_t chunks = static_cast<std::int64_t>(set_bytes) / 16;
    // As many blocks as the work needs, at most 8 per SM (a persistent grid).
    const int floor_blocks = static_cast<int>(
      std::min<std::int64_t>(static_cast<std::int64_t>(sms) * 8, (std::max(chunks, tokens * slots) + 255) / 256));
    auto time_floor = [&](auto kernel) {
      return time_per_call_us(
        [&](int set, cudaStream_t s) {
          kernel<<<floor_blocks, 256, 0, s>>>(reinterpret_cast<const uint4*>(logits[set]), chunks, weights, ids,
                                              tokens * slots);
          BENCH_CHECK(cudaGetLastError());
        },
        sets, replays, stream);
    };
    r.floor_plain_us = time_floor(traffic_floor_kernel<1>);
    r.floor_in_flight_us = time_floor(traffic_floor_kernel<4>);
    r.floor_us = std::min(r.floor_plain_us, r.floor_in_flight_us);
    // The reference kernel is slow (milliseconds at 32768 tokens): the median of 3 replays.
    if (!quick && tokens <= 32768)
      r.reference_us = time_per_call_us(
        [&](int set, cudaStream_t s) { BENCH_CHECK(moe_router::route_reference(params(set), s)); }, sets, 3, stream);
    r.bytes = set_bytes + static_cast<double>(tokens) * slots * (sizeof(float) + sizeof(std::int32_t));
    rows.push_back(r);
    std::printf("%-12s %-5s %7lld %-3s fused(%2d) %9.2f us  floor %9.2f us (%.2f / %.2f)  x%5.2f  %7.0f GB/s  ref "
                "%10.2f us\n",
                name, r.logits.c_str(), static_cast<long long>(tokens), r.in_l2 ? "L2" : "HBM", r.lanes, r.fused_us,
                r.floor_us, r.floor_plain_us, r.floor_in_flight_us, r.fused_us / r.floor_us, r.bytes / r.fused_us / 1e3,
                r.reference_us);
    std::fflush(stdout);
    for (auto* l : logits) BENCH_CHECK(cudaFree(l));
    BENCH_CHECK(cudaFree(weights));
    BENCH_CHECK(cudaFree(ids));
  }
  BENCH_CHECK(cudaFree(bias));
}

// One plain launch of the fused kernel (after a warm-up), for a profiler.
template <class Config>
void profile_config(std::int64_t tokens, cudaStream_t stream)
{
  constexpr int E = Config::num_experts, slots = Config::topk + 1;
  typename Config::logit_type* logits = nullptr;
  float *bias = nullptr, *weights = nullptr;
  std::int32_t* ids = nullptr;
  BENCH_CHECK(cudaMalloc(&logits, tokens * E * sizeof(*logits)));
  BENCH_CHECK(cudaMalloc(&bias, E * sizeof(float)));
  BENCH_CHECK(cudaMalloc(&weights, tokens * slots * sizeof(float)));
  BENCH_CHECK(cudaMalloc(&ids, tokens * slots * sizeof(std::int32_t)));
  fill_normal<<<1024, 256, 0, stream>>>(logits, tokens * E, 1, 1.0f);
  fill_normal<<<4, 256, 0, stream>>>(bias, E, 7, 0.05f);
  const moe_router::route_params p = bench_params<Config>(logits, bias, weights, ids, tokens);
  for (int i = 0; i < 2; ++i) BENCH_CHECK(moe_router::route_fused<Config>(p, stream));
  BENCH_CHECK(cudaStreamSynchronize(stream));
  BENCH_CHECK(cudaFree(logits));
  BENCH_CHECK(cudaFree(bias));
  BENCH_CHECK(cudaFree(weights));
  BENCH_CHECK(cudaFree(ids));
}

}  // namespace

int main(int argc, char** argv)
{
  std::string csv_path = std::getenv("OUT") ? std::string(std::getenv("OUT")) + "/route_bench.csv" : "route_bench.csv";
  bool quick = false, profile = false;  // --profile: one plain launch per shape, for ncu
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--csv") && i + 1 < argc) csv_path = argv[++i];
    else if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--profile")) profile = true;
    else {
      std::fprintf(stderr, "usage: %s [--csv FILE] [--quick] [--profile]\n", argv[0]);
      return 2;
    }
  }
  cudaDeviceProp prop{};
  if (!bench::first_device(prop)) return 0;
  std::printf("# device: %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
  cudaStream_t stream;
  BENCH_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  // Written to a file beside the CSV, opened before the run so that a path that cannot be
  // written fails at once, and renamed to the CSV at the end: a run that stops on the way
  // leaves an existing CSV as it was.
  const std::string partial_path = csv_path + ".partial";
  FILE* csv = profile ? nullptr : std::fopen(partial_path.c_str(), "w");
  if (!profile && csv == nullptr) {
    std::fprintf(stderr, "cannot write %s: %s\n", partial_path.c_str(), std::strerror(errno));
    return 1;
  }

  if (profile) {  // the launches scripts/profile-lines.sh and profile-pipes.sh profile (the second of each pair)
    profile_config<moe_router::deepseek_v3_config<float>>(131072, stream);
    profile_config<moe_router::deepseek_v3_config<float>>(1, stream);
    profile_config<moe_router::kimi_k2_config<float>>(131072, stream);
    profile_config<moe_router::deepseek_v3_config<__nv_bfloat16>>(131072, stream);
    profile_config<moe_router::deepseek_v3_config<float>>(2048, stream);  // scripts/profile-pipes.sh
    return 0;
  }
  const std::vector<std::int64_t> tokens = {1, 8, 32, 128, 512, 2048, 8192, 32768, 131072};
  std::vector<row> rows;
  using namespace moe_router;
  bench_config<deepseek_v3_config<float>>("deepseek_v3", tokens, quick, stream, prop.l2CacheSize,
                                          prop.multiProcessorCount, rows);
  bench_config<deepseek_v3_config<__nv_bfloat16>>("deepseek_v3", tokens, quick, stream, prop.l2CacheSize,
                                                  prop.multiProcessorCount, rows);
  bench_config<kimi_k2_config<float>>("kimi_k2", tokens, quick, stream, prop.l2CacheSize, prop.multiProcessorCount,
                                      rows);
  bench_config<kimi_k2_config<__nv_bfloat16>>("kimi_k2", tokens, quick, stream, prop.l2CacheSize,
                                              prop.multiProcessorCount, rows);

  // One decimal more than the summary table below (whole tokens per second), so that the table
  // built from the CSV (scripts/bench_table.py, docs/performance.md) shows what this run printed.
  {
    std::fprintf(csv, "device,shape,logits,tokens,inputs,lanes_per_token,fused_us,floor_us,fused_over_floor,"
                      "fused_tokens_per_s,fused_GBps,reference_us,floor_plain_us,floor_in_flight_us\n");
    for (const row& r : rows)
      std::fprintf(csv, "%s,%s,%s,%lld,%s,%d,%.4f,%.4f,%.4f,%.0f,%.3f,%.3f,%.4f,%.4f\n", prop.name, r.shape.c_str(),
                   r.logits.c_str(), static_cast<long long>(r.tokens), r.in_l2 ? "L2" : "HBM", r.lanes, r.fused_us,
                   r.floor_us, r.fused_us / r.floor_us, r.tokens / (r.fused_us * 1e-6), r.bytes / r.fused_us / 1e3,
                   r.reference_us, r.floor_plain_us, r.floor_in_flight_us);
    const bool written = std::ferror(csv) == 0;
    if (std::fclose(csv) != 0 || !written || std::rename(partial_path.c_str(), csv_path.c_str()) != 0) {
      std::fprintf(stderr, "could not write %s\n", csv_path.c_str());
      return 1;
    }
    std::printf("# wrote %s\n", csv_path.c_str());
  }

  // The summary table (last, so that it ends the output).
  std::printf("\n| shape | logits | tokens | inputs | lanes | fused us | floor us | fused/floor | fused GB/s | Mtok/s | "
              "reference us |\n");
  std::printf("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const row& r : rows)
    std::printf("| %s | %s | %lld | %s | %d | %.2f | %.2f | %.2f | %.0f | %.1f | %s |\n", r.shape.c_str(),
                r.logits.c_str(), static_cast<long long>(r.tokens), r.in_l2 ? "L2" : "HBM", r.lanes, r.fused_us, r.floor_us,
                r.fused_us / r.floor_us, r.bytes / r.fused_us / 1e3, r.tokens / r.fused_us,
                r.reference_us > 0 ? std::to_string(std::lround(r.reference_us)).c_str() : "-");
  BENCH_CHECK(cudaStreamDestroy(stream));
  return 0;
}
