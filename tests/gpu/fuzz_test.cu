/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// Differential fuzzing on the GPU. Each case draws a shape, options, element types and inputs
// (mostly adversarial rows: ties, NaN, +-inf, -inf bias, denormals, huge values, all-equal rows,
// values that collapse to one in bf16 / f16) and holds the library's kernels to each other and
// to the contract:
//  - fused cases: one of the compiled configurations (every entry of `default_route_table`,
//    through `route<default_route_table>` with `route_path::fused`, and the odd shapes and types
//    instantiated below); the fused kernel must equal the reference kernel bit for bit;
//  - runtime cases: any shape within the reference paths' limits (E <= 4096, K <= 64);
// and in both, the reference kernel must agree with the host reference as the contract allows,
// and every row must keep the invariants (ids distinct and in range, every slot written: the
// outputs are poisoned before each run; padding rows -1 / 0; guards around the outputs intact).
//
// Reproducible: MOE_ROUTER_FUZZ_SEED seeds everything (by default a seed of its own drawn from
// the run's MOE_ROUTER_TEST_SEED, fresh each run like the other tests' inputs: both printed),
// MOE_ROUTER_FUZZ_ITERATIONS (default 2500; 200 under compute-sanitizer, 40 under racecheck) is
// the number of cases, and MOE_ROUTER_FUZZ_CASE=i runs case i alone. A failure prints the seed,
// the case and the first failing row with its inputs; the last line is a summary with the number
// of cases, rows and configurations.

#include "support/test_harness.cuh"
#include "validation/entry_points.cuh"

#include <moe_router/dispatch.cuh>
#include <moe_router/model_configs.cuh>
#include <moe_router/route.cuh>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cfloat>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace {

using namespace moe_router;
using namespace moe_router::test;

// ---- the compiled configurations ------------------------------------------------------------

/// A compiled fused configuration and how to launch it.
struct fused_config {
  std::string name;
  int num_experts, num_groups, topk_group, topk;
  scoring_func scoring;
  group_score_kind group_score;
  data_type logits_type, bias_type;
  index_type ids_type;
  bool half_warp, tiled;  ///< it has the half-warp (16 lanes) / tiled (8 lanes) kernel too
  cudaError_t (*launch)(const route_params&, cudaStream_t, launch_options);  ///< `fused_launch`
};

std::string config_name(const char* prefix, int E, int G, int TG, int K, scoring_func s, group_score_kind g,
                        data_type logits, data_type bias, index_type ids)
{
  char name[160];
  std::snprintf(name, sizeof name, "%s%d/%d/%d/%d %s%s%s logits=%s bias=%s ids=%s", prefix, E, G, TG, K, to_string(s),
                G > 1 ? " " : "", G > 1 ? to_string(g) : "", to_string(logits), to_string(bias), to_string(ids));
  return name;
}

using fused_launch = cudaError_t (*)(const route_params&, cudaStream_t, launch_options);

template <class Config>
fused_config describe_config(const char* prefix, fused_launch launch)
{
  return {
      config_name(prefix, Config::num_experts, Config::num_groups, Config::topk_group, Config::topk, Config::scoring,
                  Config::group_score, Config::logits_data_type, Config::bias_data_type, Config::ids_index_type),
      Config::num_experts,
      Config::num_groups,
      Config::topk_group,
      Config::topk,
      Config::scoring,
      Config::group_score,
      Config::logits_data_type,
      Config::bias_data_type,
      Config::ids_index_type,
      fused_half_warp_available<Config>(),
      fused_tiled_available<Config>(),
      launch};
}

/// `route<default_route_table>` with `route_path::fused`, which must report the fused kernel.
cudaError_t table_fused_entry(const route_params& p, cudaStream_t stream, launch_options options)
{
  route_kernel ran = route_kernel::none;
  const cudaError_t status = call_route_default_table(p, stream, route_path::fused, &ran, options);
  if (status == cudaSuccess && p.num_tokens > 0) REQUIRE(ran == route_kernel::fused);
  return status;
}

/// Every entry of a table, launched through `route<default_route_table>`.
template <class... Configs>
void add_table_entries(std::vector<fused_config>& out, route_table<Configs...>*)
{
  (out.push_back(describe_config<Configs>("table ", table_fused_entry)), ...);
}

