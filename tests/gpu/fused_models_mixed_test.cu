/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// The fused kernel of every model shape with the other element types (bf16 and fp16 logits,
// bf16 bias, int64 ids, rotated over the shapes so that each type meets several shapes) equals
// the reference kernel bit for bit on a covering set of options, plus shapes that only the
// fused kernel's constraints allow in odd ways (lanes holding no expert, groups of one lane).

#include "gpu/fused_test_common.cuh"

#include <moe_router/model_configs.cuh>

#include <catch2/catch.hpp>

#include <cstdint>

using namespace moe_router;
using namespace moe_router::test;

using bf16 = __nv_bfloat16;
using i64 = std::int64_t;
using i32 = std::int32_t;

TEMPLATE_TEST_CASE("the fused kernel of every model shape equals the reference kernel (other types)",
                   "[fused][models]", (deepseek_v3_config<bf16, float, i32>), (kimi_k2_config<bf16, bf16, i64>),
                   (glm_4_5_config<__half, float, i64>), (minimax_m2_config<bf16, float, i32>),
                   (deepseek_v2_config<bf16, bf16, i32>), (deepseek_v2_lite_config<__half, bf16, i64>),
                   (qwen3_moe_config<bf16, float, i32>), (mixtral_config<bf16, bf16, i64>),
                   (llama_4_config<__half, float, i32>), (llama_4_scout_config<bf16, float, i64>),
                   (deepseek_v4_flash_config<bf16, bf16, i32>), (experts_512_top10_config<bf16, float, i32>),
                   (experts_512_top22_config<__half, bf16, i64>), (experts_1024_config<bf16, float, i32>),
                   // odd shapes: 8 groups of 12 (V=3, 4 lanes a group), E=40 (lanes 20..31 hold nothing), groups of 2,
                   // K = 16 on the half-warp kernel (its largest K: the shared slot in token lane 0, 17 slots a
                   // padding row over 16 lanes)
                   (route_config<128, 8, 4, 16, scoring_func::sigmoid, group_score_kind::top2_sum, bf16, float, i32>),
                   (route_config<96, 8, 3, 5, scoring_func::sigmoid, group_score_kind::top2_sum, float, float, i32>),
                   (route_config<40, 1, 1, 3, scoring_func::softmax, group_score_kind::top2_sum, bf16, float, i64>),
                   (route_config<16, 8, 2, 3, scoring_func::sigmoid, group_score_kind::top2_sum, float, bf16, i32>),
                   (route_config<1024, 8, 4, 32, scoring_func::sqrtsoftplus, group_score_kind::max, bf16, bf16, i64>))
{
  using config = TestType;
  char label[160];
  std::snprintf(label, sizeof label, "E=%d G=%d TG=%d K=%d %s logits=%s bias=%s ids=%s", config::num_experts,
                config::num_groups, config::topk_group, config::topk, to_string(config::scoring),
                to_string(config::logits_data_type), to_string(config::bias_data_type),
                to_string(config::ids_index_type));
  const int offset = config::num_experts + 3 * config::topk + 1;
  check_fused_cases<config>(label, covering_cases(config_desc<config>(label), offset),
                            500000u + 100u * static_cast<std::uint64_t>(offset));
}

// The same past one wave and in a few blocks (more_than_a_wave_cases, few_blocks_cases) for the
// shapes whose tiled kernel takes 2-byte logits (keys in a tile of their own, the logit tile
// refilled right after scoring), with int64 ids and a bf16 bias among them. The last shape is
// the only grouped one whose tiled kernel scores exactly (sqrtsoftplus is not screened): its
// groups chosen from the exact keys, by their largest score, with fp16 logits and int64 ids.
TEMPLATE_TEST_CASE("every kernel routing more than one wave of tokens, or in a grid of a few blocks, equals the "
                   "reference kernel (other types)",
                   "[fused][models][tiled]", (deepseek_v3_config<bf16, float, i32>), (kimi_k2_config<bf16, bf16, i64>),
                   (minimax_m2_config<bf16, float, i32>), (llama_4_config<__half, float, i32>),
                   (deepseek_v4_flash_config<bf16, bf16, i32>),
                   (route_config<256, 8, 4, 8, scoring_func::sqrtsoftplus, group_score_kind::max, __half, float, i64>))
{
  using config = TestType;
  static_assert(fused_tiled_available<config>(), "a shape with a tiled kernel");
  char shape[128], label[160], few_label[160];
  std::snprintf(shape, sizeof shape, "E=%d G=%d TG=%d K=%d %s logits=%s bias=%s ids=%s", config::num_experts,
                config::num_groups, config::topk_group, config::topk, to_string(config::scoring),
                to_string(config::logits_data_type), to_string(config::bias_data_type),
                to_string(config::ids_index_type));
  std::snprintf(label, sizeof label, "%s, more than a wave", shape);
  std::snprintf(few_label, sizeof few_label, "%s, a grid of %d blocks", shape, few_blocks);
  // (the groups, the score function and the group score in it too, four apart since each case
  // adds its index: four shapes have 256 experts)
  const std::uint64_t seed = 520000u + 100u * static_cast<std::uint64_t>(config::num_experts + config::num_groups) +
                             4u * (3u * static_cast<std::uint64_t>(config::scoring) +
                                   static_cast<std::uint64_t>(config::group_score));
  check_fused_cases<config>(label, more_than_a_wave_cases(config_desc<config>(label)), seed);
  // The same options in a grid of a few blocks: many rounds a warp at 2053 tokens, and under a
  // sanitizer too (257 tokens).
  check_fused_cases<config, few_blocks>(few_label, few_blocks_cases(config_desc<config>(few_label)), seed + 50u);
}
