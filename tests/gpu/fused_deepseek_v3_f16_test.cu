/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// The fused DeepSeek-V3 kernel with fp16 logits equals the reference kernel bit for bit on the
// full cross product of run-time options, for every bias type and ids type, on fresh random and
// nasty inputs (MOE_ROUTER_TEST_SEED replays a run). One file per logits type, so that the
// instantiations compile in parallel.

#include "gpu/fused_test_common.cuh"

#include <moe_router/model_configs.cuh>

#include <catch2/catch.hpp>

#include <cstdint>

using namespace moe_router;
using namespace moe_router::test;

TEMPLATE_TEST_CASE("the fused DeepSeek-V3 kernel with fp16 logits equals the reference kernel on every option",
                   "[fused][deepseek_v3]", (deepseek_v3_config<__half, float, std::int32_t>),
                   (deepseek_v3_config<__half, float, std::int64_t>),
                   (deepseek_v3_config<__half, __nv_bfloat16, std::int32_t>),
                   (deepseek_v3_config<__half, __nv_bfloat16, std::int64_t>))
{
  check_deepseek_v3_cross_product<TestType>(300000);
}
