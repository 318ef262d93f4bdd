/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// One bad instantiation of `route_config` per `static_assert` of config.cuh, selected with
// -DMOE_ROUTER_COMPILE_FAIL_CASE=<name>; each must fail to compile with that assertion's
// message (see CMakeLists.txt beside this file). The case `valid` must compile: it keeps a
// broken harness (wrong flags, a missing include path) from passing every case. Two more, built
// for sm_75: the device pieces must refuse it with their #error, the reference kernel compile.
// Three built for sm_90a check what a Config must also satisfy where it is used: `route_fused`
// (a warp per token for small batches) and `warp_topk` (at most 32 experts a lane), with
// `route_fused_valid` as their positive control.

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
#define MOE_ROUTER_CASE_scoring_out_of_range           23
#define MOE_ROUTER_CASE_group_score_out_of_range       24
#define MOE_ROUTER_CASE_route_fused_valid              25
#define MOE_ROUTER_CASE_route_fused_groups_split_warp_lanes 26
#define MOE_ROUTER_CASE_warp_topk_more_than_32_a_lane  27
#define MOE_ROUTER_CASE_before_cxx17                   28

#define MOE_ROUTER_CASE_ID_(name)       MOE_ROUTER_CASE_##name
#define MOE_ROUTER_CASE_ID(name)        MOE_ROUTER_CASE_ID_(name)
#define MOE_ROUTER_COMPILE_FAIL_CASE_ID MOE_ROUTER_CASE_ID(MOE_ROUTER_COMPILE_FAIL_CASE)

// The cases that instantiate route_fused on their `config`.
#define MOE_ROUTER_CASE_CALLS_ROUTE_FUSED \
  (MOE_ROUTER_CASE_IS(route_fused_valid) || MOE_ROUTER_CASE_IS(route_fused_groups_split_warp_lanes))
}  // namespace
#if MOE_ROUTER_CASE_CALLS_ROUTE_FUSED
#include <moe_router/route.cuh>
#endif
namespace {

#if MOE_ROUTER_CASE_IS(valid) || MOE_ROUTER_CASE_IS(before_cxx17)
// every kind of shape the checks allow, at their edges (before_cxx17, compiled with
// -std=c++14, must stop at the headers' #error first)
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
#elif MOE_ROUTER_CASE_IS(scoring_out_of_range)
using config = route_config<256, 8, 4, 8, static_cast<scoring_func>(7)>;
#elif MOE_ROUTER_CASE_IS(group_score_out_of_range)
using config = route_config<256, 8, 4, 8, sigmoid, static_cast<group_score_kind>(5)>;
#elif MOE_ROUTER_CASE_IS(route_fused_valid)  // compiled with -arch=sm_90a: must compile
// A half-warp shape whose groups are whole lanes with 32, 16 and 8 lanes a token (32, 16 and
// 8 lanes a group): route_fused (below) compiles all three kernels.
using config = route_config<64, 2, 1, 6, sigmoid, top2_sum, float, float, std::int32_t, 16>;
#elif MOE_ROUTER_CASE_IS(route_fused_groups_split_warp_lanes)  // compiled with -arch=sm_90a
// Valid with 16 lanes (3 experts a group, one lane each), but a warp's lanes hold 2 experts
// each, so a group would be a lane and a half; route_fused (below) runs a warp per token for
// small batches.
using config = route_config<48, 16, 4, 4, sigmoid, max_score, float, float, std::int32_t, 16>;
#elif MOE_ROUTER_CASE_IS(warp_topk_more_than_32_a_lane)  // compiled with -arch=sm_90a
}  // namespace
#include <moe_router/warp/warp_route_token.cuh>
namespace {
// 384 experts over 8 lanes: 48 a lane, more than warp_topk's 32-bit candidate mask holds.
using config = route_config<384, 1, 1, 8, sigmoid, top2_sum, float, float, std::int32_t, 8>;
__global__ void route_kernel(const moe_router::route_params p)
{
  __shared__ moe_router::warp_topk_storage storage[4];
  const int lane = static_cast<int>(threadIdx.x) % moe_router::warp_lanes;
  float bias[config::experts_per_lane];
  moe_router::warp_load_bias<config>(nullptr, lane, bias);
  moe_router::warp_route_token<config>(bias, lane, p, lane / 8, config::num_experts, storage[lane / 8]);
}
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

#if MOE_ROUTER_CASE_CALLS_ROUTE_FUSED
[[maybe_unused]] cudaError_t fused_entry(const moe_router::route_params& p)
{
  return moe_router::route_fused<config>(p);
}
#endif

}  // namespace

int moe_router_compile_fail_case() { return instantiate; }
