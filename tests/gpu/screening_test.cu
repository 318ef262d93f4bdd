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
//      exact fallback keep the output exact;
//  (d) the screened keys decide: on ordinary rows nearly every tile, on the near ties of (c)
//      some tiles, while others take each exact path (counted through the tiled kernel's
//      test hook), so that a kernel that always fell back to exact keys, exact but slow, fails.
// Inputs are fresh every run; MOE_ROUTER_TEST_SEED replays one.

// The tiled kernel's test hook (tiled_route_kernel.cuh), defined before the library is
// included: lane 0 of each warp counts the path that routed its tile.
__device__ unsigned long long screening_test_tiled_paths[3];
#define MOE_ROUTER_TILED_PATH_HOOK(path, lane)                                   \
  do {                                                                           \
    if ((lane) == 0) atomicAdd(&screening_test_tiled_paths[(path)], 1ull);       \
  } while (0)

#include "gpu/fused_test_common.cuh"
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

/// The options of the screened cases below (DeepSeek-V3's as vLLM runs it): renormalize,
/// scale_output with 2.5, one shared slot; `tokens` rows, made by the case itself.
template <class Config>
case_desc screened_desc(const char* label, std::int64_t tokens)
{
  case_desc d = config_desc<Config>(label);
  d.num_tokens = tokens;
  d.renormalize = true;
  d.scale_output = true;
  d.routed_scaling_factor = 2.5f;
  d.num_shared_slots = 1;
  return d;
}

/**
 * @brief A case of `Config` (fp32 logits and bias) whose rows defeat the screen. The bias is
 * random; in each row the scores are set so that the choice keys s + b of some experts (every
 * expert in the rows of a third of the warps, twelve or 26 in the others, the rest well below)
 * sit at one value c plus a jitter of 0 to 8 steps of half `screen_score_error`, a few times
 * the screen's uncertainty. 26 near ties are meant to give more than 16 candidates, so that all four of
 * `tile_topk`'s steps run (not counted by the test).
 */
template <class Config>
test_case near_tie_case(std::int64_t tokens, std::uint64_t seed)
{
  static_assert(Config::logits_data_type == data_type::f32 && Config::bias_data_type == data_type::f32,
                "near ties need fp32 logits and bias");
  test_case c = make_case(screened_desc<Config>("near ties", tokens), seed);
  test_rng rng(derive_seed(seed, 2));
  const int E = Config::num_experts;
  std::vector<float> bias(static_cast<std::size_t>(E));
  for (float& b : bias) b = static_cast<float>(rng.uniform(-0.3, 0.3));
  std::memcpy(c.bias.data(), bias.data(), bias.size() * sizeof(float));
  std::vector<float> row(static_cast<std::size_t>(E));
  for (std::int64_t t = 0; t < tokens; ++t) {
    const double level = rng.uniform(0.4, 0.6);
    // The kind goes by the warp's four tokens, not by token: a warp with one whole-row token
    // (more than 32 candidates) scores all four exactly, and the screened choice would never
    // be tested.
    const std::int64_t kind = (t / 4) % 3;
    const bool whole_row = kind == 0;
    for (int e = 0; e < E; ++e) row[static_cast<std::size_t>(e)] = -1.0f;  // marks "not near the tie"
    for (int n = 0; n < (whole_row ? E : (kind == 1 ? 12 : 26)); ++n) {
      const int e = whole_row ? n : static_cast<int>(rng.below(E));
      const double score = level - bias[static_cast<std::size_t>(e)] + static_cast<double>(rng.below(9)) * (screen_score_error / 2);
      row[static_cast<std::size_t>(e)] = static_cast<float>(std::log(score / (1.0 - score)));
    }
    for (int e = 0; e < E; ++e) {
      if (row[static_cast<std::size_t>(e)] != -1.0f) continue;
      const double score = std::max(0.01, level - bias[static_cast<std::size_t>(e)] - rng.uniform(0.02, 0.3));
      row[static_cast<std::size_t>(e)] = static_cast<float>(std::log(score / (1.0 - score)));
    }
    std::memcpy(c.logits.data() + static_cast<std::size_t>(t * E) * sizeof(float), row.data(), row.size() * sizeof(float));
  }
  return c;
}

/// How many tiles each path of the screened tiled kernel routed (the test hook above).
struct tiled_paths {
  unsigned long long screened = 0;      ///< the screened keys decided
  unsigned long long exact_groups = 0;  ///< the kept groups needed the lanes' exact best two
  unsigned long long exact_keys = 0;    ///< the tile was scored again with exact keys
  unsigned long long tiles() const { return screened + exact_groups + exact_keys; }
};

