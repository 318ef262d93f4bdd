// Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
//
// What routing adds to the kernel before it, launched plainly and with programmatic dependent
// launch (`launch_options::programmatic_dependent_launch`, docs/integration.md).
//
// In an engine the routing kernel follows the router GEMM, which writes its logits. Here a
// stand-in for that GEMM, the "producer", spins a fixed number of cycles in each block, lets
// its dependents start (`griddepcontrol.launch_dependents`, as a GEMM written for PDL does
// before its epilogue) and then writes the logits (a copy of the benchmark's random ones).
// Timed as route_bench times (CUDA events around replays of a graph of 200 calls, the median
// of 25): the producer alone, the producer then `route_fused`, and the producer then
// `route_fused` with PDL; routing adds the pair's time less the producer's. `route_fused`
// alone is timed too. Before timing, the PDL pair runs over logits poisoned with NaN and its
// output is checked bit for bit against the reference kernel on the producer's logits, so
// that a routing kernel that read the logits before the producer wrote them would be caught.
//
//   moe_router_pdl_bench [--spin CYCLES] [--producer-smem BYTES] [--lanes N] [--tokens T,T,...]
//
// --spin: a producer block's cycles before it lets its dependents launch (default 4000);
// --producer-smem: dynamic shared memory a producer block takes (default 0; a GEMM takes much,
// and an SM's split between L1 and shared memory follows the kernels it holds);
// --lanes: force the fused kernel (`launch_options::token_lanes`: 32, 16 or 8; default 0, as
// route_fused chooses); --tokens: the batch sizes (default 1,8,128,512,2048,8192).
//
// Shapes: DeepSeek-V3 (fp32 and bf16 logits) and Kimi-K2 (fp32), 1 to 8192 tokens (the
// logits stay in L2), the benchmark's options.

#include "bench_common.cuh"

#include <moe_router/moe_router.cuh>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

/// The router GEMM's stand-in: `spin` cycles of work a block, then its dependents may launch,
/// then it writes the `n` logits.
template <class T>
__global__ void producer(const T* source, T* logits, std::int64_t n, long long spin)
{
  extern __shared__ int scratch[];  // --producer-smem bytes, touched so that they are taken
  if (threadIdx.x == 0 && spin < 0) scratch[0] = 0;
  const long long start = clock64();
  while (clock64() - start < spin) {
  }
  asm volatile("griddepcontrol.launch_dependents;");
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    logits[i] = source[i];
}

constexpr int producer_threads = 256;

