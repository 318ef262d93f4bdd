/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// The fused DeepSeek-V3 kernel with fp32 logits equals the reference kernel bit for bit on the
// full cross product of run-time options, for every bias type and ids type, on fresh random and
// nasty inputs (MOE_ROUTER_TEST_SEED replays a run), and with scaling factors at the ends of
// fp32's range. One file per logits type, so that the instantiations compile in parallel.

#include "gpu/fused_test_common.cuh"

#include <moe_router/model_configs.cuh>

#include <catch2/catch.hpp>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <vector>

using namespace moe_router;
using namespace moe_router::test;

TEMPLATE_TEST_CASE("the fused DeepSeek-V3 kernel with fp32 logits equals the reference kernel on every option",
                   "[fused][deepseek_v3]", (deepseek_v3_config<float, float, std::int32_t>),
                   (deepseek_v3_config<float, float, std::int64_t>),
                   (deepseek_v3_config<float, __nv_bfloat16, std::int32_t>),
                   (deepseek_v3_config<float, __nv_bfloat16, std::int64_t>))
{
  check_deepseek_v3_cross_product<TestType>(100000);
}

TEST_CASE("the fused DeepSeek-V3 kernel equals the reference kernel, and agrees with the host reference, with "
          "scaling factors at the ends of fp32's range",
          "[fused][deepseek_v3][factor]")
{
  // The validation accepts any finite factor > 0, and the weights are then what the contract's
  // fp32 formula gives, overflow and underflow included (docs/semantics.md, step 8): both
  // kernels must give the same bits there too.
  using config = deepseek_v3_config<>;
  const float factors[] = {FLT_TRUE_MIN, 1e-40f, FLT_MIN, 1e-30f, 1e30f, 3e38f, FLT_MAX};
  std::vector<case_desc> descs;
  for (const float factor : factors)
    for (int convention = 0; convention < 4; ++convention) {
      case_desc d = config_desc<config>("DeepSeek-V3, extreme factor");
      d.renormalize = convention < 2;
      d.scale_output = convention % 2 == 0;
      d.routed_scaling_factor = factor;
      d.num_shared_slots = 1;
      d.num_tokens = convention % 2 == 0 ? 257 : 33;
      d.flavour = convention < 2 ? input_flavour::random : input_flavour::nasty;
      descs.push_back(d);
    }
  // At these factors the weights and the shared slot underflow and overflow: the comparison with
  // the host reference rests on the checker's allowances for that (`underflow_error`,
  // `overflow_edge`), which harness_test checks on the host against routings of logits an ulp
  // away.
  check_fused_cases<config>("DeepSeek-V3 fp32, extreme scaling factors", descs, 200000);

  // The test reaches the overflow: renormalized and not scaled, a denormal factor's shared slot
  // is about 1 / factor, which is +inf in fp32 on every row of random logits.
  case_desc d = config_desc<config>("DeepSeek-V3, denormal factor");
  d.renormalize = true;
  d.scale_output = false;
  d.routed_scaling_factor = 1e-40f;
  d.num_shared_slots = 1;
  d.num_tokens = 33;
  const test_case c = make_case(d, derive_seed(base_seed(), 200100));
  INFO(c.describe() << "\nreplay with " << replay_note());
  const route_outputs fused = run_device(c, fused_entry<config, 32>);
  for (std::int64_t t = 0; t < c.num_tokens(); ++t) {
    INFO("row " << t << ": " << fused.describe_row(t));
    CHECK(fused.weight(t, config::topk) == INFINITY);
  }
}