/// Run the tiled kernel of `Config` (forced) on `c` with the path counts set to zero first.
template <class Config>
route_outputs run_tiled_counting_paths(const test_case& c, tiled_paths& paths)
{
  const unsigned long long zero[3] = {0, 0, 0};
  MOE_ROUTER_TEST_CUDA(cudaMemcpyToSymbol(screening_test_tiled_paths, zero, sizeof zero));
  const route_outputs out = run_device(c, fused_entry<Config, 8>);
  unsigned long long counts[3];
  MOE_ROUTER_TEST_CUDA(cudaMemcpyFromSymbol(counts, screening_test_tiled_paths, sizeof counts));
  paths.screened = counts[0];
  paths.exact_groups = counts[1];
  paths.exact_keys = counts[2];
  return out;
}

template <class Config>
void check_near_ties(const char* label, std::uint64_t seed_index)
{
  const test_case c = near_tie_case<Config>(4099, derive_seed(base_seed(), seed_index));
  INFO(label << ": " << c.describe() << "\nreplay with " << replay_note());
  const route_outputs reference = run_device(c, reference_entry);
  tiled_paths paths;
  const route_outputs tiled = run_tiled_counting_paths<Config>(c, paths);
  MOE_ROUTER_REQUIRE_OK(check_bitwise_equal(c, tiled, reference, "fused (tiled, screened)", "reference"));
  MOE_ROUTER_REQUIRE_OK(check_invariants(c, tiled));
  std::printf("  %-40s %lld rows: tiled == reference; tiles decided by screened keys %llu, exact groups %llu, "
              "exact keys %llu\n",
              label, static_cast<long long>(c.num_tokens()), paths.screened, paths.exact_groups, paths.exact_keys);
  // 4099 rows are 1025 tiles. A third of them hold a row whose every key is near the tie (more
  // candidates than the screen can rank): those take the exact keys. The others hold 12 or 26
  // near ties a row, and some of those tiles must be decided without scoring the whole tile
  // again (with groups, often from the lanes' exact best two: near ties make the group scores
  // near ties too).
  CHECK(paths.tiles() == 1025);
  CHECK(paths.exact_keys >= 1025 / 3);
  CHECK(paths.screened + paths.exact_groups > 0);
}

/// Kimi-K2's experts in DeepSeek-V3's 8 groups (keep 4): a screened shape with groups.
using grouped_384_config = route_config<384, 8, 4, 8>;
/// DeepSeek-V3's shape with groups scored by their largest choice key: the screened group proof's
/// max case (one bound a group instead of the sum of two).
using grouped_max_config = route_config<256, 8, 4, 8, scoring_func::sigmoid, group_score_kind::max>;
/// Two groups of 128 experts, four tiled lanes each, keep one: the group merge over four lanes,
/// and a floor from K rounds (2 * TG < K).
using two_groups_config = route_config<256, 2, 1, 8>;

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

/// The tiled kernel of `Config` on 8192 random rows (2048 tiles) and on 8192 adversarial ones:
/// both exact; on the random rows the screened keys must decide nearly every tile (the
/// adversarial rows, ties and NaN among them, are only reported).
template <class Config>
void check_ordinary_rows(const char* label, std::uint64_t seed_index)
{
  for (const input_flavour flavour : {input_flavour::random, input_flavour::nasty}) {
    case_desc d = screened_desc<Config>(label, 8192);
    d.flavour = flavour;
    const test_case c = make_case(d, derive_seed(base_seed(), seed_index));
    INFO(label << ": " << c.describe() << "\nreplay with " << replay_note());
    const route_outputs reference = run_device(c, reference_entry);
    tiled_paths paths;
    const route_outputs tiled = run_tiled_counting_paths<Config>(c, paths);
    MOE_ROUTER_REQUIRE_OK(check_bitwise_equal(c, tiled, reference, "fused (tiled, screened)", "reference"));
    const double decided = static_cast<double>(paths.screened) / static_cast<double>(paths.tiles());
    std::printf("  %-32s %-6s 2048 tiles: screened keys decided %llu (%.2f%%), exact groups %llu, exact keys %llu\n",
                label, flavour == input_flavour::random ? "random" : "nasty", paths.screened, 100.0 * decided,
                paths.exact_groups, paths.exact_keys);
    CHECK(paths.tiles() == 2048);
    if (flavour == input_flavour::random) CHECK(decided >= 0.95);
  }
}

TEST_CASE("on ordinary rows the screened keys decide nearly every tile", "[screening]")
{
  check_ordinary_rows<deepseek_v3_config<>>("DeepSeek-V3 fp32", 11);
  check_ordinary_rows<deepseek_v3_config<__nv_bfloat16>>("DeepSeek-V3 bf16", 12);
  check_ordinary_rows<kimi_k2_config<>>("Kimi-K2 fp32", 13);
  check_ordinary_rows<kimi_k2_config<__nv_bfloat16>>("Kimi-K2 bf16", 14);
  check_ordinary_rows<minimax_m2_config<>>("MiniMax-M2 fp32", 15);
  check_ordinary_rows<glm_4_5_config<>>("GLM-4.5 fp32", 16);
  check_ordinary_rows<llama_4_config<>>("Llama-4 fp32", 17);
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
