/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// The fused kernel of every entry of the default table with bf16 logits (model_route_table<bf16>:
// bf16 logits, fp32 bias, int32 ids, the kernels `route` runs for an engine's bf16 router)
// equals the reference kernel bit for bit, and agrees with the host reference, on a covering set
// of options, then past one wave of tokens and in a grid of a few blocks. The list is the table
// itself, so that a shape added to model_configs.cuh is tested here without a change.
// (fused_models_mixed_test turns the element types over the shapes; this file pins the ones the
// default table compiles.)

#include "gpu/fused_test_common.cuh"

#include <moe_router/model_configs.cuh>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <type_traits>

using namespace moe_router;
using namespace moe_router::test;

using default_bf16_table = model_route_table<__nv_bfloat16>;

template <class Config>
void describe_config(char* out, std::size_t size)
{
  std::snprintf(out, size, "E=%d G=%d TG=%d K=%d %s logits=%s bias=%s ids=%s", Config::num_experts, Config::num_groups,
                Config::topk_group, Config::topk, to_string(Config::scoring), to_string(Config::logits_data_type),
                to_string(Config::bias_data_type), to_string(Config::ids_index_type));
}

TEMPLATE_LIST_TEST_CASE("the fused kernel of every default bf16 entry equals the reference kernel",
                        "[fused][models][default_table]", default_bf16_table)
{
  using config = TestType;
  static_assert(std::is_same_v<typename config::logit_type, __nv_bfloat16>, "the bf16 half of the default table");
  char label[160];
  describe_config<config>(label, sizeof label);
  // An offset of its own, so that the covering set's rotation differs from the other files'
  // (the groups count in it: DeepSeek-V3 and MiniMax-M2 differ in nothing else).
  const int offset = config::num_experts + 5 * config::topk + 7 * config::num_groups + 2;
  check_fused_cases<config>(label, covering_cases(config_desc<config>(label), offset),
                            600000u + 100u * static_cast<std::uint64_t>(offset));
}

// Every kernel of these entries, the warp kernels' persistent grids too, routing more than one
// wave (more_than_a_wave_cases: every warp routes a second row or tile), then in a grid of a
// few blocks (many rounds a warp, and under a sanitizer too).
TEMPLATE_LIST_TEST_CASE(
    "every default bf16 entry routing more than one wave of tokens, or in a grid of a few "
    "blocks, equals the reference kernel",
    "[fused][models][default_table]", default_bf16_table)
{
  using config = TestType;
  char shape[160], label[192], few_label[192];
  describe_config<config>(shape, sizeof shape);
  std::snprintf(label, sizeof label, "%s, more than a wave", shape);
  std::snprintf(few_label, sizeof few_label, "%s, a grid of %d blocks", shape, few_blocks);
  const std::uint64_t seed =
      620000u + 100u * static_cast<std::uint64_t>(config::num_experts + config::topk + 13 * config::num_groups);
  check_fused_cases<config>(label, more_than_a_wave_cases(config_desc<config>(label)), seed);
  check_fused_cases<config, few_blocks>(few_label, few_blocks_cases(config_desc<config>(few_label)), seed + 50u);
}
