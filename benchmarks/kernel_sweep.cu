// Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
//
// Times each fused kernel of several compiled shapes, forced with `launch_options::token_lanes`
// (or as `route_fused` picks), on the benchmark's inputs and options, after checking its output
// against the reference kernel's bit for bit. For the crossovers between the kernels
// (docs/performance.md, "Between") and for comparing two builds of the headers
// (scripts/ab-headers.sh).
//
//   moe_router_kernel_sweep [--shapes NAME,...] [--tokens N,...] [--lanes L,...] [--replays R]
//                           [--max-blocks B,...]
//
// NAME: deepseek_v3, kimi_k2, glm_4_5, minimax_m2, deepseek_v4_flash, qwen3_moe, llama_4,
// llama_4_scout (fp32 logits), or the same with /bf16 (deepseek_v3, kimi_k2, glm_4_5,
// minimax_m2, deepseek_v4_flash, llama_4); default: all. Tokens: default
// 8192,32768,131072. Lanes: 0 (route_fused's choice, the default), 32, 16 or 8; a kernel the
// shape does not have is left out. Replays: of a graph of 200 launches, the median (default 12).
// Max blocks: `launch_options::max_blocks` (default 0: the launcher's grid), each value a case.
// Inputs and options are the benchmark's (softmax shapes without a bias); inputs of more than
// half the L2 rotate over copies, as in the benchmark.
//
// One line per case: "sweep SHAPE LOGITS TOKENS LANES US", where LANES is the kernel that ran,
// and " max_blocks=B" after it for a case with B > 0.

#include "bench_common.cuh"

#include <moe_router/moe_router.cuh>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct sweep_options {
  std::vector<std::string> shapes;  // empty: all
  std::vector<std::int64_t> tokens{8192, 32768, 131072};
  std::vector<int> lanes{0};
  std::vector<int> max_blocks{0};
  int replays = 12;
  int l2_bytes = 0;
};

std::vector<std::string> split(const char* list)
{
  std::vector<std::string> items;
  std::string item;
  for (const char* c = list;; ++c) {
    if (*c == ',' || *c == '\0') {
      if (!item.empty()) items.push_back(item);
      item.clear();
      if (*c == '\0') break;
    } else {
      item += *c;
    }
  }
  return items;
}

bool wanted(const sweep_options& o, const std::string& name)
{
  if (o.shapes.empty()) return true;
  for (const std::string& s : o.shapes)
    if (s == name) return true;
  return false;
}

/// Does `Config` have the kernel of `lanes` lanes per token (0: route_fused's choice)?
template <class Config>
bool has_kernel(int lanes)
{
  switch (lanes) {
    case 0:
    case 32: return true;
    case 16: return moe_router::fused_half_warp_available<Config>();
    case 8: return moe_router::fused_tiled_available<Config>();
    default: return false;
  }
}

