/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// The fused kernel of every model shape of model_configs.cuh (fp32 logits, fp32 bias, int32 ids)
// equals the reference kernel bit for bit on a covering set of options in which every option
// value appears, on fresh random and nasty inputs (MOE_ROUTER_TEST_SEED replays a run).

#include "gpu/fused_test_common.cuh"

#include <moe_router/model_configs.cuh>

#include <catch2/catch.hpp>

using namespace moe_router;
using namespace moe_router::test;

TEMPLATE_TEST_CASE("the fused kernel of every model shape equals the reference kernel (fp32 logits)", "[fused][models]",
                   deepseek_v3_config<>, kimi_k2_config<>, glm_4_5_config<>, minimax_m2_config<>,
                   deepseek_v2_config<>, deepseek_v2_lite_config<>, qwen3_moe_config<>, mixtral_config<>,
                   llama_4_config<>, llama_4_scout_config<>, deepseek_v4_flash_config<>, experts_512_top10_config<>,
                   experts_512_top22_config<>, experts_1024_config<>)
{
  using config = TestType;
  char label[128];
  std::snprintf(label, sizeof label, "E=%d G=%d TG=%d K=%d %s logits=f32", config::num_experts, config::num_groups,
                config::topk_group, config::topk, to_string(config::scoring));
  const int offset = config::num_experts + config::topk;
  check_fused_cases<config>(label, covering_cases(config_desc<config>(label), offset),
                            400000u + 100u * static_cast<std::uint64_t>(offset));
}

// The tiled kernels whose screened keys overwrite fp32 logits copy the rows of small batches
// through L1 and of larger ones through L2 only (tiled_l1_copy_max_bytes); the covering sets
// above are all small. One batch just past the bound, random and nasty rows, every kernel.
TEMPLATE_TEST_CASE("the tiled kernel copying through L2 only equals the reference kernel (fp32 logits)",
                   "[fused][models][tiled]", deepseek_v3_config<>, kimi_k2_config<>, minimax_m2_config<>)
{
  using config = TestType;
  static_assert(tiled_refill_after_routing<typename config::template with_token_lanes<8>>,
                "a shape whose copies may go through L1");
  char label[128];
  std::snprintf(label, sizeof label, "E=%d G=%d K=%d logits=f32, past %lld bytes of logits", config::num_experts,
                config::num_groups, config::topk, static_cast<long long>(tiled_l1_copy_max_bytes));
  case_desc d = config_desc<config>(label);
  d.num_tokens = tiled_l1_copy_max_bytes / (config::num_experts * static_cast<std::int64_t>(sizeof(float))) + 37;
  d.renormalize = true;
  d.scale_output = true;
  d.routed_scaling_factor = 2.5f;
  d.num_shared_slots = 1;
  std::vector<case_desc> descs;
  for (input_flavour flavour : {input_flavour::random, input_flavour::nasty}) {
    d.flavour = flavour;
    descs.push_back(d);
  }
  check_fused_cases<config>(label, descs, 410000u + static_cast<std::uint64_t>(config::num_experts));
}

// Every shape with a tiled kernel, past one wave of every kernel (more_than_a_wave_cases), then
// in a grid of a few blocks (few_blocks_cases): the covering sets above route one round a warp.
// Three shapes only this test compiles: groups scored by their largest choice score (the screened
// group proof's max case), two groups of four lanes with 2 * TG < K, and DeepSeek-V3's groups
// with sqrtsoftplus scores (a tiled kernel that scores exactly and chooses groups from exact keys).
TEMPLATE_TEST_CASE("every kernel routing more than one wave of tokens, or in a grid of a few blocks, equals the "
                   "reference kernel (fp32 logits)",
                   "[fused][models][tiled]", deepseek_v3_config<>, kimi_k2_config<>, glm_4_5_config<>,
                   minimax_m2_config<>, llama_4_config<>, deepseek_v4_flash_config<>,
                   (route_config<256, 8, 4, 8, scoring_func::sigmoid, group_score_kind::max>),
                   (route_config<256, 2, 1, 8, scoring_func::sigmoid, group_score_kind::top2_sum>),
                   (route_config<256, 8, 4, 8, scoring_func::sqrtsoftplus, group_score_kind::top2_sum>))
{
  using config = TestType;
  static_assert(fused_tiled_available<config>(), "a shape with a tiled kernel");
  char shape[96], label[128], few_label[128];
  std::snprintf(shape, sizeof shape, "E=%d G=%d TG=%d K=%d %s%s logits=f32", config::num_experts, config::num_groups,
                config::topk_group, config::topk, to_string(config::scoring),
                config::group_score == group_score_kind::max && config::num_groups > 1 ? " max" : "");
  std::snprintf(label, sizeof label, "%s, more than a wave", shape);
  std::snprintf(few_label, sizeof few_label, "%s, a grid of %d blocks", shape, few_blocks);
  // (the score function and the group score in it too, four apart since each case adds its
  // index: three shapes share E + G)
  const std::uint64_t seed = 420000u + 100u * static_cast<std::uint64_t>(config::num_experts + config::num_groups) +
                             4u * (3u * static_cast<std::uint64_t>(config::scoring) +
                                   static_cast<std::uint64_t>(config::group_score));
  check_fused_cases<config>(label, more_than_a_wave_cases(config_desc<config>(label)), seed);
  // The same options in a grid of a few blocks: many rounds a warp at 2053 tokens, and under a
  // sanitizer too (257 tokens).
  check_fused_cases<config, few_blocks>(few_label, few_blocks_cases(config_desc<config>(few_label)), seed + 50u);
}
