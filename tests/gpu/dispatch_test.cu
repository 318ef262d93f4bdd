/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// route<default_route_table>: a compiled shape runs the fused kernel, any other shape (or type)
// runs the reference kernel, the caller learns which ran, and both give the same bits.

#include "gpu/fused_test_common.cuh"
#include "validation/entry_points.cuh"

#include <catch2/catch.hpp>

#include <cstring>
#include <string>

using namespace moe_router;
using namespace moe_router::test;

namespace {

struct shape_case {
  int num_experts, num_groups, topk_group, topk;
  scoring_func scoring;
  group_score_kind group_score;
};

// The default table's shapes (model_configs.cuh), then shapes it does not have.
const shape_case compiled[] = {
    {256, 8, 4, 8, scoring_func::sigmoid, group_score_kind::top2_sum},
    {384, 1, 1, 8, scoring_func::sigmoid, group_score_kind::top2_sum},
    {160, 1, 1, 8, scoring_func::sigmoid, group_score_kind::top2_sum},
    {256, 1, 1, 8, scoring_func::sigmoid, group_score_kind::top2_sum},
    {160, 8, 3, 6, scoring_func::softmax, group_score_kind::max},
    {64, 1, 1, 6, scoring_func::softmax, group_score_kind::top2_sum},
    {128, 1, 1, 8, scoring_func::softmax, group_score_kind::top2_sum},
    {8, 1, 1, 2, scoring_func::softmax, group_score_kind::top2_sum},
    {128, 1, 1, 1, scoring_func::sigmoid, group_score_kind::top2_sum},
    {16, 1, 1, 1, scoring_func::sigmoid, group_score_kind::top2_sum},
    {256, 1, 1, 6, scoring_func::sqrtsoftplus, group_score_kind::top2_sum},
    {512, 1, 1, 10, scoring_func::softmax, group_score_kind::top2_sum},
    {512, 1, 1, 22, scoring_func::sigmoid, group_score_kind::top2_sum},
    {1024, 8, 4, 8, scoring_func::sigmoid, group_score_kind::top2_sum},
};
const shape_case not_compiled[] = {
    {96, 1, 1, 4, scoring_func::softmax, group_score_kind::top2_sum},
    {256, 8, 4, 8, scoring_func::softmax, group_score_kind::top2_sum},  // DeepSeek-V3's shape, other scoring
    {2048, 1, 1, 8, scoring_func::sigmoid, group_score_kind::top2_sum},  // beyond the fused kernel
    {256, 1, 1, 40, scoring_func::sigmoid, group_score_kind::top2_sum},  // K > 32
};

case_desc desc_of(const shape_case& s, data_type logits, int j)
{
  case_desc d;
  d.label = "dispatch";
  d.num_experts = s.num_experts;
  d.num_groups = s.num_groups;
  d.topk_group = s.topk_group;
  d.topk = s.topk;
  d.scoring = s.scoring;
  d.group_score = s.group_score;
  d.logits_type = logits;
  d.has_bias = j % 2 == 0;
  d.num_tokens = 77 + j;
  d.num_shared_slots = 1;
  d.scale_output = true;
  d.routed_scaling_factor = 2.5f;
  d.flavour = j % 3 == 0 ? input_flavour::nasty : input_flavour::random;
  return d;
}

route_kernel ran_of(const test_case& c, route_path path)
{
  route_kernel ran = route_kernel::none;
  const route_outputs out =
    run_device(c, [&](const route_params& p, cudaStream_t s) { return call_route_default_table(p, s, path, &ran); });
  (void)out;
  return ran;
}

}  // namespace

TEST_CASE("route runs the fused kernel for compiled shapes and the reference kernel otherwise, with equal bits",
          "[dispatch]")
{
  int j = 0;
  for (const data_type logits : {data_type::f32, data_type::bf16}) {
    for (const shape_case& s : compiled) {
      const test_case c = make_case(desc_of(s, logits, j), derive_seed(base_seed(), 600000 + j));
      ++j;
      INFO(c.describe() << "\nreplay with " << replay_note());
      route_kernel ran = route_kernel::none;
      const route_outputs automatic = run_device(
        c, [&](const route_params& p, cudaStream_t st) { return call_route_default_table(p, st, route_path::automatic, &ran); });
      CHECK(ran == route_kernel::fused);
      const route_outputs reference = run_device(c, [&](const route_params& p, cudaStream_t st) {
        return call_route_default_table(p, st, route_path::reference, &ran);
      });
      CHECK(ran == route_kernel::reference);
      MOE_ROUTER_REQUIRE_OK(check_bitwise_equal(c, automatic, reference, "automatic (fused)", "reference"));
    }
    for (const shape_case& s : not_compiled) {
      const test_case c = make_case(desc_of(s, logits, j), derive_seed(base_seed(), 600000 + j));
      ++j;
      INFO(c.describe());
      CHECK(ran_of(c, route_path::automatic) == route_kernel::reference);
      // asking for the fused kernel is an error that lists what is compiled, and writes nothing
      device_case dev(c);
      route_kernel ran = route_kernel::fused;
      const cudaError_t status = call_route_default_table(dev.params(), 0, route_path::fused, &ran);
      CHECK(status == cudaErrorInvalidValue);
      CHECK(ran == route_kernel::none);
      MOE_ROUTER_TEST_CUDA(cudaDeviceSynchronize());
      CHECK(dev.untouched());
      const std::string message = last_error_message();
      INFO(message);
      const bool beyond_fused = s.num_experts > 1024 || s.topk > 32;
      if (!beyond_fused) {
        CHECK(message.find("compiled") != std::string::npos);
        CHECK(message.find("256/8/4/8") != std::string::npos);
      }
    }
  }
  // a type the table does not have: fp16 logits run on the reference kernel
  const test_case c = make_case(desc_of(compiled[0], data_type::f16, 1), derive_seed(base_seed(), 699999));
  CHECK(ran_of(c, route_path::automatic) == route_kernel::reference);
}