template <class Config>
void sweep(const char* shape, const sweep_options& o, cudaStream_t stream, bool& failed)
{
  const char* logits_name = moe_router::to_string(Config::logits_data_type);
  const std::string name = Config::logits_data_type == moe_router::data_type::f32
                             ? std::string(shape)
                             : std::string(shape) + "/" + logits_name;
  if (!wanted(o, name)) return;
  using logit_type = typename Config::logit_type;
  constexpr int E = Config::num_experts, slots = Config::topk + 1;
  float* bias = nullptr;
  BENCH_CHECK(cudaMalloc(&bias, E * sizeof(float)));
  bench::fill_normal<<<4, 256, 0, stream>>>(bias, E, 7, 0.05f);
  for (const std::int64_t tokens : o.tokens) {
    const double set_bytes = static_cast<double>(tokens) * E * sizeof(logit_type);
    const int sets = bench::input_sets(set_bytes, o.l2_bytes);
    std::vector<logit_type*> logits(sets);
    for (int s = 0; s < sets; ++s) {
      BENCH_CHECK(cudaMalloc(&logits[s], static_cast<std::size_t>(set_bytes) + 16));
      bench::fill_normal<<<1024, 256, 0, stream>>>(logits[s], tokens * E, 1000 + s, 1.0f);
    }
    const std::size_t outputs = static_cast<std::size_t>(tokens) * slots;
    float *weights = nullptr, *reference_weights = nullptr;
    std::int32_t *ids = nullptr, *reference_ids = nullptr;
    BENCH_CHECK(cudaMalloc(&weights, outputs * sizeof(float)));
    BENCH_CHECK(cudaMalloc(&ids, outputs * sizeof(std::int32_t)));
    BENCH_CHECK(cudaMalloc(&reference_weights, outputs * sizeof(float)));
    BENCH_CHECK(cudaMalloc(&reference_ids, outputs * sizeof(std::int32_t)));
    // The benchmark's options; softmax shapes without a bias, as their models run.
    const float* run_bias = Config::scoring == moe_router::scoring_func::softmax ? nullptr : bias;
    const moe_router::route_params p = bench::bench_params<Config>(logits[0], run_bias, weights, ids, tokens);
    moe_router::route_params reference = p;
    reference.weights = reference_weights;
    reference.ids = reference_ids;
    BENCH_CHECK(moe_router::route_reference(reference, stream));
    std::vector<unsigned char> expected(outputs * 8), got(outputs * 8);
    BENCH_CHECK(cudaMemcpyAsync(expected.data(), reference_weights, outputs * 4, cudaMemcpyDeviceToHost, stream));
    BENCH_CHECK(cudaMemcpyAsync(expected.data() + outputs * 4, reference_ids, outputs * 4, cudaMemcpyDeviceToHost,
                                stream));
    for (const int lanes : o.lanes) {
      if (!has_kernel<Config>(lanes)) continue;
      for (const int max_blocks : o.max_blocks) {
        moe_router::launch_options options;
        options.token_lanes = lanes;
        options.max_blocks = max_blocks;
        // Poisoned outputs, then the kernel once, checked against the reference kernel.
        BENCH_CHECK(cudaMemsetAsync(weights, 0xff, outputs * 4, stream));
        BENCH_CHECK(cudaMemsetAsync(ids, 0xff, outputs * 4, stream));
        BENCH_CHECK(moe_router::route_fused<Config>(p, stream, options));
        BENCH_CHECK(cudaMemcpyAsync(got.data(), weights, outputs * 4, cudaMemcpyDeviceToHost, stream));
        BENCH_CHECK(cudaMemcpyAsync(got.data() + outputs * 4, ids, outputs * 4, cudaMemcpyDeviceToHost, stream));
        BENCH_CHECK(cudaStreamSynchronize(stream));
        const int ran = moe_router::fused_token_lanes<Config>(tokens, lanes);
        if (std::memcmp(got.data(), expected.data(), got.size()) != 0) {
          std::printf("FAILED: %s %lld tokens, %d lanes, max_blocks %d: the fused kernel differs from the reference "
                      "kernel\n",
                      name.c_str(), static_cast<long long>(tokens), ran, max_blocks);
          failed = true;
          continue;
        }
        const double us = bench::time_per_call_us(
          [&](int set, cudaStream_t s) {
            moe_router::route_params q = p;
            q.logits = logits[set];
            BENCH_CHECK(moe_router::route_fused<Config>(q, s, options));
          },
          sets, o.replays, stream);
        std::printf("sweep %-18s %-5s %7lld %2d %9.3f", shape, logits_name, static_cast<long long>(tokens), ran, us);
        if (max_blocks > 0) std::printf(" max_blocks=%d", max_blocks);
        std::printf("\n");
        std::fflush(stdout);
      }
    }
    for (auto* l : logits) BENCH_CHECK(cudaFree(l));
    BENCH_CHECK(cudaFree(weights));
    BENCH_CHECK(cudaFree(ids));
    BENCH_CHECK(cudaFree(reference_weights));
    BENCH_CHECK(cudaFree(reference_ids));
  }
  BENCH_CHECK(cudaFree(bias));
}

}  // namespace

/// `text` as a whole number, or -1 unless all of it is one ("1e5" and "12x" are refused, not
/// read as 1 and 12).
static std::int64_t whole_number(const std::string& text)
{
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  return text.empty() || errno != 0 || *end != '\0' ? -1 : static_cast<std::int64_t>(v);
}

/// The same for an int option (-1 outside int's range).
static int whole_int(const std::string& text)
{
  const std::int64_t v = whole_number(text);
  return v < INT_MIN || v > INT_MAX ? -1 : static_cast<int>(v);
}

