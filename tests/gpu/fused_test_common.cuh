/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

// What the fused-kernel tests share: the description of a compiled configuration's cases, the
// option sets (the full cross product and a covering set), and the check itself: the fused
// kernel equals the reference kernel bit for bit (ids and the fp32 bits of the weights), with
// poisoned outputs and guard regions, and holds the invariants of every row.

#include "support/test_harness.cuh"

#include <moe_router/reference/reference_kernel.cuh>
#include <moe_router/route.cuh>

#include <cuda_bf16.h>
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace moe_router {
namespace test {

/// A case of `Config`'s shape and element types (options to be set by the caller).
template <class Config>
case_desc config_desc(const char* label)
{
  case_desc d;
  d.label = label;
  d.num_experts = Config::num_experts;
  d.num_groups = Config::num_groups;
  d.topk_group = Config::topk_group;
  d.topk = Config::topk;
  d.scoring = Config::scoring;
  d.group_score = Config::group_score;
  d.logits_type = Config::logits_data_type;
  d.bias_type = Config::bias_data_type;
  d.ids_type = Config::ids_index_type;
  d.has_bias = true;
  return d;
}

/// The fused launcher of `Config` as a test entry point, with `TokenLanes` lanes per token
/// forced (32; 16 where the shape has a half-warp kernel; 8 where it has a tiled kernel, which
/// unaligned rows leave to 32) whatever the batch size, and `launch_options::max_blocks`
/// `MaxBlocks` (0: the grid the launcher chooses).
template <class Config, int TokenLanes = 32, int MaxBlocks = 0>
cudaError_t fused_entry(const route_params& p, cudaStream_t stream)
{
  launch_options options;
  options.token_lanes = TokenLanes;
  options.max_blocks = MaxBlocks;
  return route_fused<Config>(p, stream, options);
}

inline cudaError_t reference_entry(const route_params& p, cudaStream_t stream) { return route_reference(p, stream); }

/// 512 experts, top-8, sigmoid, bf16 logits: a tiled kernel of more than 48 KiB of shared memory
/// a block (no compiled model shape needs that much), whose setup in `route_fused` sets
/// cudaFuncAttributeMaxDynamicSharedMemorySize.
using large_tile_config =
  route_config<512, 1, 1, 8, scoring_func::sigmoid, group_score_kind::top2_sum, __nv_bfloat16, float, std::int32_t>;
static_assert(sizeof(tiled_block_storage<large_tile_config::with_token_lanes<8>>) > 48 * 1024,
              "large_tile_config must have a tiled kernel with more than 48 KiB of shared memory a block");

/// Token counts the cases cycle through: empty, one, around a warp, past one wave of the
/// persistent grid (132 SMs x 8 blocks x 4 warps on an H100), so that warps loop, and enough
/// for the warp kernels to rank with `warp_topk`'s `match_ties`.
constexpr std::int64_t fused_token_counts[] = {1, 31, 32, 33, 0, 257, 8221, 33, 5000, 32, 100, 31};
static_assert(fused_token_counts[6] >= warp_match_ties_tokens, "a case count takes the match_ties ranking");

/**
 * @brief The full cross product of the run-time options: renormalize x scale_output (4),
 * shared slot none / NS=1 / NS=3 (3), expert map kinds (4), padding count absent / present (2),
 * row stride E / padded (2), bias absent / present (2). Not crossed with these but spread over
 * them: a third of the padded strides are E+8 (rows 16-byte aligned for every logits type, so
 * the tiled kernel stages padded rows), the others E+3 (unaligned rows: a request for the
 * tiled kernel runs the warp kernel); a third of the cases with stride E have logits that start
 * one element past a 16-byte boundary (every row unaligned). Token counts and the input flavour
 * (random / nasty) rotate through the product, the counts by (j + j/4) so that each of those
 * layouts, with and without bias, meets small and large batches.
 */
inline std::vector<case_desc> cross_product_cases(const case_desc& base)
{
  std::vector<case_desc> out;
  int j = 0;
  for (int convention = 0; convention < 4; ++convention)
    for (int shared = 0; shared < 3; ++shared)
      for (int map = 0; map < 4; ++map)
        for (int padding = 0; padding < 2; ++padding)
          for (int stride = 0; stride < 2; ++stride)
            for (int bias = 0; bias < 2; ++bias, ++j) {
              case_desc d = base;
              d.renormalize = convention < 2;
              d.scale_output = convention % 2 == 0;
              d.routed_scaling_factor = 2.5f;
              d.num_shared_slots = shared > 0 ? 1 : 0;
              d.num_shared_experts = shared == 2 ? 3 : 1;
              d.expert_map = static_cast<map_kind>(map);
              d.num_tokens = fused_token_counts[(j + j / 4) % 12];
              d.has_num_valid = padding == 1;
              d.num_valid_tokens = static_cast<std::int32_t>(d.num_tokens - d.num_tokens / 4 - (j % 2));
              const int layout = (convention + shared + map + padding) % 3;
              d.row_stride = stride == 1 ? base.num_experts + (layout == 0 ? 8 : 3) : 0;
              d.logits_offset = stride == 0 && layout == 1 ? 1 : 0;
              d.has_bias = bias == 1;
              d.flavour = (j / 7) % 2 == 0 ? input_flavour::nasty : input_flavour::random;
              out.push_back(d);
            }
  return out;
}

/// A covering set of 12 cases in which every option value appears (rotated by `offset`); case 8
/// (5000 tokens, stride E) has logits that start one element past a 16-byte boundary. The
/// tiled kernel runs only the cases whose rows are 16-byte aligned (cases 0, 2, 4, 6, 10 and 11
/// of the model shapes, and 3 with 4-byte logits): the conventions, expert maps and the bias turn with j / 4
/// as well as j, so that each of their values reaches those cases too, for every shape of
/// the fused_models tests (with j alone, renormalizing without scaling never reached the tiled
/// kernels of Kimi-K2, GLM-4.5 and MiniMax-M2, whose E + K is a multiple of 4).
inline std::vector<case_desc> covering_cases(const case_desc& base, int offset)
{
  std::vector<case_desc> out;
  for (int j = 0; j < 12; ++j) {
    case_desc d = base;
    const int convention = (j + offset + j / 4) % 4;
    d.renormalize = convention < 2;
    d.scale_output = convention % 2 == 0;
    d.routed_scaling_factor = j % 2 == 0 ? 2.5f : 1.5f;
    d.num_shared_slots = (j + offset) % 3 != 0 ? 1 : 0;
    d.num_shared_experts = (j + offset) % 3 == 2 ? 4 : 1;
    d.expert_map = static_cast<map_kind>((j + 2 * offset + j / 4) % 4);
    d.num_tokens = fused_token_counts[j];
    d.has_num_valid = j % 3 == 2;
    d.num_valid_tokens = static_cast<std::int32_t>(d.num_tokens - d.num_tokens / 3 - (j % 2));
    // padded by 2, 4, 1, 3, 5 and 8: the last keeps rows of 2-byte logits 16-byte aligned
    constexpr int padding_of_odd_case[] = {2, 4, 1, 3, 5, 8};
    d.row_stride = j % 2 == 1 ? base.num_experts + padding_of_odd_case[j / 2] : 0;
    d.logits_offset = j == 8 ? 1 : 0;
    d.has_bias = (j + offset + 3 * (j / 4)) % 4 != 3;
    d.flavour = j % 3 == 1 ? input_flavour::random : input_flavour::nasty;
    out.push_back(d);
  }
  return out;
}

/// `tokens` rows, by default more than one wave of any kernel holds (50003: an SM holds at most
/// 64 warps, so a wave of the tiled kernel on a 132-SM Hopper is at most 33792 tokens, of the
/// warp kernel 8448; every warp of the persistent grid routes more than one row or tile, the
/// tiled kernel refilling its tiles with real rows), in two cases that together take every
/// option: nasty rows, rows of stride E + 8 (16-byte aligned for 2- and 4-byte logits, so the
/// tiled kernel runs), renormalize and scaling, a shared slot cycling over 13 experts, an
/// injective expert map and a device-side count that makes the last quarter padding; then random
/// rows, stride E, scaling alone, a permutation map, no shared slot. (13, not 3: the grid's
/// stride in tokens is a multiple of 132 SMs times 4, so a count of 3 would give every later row
/// of a warp the shared id of its first, advanced or not.)
inline std::vector<case_desc> more_than_a_wave_cases(const case_desc& base, std::int64_t tokens = 50003)
{
  case_desc d = base;
  d.num_tokens = tokens;
  d.flavour = input_flavour::nasty;
  d.row_stride = base.num_experts + 8;
  d.renormalize = true;
  d.scale_output = true;
  d.routed_scaling_factor = 2.5f;
  d.num_shared_slots = 1;
  d.num_shared_experts = 13;
  d.expert_map = map_kind::injective;
  d.has_num_valid = true;
  d.num_valid_tokens = static_cast<std::int32_t>(d.num_tokens - d.num_tokens / 4 - 1);
  std::vector<case_desc> out{d};
  d.flavour = input_flavour::random;
  d.row_stride = 0;
  d.renormalize = false;
  d.routed_scaling_factor = 1.5f;
  d.num_shared_slots = 0;
  d.num_shared_experts = 1;
  d.expert_map = map_kind::permutation;
  d.has_num_valid = false;
  out.push_back(d);
  return out;
}

/// `more_than_a_wave_cases` at 2053 tokens, for grids held to `few_blocks` blocks
/// (`launch_options::max_blocks`): every warp again routes many rows or tiles, the tiled kernel
/// refilling its tiles, and at 257 tokens (under compute-sanitizer, see `check_fused_cases`)
/// still 5 or more rounds a warp, so that the sanitizers see those paths too. (The grid's
/// stride, 12, 24 or 48 tokens, is no multiple of the shared slot's 13 experts.)
constexpr int few_blocks = 3;
inline std::vector<case_desc> few_blocks_cases(const case_desc& base) { return more_than_a_wave_cases(base, 2053); }

/// The rows a run of `check_fused_case` checked: all of them against the reference kernel, and
/// those also checked against the host reference (every row but where the expert map is not
/// injective).
struct fused_rows_checked {
  std::int64_t rows = 0;
  std::int64_t host_rows = 0;
  std::int64_t tiled_rows = 0;  ///< rows the tiled kernel routed (8 lanes asked for on unaligned
                                ///< rows runs the warp kernel: those are not counted)
};

/// The fused kernel of `Config` on `c` equals the reference kernel bit for bit, agrees with the
/// host reference as the contract allows (`check_against_host`: reference_kernel_test checks the
/// reference kernel so on inputs of its own; these are the rows the fused kernels route), and
/// its rows hold the invariants: with a warp per token and, where the shape has them, with the
/// half-warp and the tiled kernels too, each in a grid of at most `MaxBlocks` blocks (0: the
/// launcher's grid). A non-injective expert map hides which expert a row chose, so those cases
/// are checked against the reference kernel only (reference_kernel_test checks such maps with
/// `check_mapping`).
template <class Config, int MaxBlocks = 0>
fused_rows_checked check_fused_case(const test_case& c)
{
  INFO(c.describe() << "\nlaunch_options::max_blocks = " << MaxBlocks << "\nreplay with " << replay_note());
  const route_outputs reference = run_device(c, reference_entry);
  const route_outputs fused = run_device(c, fused_entry<Config, 32, MaxBlocks>);
  MOE_ROUTER_REQUIRE_OK(check_bitwise_equal(c, fused, reference, "fused", "reference"));
  MOE_ROUTER_REQUIRE_OK(check_invariants(c, fused));
  fused_rows_checked checked;
  checked.rows = c.num_tokens();
  if (c.expert_map.empty() || map_is_injective(c.expert_map)) {
    MOE_ROUTER_REQUIRE_OK(check_against_host(c, fused, run_host(c)));
    checked.host_rows = c.num_tokens();
  }
  if constexpr (fused_half_warp_available<Config>()) {
    const route_outputs half = run_device(c, fused_entry<Config, 16, MaxBlocks>);
    MOE_ROUTER_REQUIRE_OK(check_bitwise_equal(c, half, reference, "fused (16 lanes per token)", "reference"));
    MOE_ROUTER_REQUIRE_OK(check_invariants(c, half));
  }
  if constexpr (fused_tiled_available<Config>()) {
    int lanes_run = 0;
    const route_outputs tiled = run_device(c, [&lanes_run](const route_params& p, cudaStream_t stream) {
      lanes_run = fused_token_lanes<Config>(p.num_tokens, 8, logit_rows_aligned(p));
      return fused_entry<Config, 8, MaxBlocks>(p, stream);
    });
    MOE_ROUTER_REQUIRE_OK(check_bitwise_equal(c, tiled, reference, "fused (tiled, 8 lanes per token)", "reference"));
    MOE_ROUTER_REQUIRE_OK(check_invariants(c, tiled));
    if (lanes_run == 8) checked.tiled_rows = c.num_tokens();
  }
  return checked;
}

/// Under compute-sanitizer (scripts/gpu-check.sh --sanitize sets MOE_ROUTER_UNDER_SANITIZER),
/// every kernel runs tens of times slower: keep one case in `sanitizer_case_stride`, with at
/// most 257 tokens, so that each tool still sees every configuration in a few seconds. The kept
/// case moves within each stretch of cases (case j is kept when j + j / stride is a multiple of
/// the stride), so that the sanitizers see several layouts and options, not always the first.
constexpr std::size_t sanitizer_case_stride = 48;
inline bool under_sanitizer() { return std::getenv("MOE_ROUTER_UNDER_SANITIZER") != nullptr; }

/// Run every case of `descs` (fresh inputs from seeds derived from `seed_base`) on `Config`, in
/// grids of at most `MaxBlocks` blocks (0: the launcher's grid). Where `Config` has a tiled
/// kernel, some of the cases must have run it (rows of a case that are not 16-byte aligned go
/// to the warp kernel instead), or the "tiled" runs checked the warp kernel twice.
template <class Config, int MaxBlocks = 0>
void check_fused_cases(const char* label, const std::vector<case_desc>& descs, std::uint64_t seed_base)
{
  fused_rows_checked rows;
  std::size_t cases = 0;
  for (std::size_t j = 0; j < descs.size(); ++j) {
    case_desc d = descs[j];
    if (under_sanitizer()) {
      if ((j + j / sanitizer_case_stride) % sanitizer_case_stride != 0) continue;
      if (d.num_tokens > 257) {
        // A padding count within the rows stays within them, its last rows still padding; one
        // past them stays past them (the kernels clamp it).
        if (d.num_valid_tokens > 257 && d.num_valid_tokens <= d.num_tokens) d.num_valid_tokens = 257 - 257 / 4;
        d.num_tokens = 257;
      }
    }
    const fused_rows_checked checked =
        check_fused_case<Config, MaxBlocks>(make_case(d, derive_seed(base_seed(), seed_base + j)));
    rows.rows += checked.rows;
    rows.host_rows += checked.host_rows;
    rows.tiled_rows += checked.tiled_rows;
    ++cases;
  }
  std::printf("  %-58s %4zu cases, %7lld rows: fused == reference (%lld of them against the host too", label, cases,
              static_cast<long long>(rows.rows), static_cast<long long>(rows.host_rows));
  if (fused_tiled_available<Config>())
    std::printf("; %lld routed by the tiled kernel", static_cast<long long>(rows.tiled_rows));
  std::printf(")\n");
  if (fused_tiled_available<Config>()) {
    INFO(label << ": no case's rows were 16-byte aligned, so no case ran the tiled kernel");
    REQUIRE(rows.tiled_rows > 0);
  }
}

/// The full cross product of options on one DeepSeek-V3 configuration (its types in the label
/// and the seeds), as the fused_deepseek_v3_*_test files run it for each logits type.
template <class Config>
void check_deepseek_v3_cross_product(std::uint64_t seed_base)
{
  char label[128];
  std::snprintf(label, sizeof label, "DeepSeek-V3 logits=%s bias=%s ids=%s", to_string(Config::logits_data_type),
                to_string(Config::bias_data_type), to_string(Config::ids_index_type));
  const std::uint64_t seed = seed_base + 1000u * (static_cast<std::uint64_t>(Config::bias_data_type) * 2 +
                                                  static_cast<std::uint64_t>(Config::ids_index_type));
  check_fused_cases<Config>(label, cross_product_cases(config_desc<Config>("DeepSeek-V3")), seed);
}

}  // namespace test
}  // namespace moe_router
