/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// One bad instantiation of `route_config` per `static_assert` of config.cuh, selected with
// -DMOE_ROUTER_COMPILE_FAIL_CASE=<name>; each must fail to compile with that assertion's
// message (see CMakeLists.txt beside this file). The case `valid` must compile: it keeps a
// broken harness (wrong flags, a missing include path) from passing every case. Two more, built
// for sm_75: the device pieces must refuse it with their #error, the reference kernel compile.

#include <moe_router/config.cuh>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace {

using moe_router::group_score_kind;
using moe_router::route_config;
using moe_router::scoring_func;
constexpr auto sigmoid = scoring_func::sigmoid;
constexpr auto softmax = scoring_func::softmax;
constexpr auto top2_sum = group_score_kind::top2_sum;
constexpr auto max_score = group_score_kind::max;

#define MOE_ROUTER_CASE_IS(name) (MOE_ROUTER_COMPILE_FAIL_CASE_ID == MOE_ROUTER_CASE_##name)
// the case names, as numbers the preprocessor can compare
#define MOE_ROUTER_CASE_valid                          1
#define MOE_ROUTER_CASE_experts_zero                   2
#define MOE_ROUTER_CASE_experts_too_many               3
#define MOE_ROUTER_CASE_groups_zero                    4
#define MOE_ROUTER_CASE_experts_not_multiple_of_groups 5
#define MOE_ROUTER_CASE_topk_group_zero                6
#define MOE_ROUTER_CASE_topk_group_above_groups        7
#define MOE_ROUTER_CASE_topk_zero                      8
#define MOE_ROUTER_CASE_topk_above_kept_experts        9
#define MOE_ROUTER_CASE_topk_above_32                  10
#define MOE_ROUTER_CASE_top2_sum_one_expert_per_group  11
#define MOE_ROUTER_CASE_logit_type_double              12
#define MOE_ROUTER_CASE_bias_type_half                 13
#define MOE_ROUTER_CASE_id_type_uint32                 14
#define MOE_ROUTER_CASE_group_not_whole_lanes          15
#define MOE_ROUTER_CASE_group_lanes_not_power_of_two   16
#define MOE_ROUTER_CASE_token_lanes_four               17
#define MOE_ROUTER_CASE_topk_above_token_lanes         18
#define MOE_ROUTER_CASE_softmax_with_16_lanes          19
#define MOE_ROUTER_CASE_experts_above_512_with_8_lanes 20
#define MOE_ROUTER_CASE_device_pieces_before_sm80      21
#define MOE_ROUTER_CASE_reference_before_sm80          22

#define MOE_ROUTER_CASE_ID_(name)       MOE_ROUTER_CASE_##name
#define MOE_ROUTER_CASE_ID(name)        MOE_ROUTER_CASE_ID_(name)
#define MOE_ROUTER_COMPILE_FAIL_CASE_ID MOE_ROUTER_CASE_ID(MOE_ROUTER_COMPILE_FAIL_CASE)

#if MOE_ROUTER_CASE_IS(valid)
// every kind of shape the checks allow, at their edges
using config = route_config<256, 8, 4, 8, sigmoid, top2_sum, __nv_bfloat16, float, std::int64_t>;
using edges = route_config<1024, 8, 4, 32, softmax, max_score, __half, __nv_bfloat16, std::int32_t>;
using single = route_config<1, 1, 1, 1>;
using odd = route_config<96, 4, 2, 5, sigmoid, top2_sum>;
using one_lane_groups = route_config<96, 32, 4, 5>;
using one_expert_groups = route_config<32, 32, 5, 3, softmax, max_score>;
static_assert(config::experts_per_lane == 8 && edges::experts_per_lane == 32 && single::experts_per_lane == 1 &&
                  odd::lanes_per_group == 8 && one_lane_groups::lanes_per_group == 1 &&
                  one_expert_groups::lanes_per_group == 1,
              "the positive control computes its derived values");