int main(int argc, char** argv)
{
  sweep_options o;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (!std::strcmp(argv[i], "--shapes") && has_value) {
      o.shapes = split(argv[++i]);
    } else if (!std::strcmp(argv[i], "--tokens") && has_value) {
      o.tokens.clear();
      for (const std::string& t : split(argv[++i])) o.tokens.push_back(whole_number(t));
    } else if (!std::strcmp(argv[i], "--lanes") && has_value) {
      o.lanes.clear();
      for (const std::string& l : split(argv[++i])) o.lanes.push_back(whole_int(l));
    } else if (!std::strcmp(argv[i], "--replays") && has_value) {
      o.replays = whole_int(argv[++i]);
    } else if (!std::strcmp(argv[i], "--max-blocks") && has_value) {
      o.max_blocks.clear();
      for (const std::string& b : split(argv[++i])) o.max_blocks.push_back(whole_int(b));
    } else {
      std::fprintf(stderr,
                   "usage: %s [--shapes NAME,...] [--tokens N,...] [--lanes L,...] [--replays R] "
                   "[--max-blocks B,...]\n",
                   argv[0]);
      return 2;
    }
  }
  for (const std::int64_t t : o.tokens)
    if (t < 1) {
      std::fprintf(stderr, "--tokens: each count must be a whole number, at least 1\n");
      return 2;
    }
  const char* const known[] = {"deepseek_v3",       "deepseek_v3/bf16",       "kimi_k2",       "kimi_k2/bf16",
                               "glm_4_5",           "glm_4_5/bf16",           "minimax_m2",    "minimax_m2/bf16",
                               "deepseek_v4_flash", "deepseek_v4_flash/bf16", "qwen3_moe",     "llama_4",
                               "llama_4/bf16",      "llama_4_scout"};
  for (const std::string& s : o.shapes)
    if (std::none_of(std::begin(known), std::end(known), [&](const char* k) { return s == k; })) {
      std::fprintf(stderr, "--shapes: unknown shape %s\n", s.c_str());
      return 2;
    }
  for (const int l : o.lanes)
    if (l != 0 && l != 8 && l != 16 && l != 32) {
      std::fprintf(stderr, "--lanes: 0, 8, 16 or 32 (got %d)\n", l);
      return 2;
    }
  if (o.max_blocks.empty() || std::any_of(o.max_blocks.begin(), o.max_blocks.end(), [](int b) { return b < 0; })) {
    std::fprintf(stderr, "--max-blocks: each a whole number, 0 (the launcher's grid) or more\n");
    return 2;
  }
  if (o.replays < 1) {
    std::fprintf(stderr, "--replays: at least 1\n");
    return 2;
  }
  cudaDeviceProp prop{};
  if (!bench::first_device(prop)) return 0;
  o.l2_bytes = prop.l2CacheSize;
  std::printf("# device: %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
  cudaStream_t stream;
  BENCH_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  bool failed = false;
  using namespace moe_router;
  sweep<deepseek_v3_config<float>>("deepseek_v3", o, stream, failed);
  sweep<deepseek_v3_config<__nv_bfloat16>>("deepseek_v3", o, stream, failed);
  sweep<kimi_k2_config<float>>("kimi_k2", o, stream, failed);
  sweep<kimi_k2_config<__nv_bfloat16>>("kimi_k2", o, stream, failed);
  sweep<glm_4_5_config<float>>("glm_4_5", o, stream, failed);
  sweep<glm_4_5_config<__nv_bfloat16>>("glm_4_5", o, stream, failed);
  sweep<minimax_m2_config<float>>("minimax_m2", o, stream, failed);
  sweep<minimax_m2_config<__nv_bfloat16>>("minimax_m2", o, stream, failed);
  sweep<deepseek_v4_flash_config<float>>("deepseek_v4_flash", o, stream, failed);
  sweep<deepseek_v4_flash_config<__nv_bfloat16>>("deepseek_v4_flash", o, stream, failed);
  sweep<qwen3_moe_config<float>>("qwen3_moe", o, stream, failed);
  sweep<llama_4_config<float>>("llama_4", o, stream, failed);
  sweep<llama_4_config<__nv_bfloat16>>("llama_4", o, stream, failed);
  sweep<llama_4_scout_config<float>>("llama_4_scout", o, stream, failed);
  BENCH_CHECK(cudaStreamDestroy(stream));
  return failed ? 1 : 0;
}