/// A configuration instantiated here, launched with `route_fused<Config>`.
template <class Config>
void add_instantiated(std::vector<fused_config>& out)
{
  out.push_back(describe_config<Config>("extra ", [](const route_params& p, cudaStream_t stream, launch_options o) {
    return route_fused<Config>(p, stream, o);
  }));
}

constexpr scoring_func sigmoid = scoring_func::sigmoid;
constexpr scoring_func softmax = scoring_func::softmax;
constexpr scoring_func sqrtsoftplus = scoring_func::sqrtsoftplus;
constexpr group_score_kind top2_sum = group_score_kind::top2_sum;
constexpr group_score_kind max_score = group_score_kind::max;
using bf16 = __nv_bfloat16;
using f16 = __half;

const std::vector<fused_config>& fused_configs()
{
  static const std::vector<fused_config> configs = [] {
    std::vector<fused_config> c;
    add_table_entries(c, static_cast<default_route_table*>(nullptr));
    // the element types the default table does not hold
    add_instantiated<deepseek_v3_config<f16, bf16, std::int64_t>>(c);
    add_instantiated<kimi_k2_config<bf16, bf16>>(c);
    add_instantiated<route_config<512, 16, 4, 22, sigmoid, top2_sum, f16, bf16, std::int64_t>>(c);
    // odd shapes: E not a multiple of 32, V = 3, one expert or one lane per group, K = E, K = 32
    add_instantiated<route_config<96, 4, 2, 5, sigmoid, top2_sum, float, float, std::int64_t>>(c);
    add_instantiated<route_config<96, 32, 4, 5, sigmoid, top2_sum, f16, float, std::int64_t>>(c);
    add_instantiated<route_config<40, 1, 1, 3, softmax, top2_sum, f16>>(c);
    add_instantiated<route_config<40, 5, 2, 3, sqrtsoftplus, top2_sum, float, bf16>>(c);
    add_instantiated<route_config<24, 3, 2, 5, softmax, max_score, bf16>>(c);
    add_instantiated<route_config<32, 32, 5, 3, softmax, max_score>>(c);
    add_instantiated<route_config<7, 1, 1, 7, sqrtsoftplus, top2_sum, bf16>>(c);
    add_instantiated<route_config<1, 1, 1, 1, softmax>>(c);
    add_instantiated<route_config<1024, 8, 4, 32, sigmoid, top2_sum, bf16, bf16>>(c);
    return c;
  }();
  return configs;
}

// ---- run settings -----------------------------------------------------------------------------

std::uint64_t env_u64(const char* name, std::uint64_t fallback)
{
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 0) : fallback;
}

constexpr std::uint64_t default_iterations = 2500;

/// Cases when MOE_ROUTER_FUZZ_ITERATIONS is not set: fewer under compute-sanitizer
/// (scripts/gpu-check.sh --sanitize sets MOE_ROUTER_UNDER_SANITIZER to the tool), and under
/// racecheck, which makes every shared-memory access of the reference kernel slow, only the
/// first visit of each fused configuration (40).
std::uint64_t default_case_count()
{
  const char* tool = std::getenv("MOE_ROUTER_UNDER_SANITIZER");
  if (tool == nullptr || *tool == '\0') return default_iterations;
  return std::string(tool) == "racecheck" ? fused_configs().size() : 200;
}

// ---- drawing a case ---------------------------------------------------------------------------

/// Share of the cases that run a compiled fused configuration.
constexpr double fused_share = 0.7;
/// A bound on the host reference's work per case (tokens * experts * (topk + 4)).
constexpr double host_work_budget = 2e6;

std::int64_t draw_tokens(test_rng& rng, int E, int K)
{
  const double r = rng.uniform();
  std::int64_t T;
  if (r < 0.45)
    T = 1 + rng.below(64);
  else if (r < 0.8)
    T = 65 + rng.below(960);
  else if (r < 0.95)
    T = 1025 + rng.below(8 * 1024);
  else
    T = 9217 + rng.below(40000);  // more tokens than a persistent grid has warps: the grid-stride loop
  const std::int64_t cap = std::max<std::int64_t>(1, static_cast<std::int64_t>(host_work_budget / (E * (K + 4.0))));
  return std::min(T, cap);
}

