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
