/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// Screening (screening.cuh), on which the tiled kernel's choice rests:
//  (a) screen_sigmoid against sigmoid_score over all 2^32 fp32 inputs: within half of
//      screen_score_error, and NaN exactly where the exact score is NaN;
//  (b) screen_lower / screen_upper hold the exact key fl(sigmoid_score(x) + b) between them for
//      random and extreme (x, b), the bias at every scale, infinite and NaN;
//  (c) the tiled kernel equals the reference kernel bit for bit on rows built to defeat the
//      screen: the keys of a row within a few ulp of each other, so that the screened order
//      often differs from the exact one and only the proofs, the candidates' exact keys and the
//      exact fallback keep the output exact (that the screened keys, not only the fallback,
//      decide: screening_paths_test.cu).
// Inputs are fresh every run; MOE_ROUTER_TEST_SEED replays one.

#include "gpu/fused_test_common.cuh"
#include "gpu/screening_cases.cuh"
#include "support/test_harness.cuh"

#include <moe_router/model_configs.cuh>
#include <moe_router/reference/reference_kernel.cuh>
#include <moe_router/route.cuh>
#include <moe_router/screening.cuh>

#include <cuda_runtime_api.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace screening_test {

using namespace moe_router;
using namespace moe_router::test;

struct sigmoid_scan {
  unsigned long long largest;  // (|screened - exact| bits << 32) | x bits: the largest error and its input
  unsigned nan_mismatches;     // inputs where one is NaN and the other is not
};

__global__ void scan_all_inputs(sigmoid_scan* out)
{
  unsigned long long largest = 0;
  unsigned nan_mismatches = 0;
  const std::uint64_t step = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t i = blockIdx.x * static_cast<std::uint64_t>(blockDim.x) + threadIdx.x; i < (1ull << 32); i += step) {
    const float x = __uint_as_float(static_cast<unsigned>(i));
    const float screened = screen_sigmoid(x), exact = sigmoid_score(x);
    if ((screened != screened) != (exact != exact)) ++nan_mismatches;
    if (exact != exact || screened != screened) continue;
    // A non-negative float's bits order as its value.
    const unsigned long long error = __float_as_uint(fabsf(screened - exact));
    largest = max(largest, (error << 32) | static_cast<unsigned>(i));
  }
  atomicMax(&out->largest, largest);
  atomicAdd(&out->nan_mismatches, nan_mismatches);
}