/// A random runtime shape within the reference paths' limits.
void draw_runtime_shape(test_rng& rng, case_desc& d)
{
  const double r = rng.uniform();
  int E;
  if (r < 0.3)
    E = 1 + static_cast<int>(rng.below(64));
  else if (r < 0.6)
    E = 65 + static_cast<int>(rng.below(448));
  else if (r < 0.85)
    E = 513 + static_cast<int>(rng.below(512));
  else
    E = 1025 + static_cast<int>(rng.below(4096 - 1024));
  if (rng.chance(0.3)) E = std::min(4096, 32 * (1 + static_cast<int>(rng.below(128))));  // multiples of 32
  std::vector<int> divisors;
  for (int g = 1; g <= E; ++g)
    if (E % g == 0) divisors.push_back(g);
  const int G =
      rng.chance(0.4) ? 1 : divisors[static_cast<std::size_t>(rng.below(static_cast<std::int64_t>(divisors.size())))];
  const int TG = 1 + static_cast<int>(rng.below(G));
  const int kept = TG * (E / G);
  const int K = 1 + static_cast<int>(rng.below(std::min(64, kept)));
  d.num_experts = E;
  d.num_groups = G;
  d.topk_group = TG;
  d.topk = rng.chance(0.1) ? std::min(64, kept) : K;  // every kept expert, sometimes
  d.scoring = static_cast<scoring_func>(rng.below(3));
  d.group_score = (E / G < 2 || rng.chance(0.5)) ? max_score : top2_sum;
  d.logits_type = static_cast<data_type>(rng.below(3));
  d.bias_type = rng.chance(0.5) ? data_type::f32 : data_type::bf16;
  d.ids_type = rng.chance(0.5) ? index_type::i32 : index_type::i64;
}

/// The options, layout and input flavour of a case, whatever its shape.
void draw_options(test_rng& rng, case_desc& d)
{
  static const float factors[] = {1.0f, 2.5f, 1.5f, 16.0f, 2.827f, 0.5f, 1e-3f, 1e3f};
  d.has_bias = rng.chance(0.6);
  const int convention = static_cast<int>(rng.below(4));
  d.renormalize = convention < 2;
  d.scale_output = convention % 2 == 0;
  d.routed_scaling_factor = rng.chance(0.8) ? factors[rng.below(8)] : static_cast<float>(rng.uniform(0.1, 10.0));
  d.num_shared_slots = rng.chance(0.3) ? 1 : 0;
  d.num_shared_experts = rng.chance(0.8) ? 1 + static_cast<int>(rng.below(8)) : 1 + static_cast<int>(rng.below(100000));
  d.expert_map = rng.chance(0.5) ? map_kind::none : static_cast<map_kind>(1 + rng.below(3));
  d.row_stride = rng.chance(0.6) ? 0 : d.num_experts + rng.below(rng.chance(0.8) ? 9 : 65);
  d.num_tokens = draw_tokens(rng, d.num_experts, d.topk);
  d.has_num_valid = rng.chance(0.3);
  if (d.has_num_valid) {
    const std::int64_t T = d.num_tokens;
    const std::int64_t counts[] = {-5, 0, 1, T / 2, T - 1, T, T + 7, INT_MAX, INT_MIN, rng.below(T + 1)};
    d.num_valid_tokens = static_cast<std::int32_t>(counts[rng.below(10)]);
  }
  d.flavour = rng.chance(0.75) ? input_flavour::nasty : input_flavour::random;
}

/// Sometimes make the bias itself adversarial: NaN, +-inf, huge, denormal and tied entries.
void maybe_poison_bias(test_rng& rng, test_case& c)
{
  if (c.bias.empty() || !rng.chance(0.2)) return;
  static const float values[] = {NAN,    INFINITY, -INFINITY, 1e30f, -1e30f,
                                 1e-40f, -0.0f,    FLT_MAX,   1.0f,  1.0f + 0x1.0p-10f};
  const int E = c.desc.num_experts;
  const int n = 1 + static_cast<int>(rng.below(1 + E / 8));
  for (int i = 0; i < n; ++i) store_as(c.bias, c.desc.bias_type, rng.below(E), values[rng.below(10)]);
}