template <class Config>
void run(const char* shape, std::int64_t tokens, long long spin, int smem, int lanes, int sms, cudaStream_t stream)
{
  using logit_type = typename Config::logit_type;
  constexpr int E = Config::num_experts;
  const int slots = Config::topk + 1;
  const std::int64_t n = tokens * E;
  logit_type *source = nullptr, *logits = nullptr;
  float *bias = nullptr, *weights = nullptr, *reference_weights = nullptr;
  std::int32_t *ids = nullptr, *reference_ids = nullptr;
  BENCH_CHECK(cudaMalloc(&source, sizeof(logit_type) * n));
  BENCH_CHECK(cudaMalloc(&logits, sizeof(logit_type) * n));
  BENCH_CHECK(cudaMalloc(&bias, sizeof(float) * E));
  BENCH_CHECK(cudaMalloc(&weights, sizeof(float) * tokens * slots));
  BENCH_CHECK(cudaMalloc(&reference_weights, sizeof(float) * tokens * slots));
  BENCH_CHECK(cudaMalloc(&ids, sizeof(std::int32_t) * tokens * slots));
  BENCH_CHECK(cudaMalloc(&reference_ids, sizeof(std::int32_t) * tokens * slots));
  bench::fill_normal<<<256, 256, 0, stream>>>(source, n, 1, 1.0f);
  bench::fill_normal<<<4, 256, 0, stream>>>(bias, E, 7, 0.05f);
  BENCH_CHECK(cudaGetLastError());

  const moe_router::route_params p = bench::bench_params<Config>(logits, bias, weights, ids, tokens);
  moe_router::route_params reference = bench::bench_params<Config>(source, bias, reference_weights, reference_ids,
                                                                   tokens);
  BENCH_CHECK(moe_router::route_reference(reference, stream));
  moe_router::launch_options plain_launch;
  plain_launch.token_lanes = lanes;
  moe_router::launch_options pdl = plain_launch;
  pdl.programmatic_dependent_launch = true;
  const long long needed_blocks = (n + producer_threads - 1) / producer_threads;
  const unsigned blocks = static_cast<unsigned>(needed_blocks < sms ? needed_blocks : sms);
  BENCH_CHECK(cudaFuncSetAttribute(producer<logit_type>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  auto produce = [&](cudaStream_t s) {
    producer<<<blocks, producer_threads, static_cast<std::size_t>(smem), s>>>(source, logits, n, spin);
  };

  // The PDL pair over poisoned logits and outputs, twice, checked against the reference kernel.
  for (int round = 0; round < 2; ++round) {
    BENCH_CHECK(cudaMemsetAsync(logits, 0xff, sizeof(logit_type) * n, stream));
    BENCH_CHECK(cudaMemsetAsync(weights, 0xff, sizeof(float) * tokens * slots, stream));
    BENCH_CHECK(cudaMemsetAsync(ids, 0xff, sizeof(std::int32_t) * tokens * slots, stream));
    produce(stream);
    BENCH_CHECK(moe_router::route_fused<Config>(p, stream, pdl));
    BENCH_CHECK(cudaStreamSynchronize(stream));
    if (!bench::same_rows(weights, ids, reference_weights, reference_ids, static_cast<std::size_t>(tokens) * slots)) {
      std::fprintf(stderr, "pdl_bench: %s %s, %lld tokens: the PDL pair's rows differ from the reference kernel's\n",
                   shape, moe_router::to_string(Config::logits_data_type), static_cast<long long>(tokens));
      std::exit(1);
    }
  }

  constexpr int replays = 25;
  const double alone = bench::time_per_call_us(
    [&](int, cudaStream_t s) { BENCH_CHECK(moe_router::route_fused<Config>(p, s, plain_launch)); }, 1, replays,
    stream);
  const double produced = bench::time_per_call_us([&](int, cudaStream_t s) { produce(s); }, 1, replays, stream);
  const double plain = bench::time_per_call_us(
    [&](int, cudaStream_t s) {
      produce(s);
      BENCH_CHECK(moe_router::route_fused<Config>(p, s, plain_launch));
    },
    1, replays, stream);
  const double with_pdl = bench::time_per_call_us(
    [&](int, cudaStream_t s) {
      produce(s);
      BENCH_CHECK(moe_router::route_fused<Config>(p, s, pdl));
    },
    1, replays, stream);
  std::printf("| %s | %s | %lld | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", shape,
              moe_router::to_string(Config::logits_data_type), static_cast<long long>(tokens), alone, produced, plain,
              with_pdl, plain - produced, with_pdl - produced);
  std::fflush(stdout);
  for (void* ptr : {static_cast<void*>(source), static_cast<void*>(logits), static_cast<void*>(bias),
                    static_cast<void*>(weights), static_cast<void*>(reference_weights), static_cast<void*>(ids),
                    static_cast<void*>(reference_ids)})
    BENCH_CHECK(cudaFree(ptr));
}

}  // namespace

int main(int argc, char** argv)
{
  long long spin = 4000;
  int smem = 0, lanes = 0;
  std::vector<std::int64_t> sizes = {1, 8, 128, 512, 2048, 8192};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--spin") == 0 && i + 1 < argc) {
      spin = std::atoll(argv[++i]);
    } else if (std::strcmp(argv[i], "--producer-smem") == 0 && i + 1 < argc) {
      smem = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--lanes") == 0 && i + 1 < argc) {
      lanes = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--tokens") == 0 && i + 1 < argc) {
      sizes.clear();
      for (char* t = std::strtok(argv[++i], ","); t != nullptr; t = std::strtok(nullptr, ","))
        sizes.push_back(std::atoll(t));
    } else {
      std::fprintf(stderr, "usage: moe_router_pdl_bench [--spin CYCLES] [--producer-smem BYTES] [--lanes N] "
                           "[--tokens T,T,...]\n");
      return 2;
    }
  }
  for (const std::int64_t t : sizes) {
    if (t < 1) {
      std::fprintf(stderr, "moe_router_pdl_bench: --tokens takes sizes of 1 or more\n");
      return 2;
    }
  }
  if (spin < 0 || smem < 0) {
    std::fprintf(stderr, "moe_router_pdl_bench: --spin and --producer-smem must be 0 or more\n");
    return 2;
  }
  cudaDeviceProp prop{};
  if (!bench::first_device(prop)) return 0;
  std::printf("# %s, %d SMs; producer: %lld cycles a block, then its dependents may launch, then it writes; "
              "%d bytes of shared memory a producer block; lanes a token %d (0: route_fused's choice)\n",
              prop.name, prop.multiProcessorCount, spin, smem, lanes);
  std::printf("| shape | logits | tokens | route alone µs | producer µs | producer + route µs | producer + route, PDL "
              "µs | routing adds µs | routing adds, PDL µs |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
  cudaStream_t stream;
  BENCH_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const int sms = prop.multiProcessorCount;
  for (const std::int64_t tokens : sizes) {
    run<moe_router::deepseek_v3_config<float>>("deepseek_v3", tokens, spin, smem, lanes, sms, stream);
    run<moe_router::deepseek_v3_config<__nv_bfloat16>>("deepseek_v3", tokens, spin, smem, lanes, sms, stream);
    run<moe_router::kimi_k2_config<float>>("kimi_k2", tokens, spin, smem, lanes, sms, stream);
  }
  BENCH_CHECK(cudaStreamDestroy(stream));
  return 0;
}