float float_of(unsigned bits)
{
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

TEST_CASE("screen_sigmoid is within half of screen_score_error of sigmoid_score for every fp32 input", "[screening]")
{
  device_array<sigmoid_scan> scan(1);
  REQUIRE(cudaMemset(scan.data(), 0, sizeof(sigmoid_scan)) == cudaSuccess);
  scan_all_inputs<<<2048, 256>>>(scan.data());
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  sigmoid_scan result{};
  REQUIRE(cudaMemcpy(&result, scan.data(), sizeof result, cudaMemcpyDeviceToHost) == cudaSuccess);
  const float error = float_of(static_cast<unsigned>(result.largest >> 32));
  const float input = float_of(static_cast<unsigned>(result.largest));
  std::printf("  screen_sigmoid vs sigmoid_score over 2^32 inputs: largest difference %.3g (2^%.2f) at x = %.9g, "
              "allowed %.3g; NaN mismatches %u\n",
              static_cast<double>(error), std::log2(static_cast<double>(error)), static_cast<double>(input),
              static_cast<double>(screen_score_error / 2), result.nan_mismatches);
  CHECK(result.nan_mismatches == 0);
  CHECK(error <= screen_score_error / 2);
}

/// A 64-bit mix (splitmix64's finalizer): the sample generator of the key-bound test.
__device__ std::uint64_t mix(std::uint64_t z)
{
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// Sample i of (x, b): x a logit at one of several scales or any bit pattern; b zero, small,
/// near -score (the key cancels to almost nothing), huge, infinite or NaN.
__device__ void key_sample(std::uint64_t seed, std::uint64_t i, float& x, float& b)
{
  const std::uint64_t r = mix(seed ^ mix(i));
  const std::uint64_t q = mix(r);
  const float unit = static_cast<float>(r >> 40) * 0x1.0p-24f * 2.0f - 1.0f;  // [-1, 1)
  switch ((r >> 8) % 4) {
    case 0: x = unit * 4.0f; break;
    case 1: x = unit * 100.0f; break;
    case 2: x = __uint_as_float(static_cast<unsigned>(q)); break;  // any pattern: NaN, inf, subnormal
    default: x = unit * 1e-3f; break;
  }
  const float small = static_cast<float>(q >> 40) * 0x1.0p-24f - 0.5f;
  switch ((r >> 16) % 8) {
    case 0: b = 0.0f; break;
    case 1: b = small; break;
    case 2: b = -sigmoid_score(x) + small * 1e-6f; break;
    case 3: b = small * 3.4e38f; break;
    case 4: b = ((q >> 8) & 1) ? 3.4028235e38f : -3.4028235e38f; break;
    case 5: b = ((q >> 8) & 1) ? INFINITY : -INFINITY; break;
    case 6: b = __uint_as_float(0x7fc00000u); break;
    default: b = __uint_as_float(static_cast<unsigned>(q >> 32)); break;  // any pattern
  }
}

__global__ void check_key_bounds(std::uint64_t seed, std::uint64_t samples, unsigned long long* violations)
{
  unsigned long long local = 0;
  for (std::uint64_t i = blockIdx.x * static_cast<std::uint64_t>(blockDim.x) + threadIdx.x; i < samples;
       i += static_cast<std::uint64_t>(gridDim.x) * blockDim.x) {
    float x, b;
    key_sample(seed, i, x, b);
    const float screened = screen_key(x, screen_bias(b));  // the tiled kernel's screened key
    const std::uint32_t exact = order_key(add_rn(sigmoid_score(x), b));
    if (screen_lower_key(screen_lower(screened)) > exact || exact > screen_upper_key(screen_upper(screened))) ++local;
  }
  atomicAdd(violations, local);
}

TEST_CASE("screen_lower and screen_upper hold the exact key between them", "[screening]")
{
  const std::uint64_t seed = derive_seed(base_seed(), 0x5c4ee9);
  INFO("seed " << seed << "; replay with " << replay_note());
  constexpr std::uint64_t samples = 1ull << 28;
  device_array<unsigned long long> violations(1);
  REQUIRE(cudaMemset(violations.data(), 0, sizeof(unsigned long long)) == cudaSuccess);
  check_key_bounds<<<1024, 256>>>(seed, samples, violations.data());
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  unsigned long long count = 0;
  REQUIRE(cudaMemcpy(&count, violations.data(), sizeof count, cudaMemcpyDeviceToHost) == cudaSuccess);
  std::printf("  key bounds: %llu samples, %llu outside their bounds\n", static_cast<unsigned long long>(samples), count);
  CHECK(count == 0);
}

/// The tiled kernel of `Config` forced on `c`, against the reference kernel, bit for bit.
template <class Config>
void check_tiled_on(const char* label, const test_case& c)
{
  INFO(label << ": " << c.describe() << "\nreplay with " << replay_note());
  const route_outputs reference = run_device(c, reference_entry);
  const route_outputs tiled = run_device(c, fused_entry<Config, 8>);
  MOE_ROUTER_REQUIRE_OK(check_bitwise_equal(c, tiled, reference, "fused (tiled, screened)", "reference"));
  MOE_ROUTER_REQUIRE_OK(check_invariants(c, tiled));
  std::printf("  %-40s %lld rows: tiled == reference\n", label, static_cast<long long>(c.num_tokens()));
}

template <class Config>
void check_near_ties(const char* label, std::uint64_t seed_index)
{
  check_tiled_on<Config>(label, near_tie_case<Config>(4099, derive_seed(base_seed(), seed_index)));
}

TEST_CASE("the screened tiled kernel equals the reference kernel on near ties", "[screening]")
{
  static_assert(tiled_screening<kimi_k2_config<>> && tiled_screening<grouped_384_config> &&
                  tiled_screening<minimax_m2_config<>> && tiled_screening<deepseek_v3_config<>> &&
                  tiled_screening<glm_4_5_config<>> && tiled_screening<grouped_max_config> &&
                  tiled_screening<two_groups_config>,
                "these shapes screen");
  check_near_ties<kimi_k2_config<>>("Kimi-K2 (no groups)", 1);
  check_near_ties<grouped_384_config>("384 experts, 8 groups, keep 4", 2);
  check_near_ties<minimax_m2_config<>>("MiniMax-M2 (32 experts a lane)", 3);
  check_near_ties<deepseek_v3_config<>>("DeepSeek-V3 (8 groups, keep 4)", 4);
  check_near_ties<glm_4_5_config<>>("GLM-4.5 (20 experts a lane)", 5);
  check_near_ties<grouped_max_config>("256 experts, 8 groups by max, keep 4", 7);
  check_near_ties<two_groups_config>("256 experts, 2 groups, keep 1", 8);
}

template <class Config>
void check_near_ties_16_bit(const char* label, std::uint64_t seed_index)
{
  check_tiled_on<Config>(label, near_tie_16_bit_case<Config>(4099, derive_seed(base_seed(), seed_index)));
}

TEST_CASE("the screened tiled kernel equals the reference kernel on near ties with 2-byte logits", "[screening]")
{
  // The keys tile of 2-byte logits is its own (the keys of fp32 logits overwrite them), and the
  // candidates' exact keys read the 2-byte logits again.
  check_near_ties_16_bit<deepseek_v3_config<__nv_bfloat16>>("DeepSeek-V3, bf16 logits", 21);
  check_near_ties_16_bit<kimi_k2_config<__nv_bfloat16>>("Kimi-K2, bf16 logits", 22);
  check_near_ties_16_bit<deepseek_v3_config<__half>>("DeepSeek-V3, fp16 logits", 23);
}

/// 256 experts in 4 groups of 64: with 8 lanes a token, a group spans two lanes of 32 experts.
using two_lane_groups_config = route_config<256, 4, 2, 8>;

/**
 * @brief Rows where one lane of a strong group holds a NaN logit: the screened keys of that lane
 * then say nothing of its two best, while the group's other lane has only low scores. In row t,
 * group t mod 4 has two high logits (4 and 3.9) and a NaN in its first lane and -4 everywhere
 * else; the other groups hold logits in [0, 1.5]; the bias is the harness's random one. Exactly,
 * that group's score is about 1.96 plus its two experts' bias, mostly the highest; from the
 * screened keys merged over its lanes it would look the lowest. (Before the fix in
 * warp_select_groups the tiled kernel chose other groups for such rows: on an H100 this case
 * failed at row 2.)
 */
test_case nan_in_two_lane_group_case(std::int64_t tokens, std::uint64_t seed)
{
  using Config = two_lane_groups_config;
  test_case c = make_case(screened_desc<Config>("NaN in one lane of a two-lane group", tokens), seed);
  test_rng rng(derive_seed(seed, 3));
  constexpr int E = Config::num_experts, group_size = E / Config::num_groups;
  std::vector<float> row(static_cast<std::size_t>(E));
  for (std::int64_t t = 0; t < tokens; ++t) {
    const int best = static_cast<int>(t % Config::num_groups);
    for (int e = 0; e < E; ++e) {
      const int group = e / group_size;
      float x = static_cast<float>(rng.uniform(0.0, 1.5));
      if (group == best) x = -4.0f;
      row[static_cast<std::size_t>(e)] = x;
    }
    const int first = best * group_size + static_cast<int>(rng.below(group_size / 2 - 3));
    row[static_cast<std::size_t>(first)] = 4.0f;
    row[static_cast<std::size_t>(first + 1)] = std::nanf("");
    row[static_cast<std::size_t>(first + 2)] = 3.9f;
    std::memcpy(c.logits.data() + static_cast<std::size_t>(t * E) * sizeof(float), row.data(),
                row.size() * sizeof(float));
  }
  return c;
}

TEST_CASE("a NaN in one lane of a group that spans lanes leaves the screened tiled kernel exact", "[screening]")
{
  static_assert(two_lane_groups_config::template with_token_lanes<8>::lanes_per_group == 2,
                "the case needs groups of two lanes in the tiled kernel");
  const test_case c = nan_in_two_lane_group_case(4099, derive_seed(base_seed(), 6));
  INFO(c.describe() << "\nreplay with " << replay_note());
  const route_outputs reference = run_device(c, reference_entry);
  const route_outputs tiled = run_device(c, fused_entry<two_lane_groups_config, 8>);
  MOE_ROUTER_REQUIRE_OK(check_bitwise_equal(c, tiled, reference, "fused (tiled, screened)", "reference"));
  MOE_ROUTER_REQUIRE_OK(check_invariants(c, tiled));
  std::printf("  %-40s %lld rows: tiled == reference\n", "NaN in one lane of a two-lane group",
              static_cast<long long>(c.num_tokens()));
}

}  // namespace screening_test