// ---- running a case ---------------------------------------------------------------------------

struct fuzz_stats {
  std::int64_t cases = 0, fused_cases = 0, runtime_cases = 0, rows = 0, near_tie_rows = 0;
  std::int64_t half_warp_runs = 0, tiled_runs = 0;  ///< fused cases run again with 16 lanes / the tiled kernel forced
  std::int64_t few_block_cases = 0;  ///< fused cases whose every kernel ran again in a grid of 1 to 3 blocks
  int max_weight_ulps = 0;
  std::set<std::string> fused_seen;
  std::set<std::tuple<int, int, int, int, int, int>> shapes_seen;
};

cudaError_t reference_entry(const route_params& p, cudaStream_t stream) { return call_route_reference(p, stream); }

/// The reference kernel's run `reference` of `c` against the host reference (through the
/// unmapped run when the map is not injective).
void check_reference_against_host(const test_case& c, const route_outputs& reference, fuzz_stats& stats)
{
  check_result r;
  if (!c.expert_map.empty() && !map_is_injective(c.expert_map)) {
    const test_case u = without_map(c);
    const route_outputs unmapped = run_device(u, reference_entry);
    MOE_ROUTER_REQUIRE_OK(check_mapping(c, unmapped, reference));
    r = check_against_host(u, unmapped, run_host(u));
  } else {
    r = check_against_host(c, reference, run_host(c));
  }
  MOE_ROUTER_REQUIRE_OK(r);
  stats.near_tie_rows += r.near_tie_rows;
  stats.max_weight_ulps = std::max(stats.max_weight_ulps, r.max_weight_ulps);
}

void run_case(std::uint64_t seed, std::uint64_t index, fuzz_stats& stats)
{
  test_rng rng(derive_seed(seed, 2 * index));
  const std::vector<fused_config>& configs = fused_configs();
  // the first cases visit every configuration once; then they are drawn
  const bool fused = index < configs.size() || rng.chance(fused_share);
  const fused_config* config = nullptr;
  case_desc d;
  if (fused) {
    config = &configs[index < configs.size()
                          ? index
                          : static_cast<std::size_t>(rng.below(static_cast<std::int64_t>(configs.size())))];
    d.label = config->name.c_str();
    d.num_experts = config->num_experts;
    d.num_groups = config->num_groups;
    d.topk_group = config->topk_group;
    d.topk = config->topk;
    d.scoring = config->scoring;
    d.group_score = config->group_score;
    d.logits_type = config->logits_type;
    d.bias_type = config->bias_type;
    d.ids_type = config->ids_type;
  } else {
    d.label = "runtime shape";
    draw_runtime_shape(rng, d);
  }
  draw_options(rng, d);
  // One drawn case in seven starts its logits one element past a 16-byte boundary (every row
  // then unaligned where the stride keeps rows 16 bytes apart), decided by the index so that the
  // draws above stay as they were (an earlier seed's case keeps its shape, options and inputs).
  // Not the first visit of each configuration, which under racecheck is all that runs.
  d.logits_offset = index >= configs.size() && index % 7 == 3 ? 1 : 0;
  test_case c = make_case(d, derive_seed(seed, 2 * index + 1));
  maybe_poison_bias(rng, c);

  INFO("fuzz case " << index << ": " << c.describe() << "\nreplay with MOE_ROUTER_FUZZ_SEED=0x" << std::hex << seed
                    << std::dec << " MOE_ROUTER_FUZZ_CASE=" << index);
  device_case dev(c);
  const route_outputs reference = dev.run(reference_entry);
  MOE_ROUTER_REQUIRE_OK(check_invariants(c, reference));
  if (fused) {
    // As route_fused picks the kernel by batch size, then each other kernel the configuration has
    // forced: the batches drawn here are mostly below the sizes that pick the half-warp and tiled
    // kernels (rows whose stride is not 16-byte aligned run the warp kernel even then). One case
    // in four (by its index, so that the draws stay as they were) runs each kernel again in a
    // grid of 1 to 3 blocks (launch_options::max_blocks), so that small batches too route many
    // rows a warp.
    const int few_blocks = index % 4 == 1 ? 1 + static_cast<int>(index / 4 % 3) : 0;
    stats.few_block_cases += few_blocks > 0;
    for (const int lanes : {0, 16, 8}) {
      if ((lanes == 16 && !config->half_warp) || (lanes == 8 && !config->tiled)) continue;
      for (const int max_blocks : {0, few_blocks}) {
        INFO("launch_options::token_lanes = " << lanes << ", max_blocks = " << max_blocks);
        launch_options options;
        options.token_lanes = lanes;
        options.max_blocks = max_blocks;
        bool rows_aligned = false;  // else 8 lanes run the warp kernel
        const route_outputs fused_out = dev.run([&](const route_params& p, cudaStream_t stream) {
          rows_aligned = logit_rows_aligned(p);
          return config->launch(p, stream, options);
        });
        MOE_ROUTER_REQUIRE_OK(check_bitwise_equal(c, fused_out, reference, "fused kernel", "reference kernel"));
        if (max_blocks == 0) {
          stats.half_warp_runs += lanes == 16;
          stats.tiled_runs += lanes == 8 && rows_aligned;
        }
        if (few_blocks == 0) break;  // the launcher's grid only
      }
    }
    ++stats.fused_cases;
    stats.fused_seen.insert(config->name);
  } else {
    ++stats.runtime_cases;
    stats.shapes_seen.insert({d.num_experts, d.num_groups, d.topk_group, d.topk, static_cast<int>(d.scoring),
                              static_cast<int>(d.group_score)});
  }
  check_reference_against_host(c, reference, stats);
  ++stats.cases;
  stats.rows += c.num_tokens();
}

}  // namespace