#elif MOE_ROUTER_CASE_IS(experts_zero)
using config = route_config<0, 1, 1, 1>;
#elif MOE_ROUTER_CASE_IS(experts_too_many)
using config = route_config<2048, 1, 1, 8>;
#elif MOE_ROUTER_CASE_IS(groups_zero)
using config = route_config<256, 0, 1, 8>;
#elif MOE_ROUTER_CASE_IS(experts_not_multiple_of_groups)
using config = route_config<24, 5, 1, 2>;  // the only check that fails: 24 / 5 = 4 experts, one lane each
#elif MOE_ROUTER_CASE_IS(topk_group_zero)
using config = route_config<256, 8, 0, 8>;
#elif MOE_ROUTER_CASE_IS(topk_group_above_groups)
using config = route_config<256, 8, 9, 8>;
#elif MOE_ROUTER_CASE_IS(topk_zero)
using config = route_config<256, 8, 4, 0>;
#elif MOE_ROUTER_CASE_IS(topk_above_kept_experts)
using config = route_config<16, 8, 2, 5>;  // 2 groups of 2 experts: 4 < 5
#elif MOE_ROUTER_CASE_IS(topk_above_32)
using config = route_config<256, 1, 1, 33>;
#elif MOE_ROUTER_CASE_IS(top2_sum_one_expert_per_group)
using config = route_config<16, 16, 2, 1, sigmoid, top2_sum>;
#elif MOE_ROUTER_CASE_IS(logit_type_double)
using config = route_config<256, 8, 4, 8, sigmoid, top2_sum, double>;
#elif MOE_ROUTER_CASE_IS(bias_type_half)
using config = route_config<256, 8, 4, 8, sigmoid, top2_sum, float, __half>;
#elif MOE_ROUTER_CASE_IS(id_type_uint32)
using config = route_config<256, 8, 4, 8, sigmoid, top2_sum, float, float, std::uint32_t>;
#elif MOE_ROUTER_CASE_IS(group_not_whole_lanes)
using config = route_config<96, 3, 2, 5>;  // 32 experts per group, 3 per lane
#elif MOE_ROUTER_CASE_IS(group_lanes_not_power_of_two)
using config = route_config<24, 4, 2, 3, softmax, max_score>;  // 6 experts per group, one per lane: 6 lanes
#elif MOE_ROUTER_CASE_IS(token_lanes_four)
using config = route_config<256, 8, 4, 8, sigmoid, top2_sum, float, float, std::int32_t, 4>;
#elif MOE_ROUTER_CASE_IS(topk_above_token_lanes)
using config = route_config<256, 1, 1, 12, sigmoid, top2_sum, float, float, std::int32_t, 8>;
#elif MOE_ROUTER_CASE_IS(softmax_with_16_lanes)
using config = route_config<128, 1, 1, 8, softmax, top2_sum, float, float, std::int32_t, 16>;
#elif MOE_ROUTER_CASE_IS(experts_above_512_with_8_lanes)
using config = route_config<1024, 1, 1, 8, sigmoid, top2_sum, float, float, std::int32_t, 8>;
#elif MOE_ROUTER_CASE_IS(device_pieces_before_sm80)  // compiled with -arch=sm_75
}  // namespace
#include <moe_router/warp/token_lanes.cuh>
namespace {
using config = route_config<256, 8, 4, 8>;
#elif MOE_ROUTER_CASE_IS(reference_before_sm80)  // compiled with -arch=sm_75: must compile
}  // namespace
#include <moe_router/reference/reference_kernel.cuh>
namespace {
using config = route_config<256, 8, 4, 8>;
[[maybe_unused]] cudaError_t reference_entry(const moe_router::route_params& p)
{
  return moe_router::route_reference(p);
}
#else
#error "unknown or missing MOE_ROUTER_COMPILE_FAIL_CASE"
#endif

// Instantiate the class, which evaluates its static_asserts.
constexpr int instantiate = config::num_experts + config::experts_per_lane;

}  // namespace

int moe_router_compile_fail_case() { return instantiate; }