TEST_CASE("fused == reference bit for bit and reference ~ host on random shapes, options and adversarial inputs",
          "[fuzz]")
{
  const std::uint64_t seed = env_u64("MOE_ROUTER_FUZZ_SEED", derive_seed(base_seed(), 0xf022));
  const std::uint64_t iterations = env_u64("MOE_ROUTER_FUZZ_ITERATIONS", default_case_count());
  const char* only = std::getenv("MOE_ROUTER_FUZZ_CASE");
  const bool single = only != nullptr && *only != '\0';
  const std::uint64_t first = single ? std::strtoull(only, nullptr, 0) : 0;
  const std::uint64_t last = single ? first + 1 : iterations;
  std::printf("fuzz: seed 0x%016llx, %llu cases%s (%zu fused configurations)\n", static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(last - first), single ? " (one case, MOE_ROUTER_FUZZ_CASE)" : "",
              fused_configs().size());
  std::fflush(stdout);

  fuzz_stats stats;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t i = first; i < last; ++i) run_case(seed, i, stats);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::printf(
      "fuzz summary: %lld cases (%lld fused vs reference, of them %lld with 16 lanes forced too, %lld with the tiled "
      "kernel (8 lanes forced, aligned rows) and %lld again in grids of 1 to 3 blocks, %lld reference vs host only), "
      "%lld rows, %zu configurations (%zu fused, %zu runtime shapes), %lld near-tie rows, weights within %d ulp of "
      "the host, seed 0x%016llx, %.1f s\n",
      static_cast<long long>(stats.cases), static_cast<long long>(stats.fused_cases),
      static_cast<long long>(stats.half_warp_runs), static_cast<long long>(stats.tiled_runs),
      static_cast<long long>(stats.few_block_cases), static_cast<long long>(stats.runtime_cases),
      static_cast<long long>(stats.rows),
      stats.fused_seen.size() + stats.shapes_seen.size(), stats.fused_seen.size(), stats.shapes_seen.size(),
      static_cast<long long>(stats.near_tie_rows), stats.max_weight_ulps, static_cast<unsigned long long>(seed),
      seconds);
  if (!single) {
    CHECK(stats.fused_seen.size() == fused_configs().size());
    CHECK(stats.half_warp_runs > 0);
    CHECK(stats.tiled_runs > 0);
    CHECK(stats.few_block_cases > 0);
  }
}
