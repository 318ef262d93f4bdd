/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file config.cuh
 * @brief `route_config`: the compile-time shape of a fused routing kernel, everything derived
 * from it, and the checks that reject a shape the fused kernel cannot run.
 */

#include <moe_router/types.hpp>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace moe_router {

namespace detail {
template <class T>
struct element_traits;
template <>
struct element_traits<float> {
  static constexpr data_type type = data_type::f32;
  __device__ __forceinline__ static float to_float(float v) { return v; }
};
template <>
struct element_traits<__nv_bfloat16> {
  static constexpr data_type type = data_type::bf16;
  __device__ __forceinline__ static float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
};
template <>
struct element_traits<__half> {
  static constexpr data_type type = data_type::f16;
  __device__ __forceinline__ static float to_float(__half v) { return __half2float(v); }
};

constexpr bool is_power_of_two(int v) { return v > 0 && (v & (v - 1)) == 0; }
/// `v`, or 1 where `v` < 1: a divisor for values derived from a shape that a static_assert
/// already rejects.
constexpr int divisor_or_one(int v) { return v >= 1 ? v : 1; }
/// The lanes per token a kernel exists for.
constexpr bool valid_token_lanes(int lanes) { return lanes == 32 || lanes == 16 || lanes == 8; }
/// Do E experts in G groups fit `lanes` lanes per token: no groups, or each group a
/// power-of-two number of whole lanes (E/G is V = ceil(E/lanes) times a power of two)? The
/// group merges are xor shuffles within a group's lanes.
constexpr bool groups_fill_lanes(int experts, int groups, int lanes)
{
  const int v = (experts + lanes - 1) / divisor_or_one(lanes);
  const int per_group = experts / divisor_or_one(groups);
  return groups <= 1 || v < 1 || (per_group % v == 0 && is_power_of_two(per_group / v));
}
}  // namespace detail

/// Lanes of the warp that routes one token.
constexpr int warp_lanes = 32;

/**
 * @brief The compile-time shape of a fused routing kernel.
 *
 * `TokenLanes` lanes route one token (a warp by default): token lane l holds experts
 * l*V .. l*V+V-1, V = ceil(E/TokenLanes) (with 32 lanes, the layout of the contract's softmax
 * summation order, see numeric.hpp). Run-time options (renormalize,
 * scaling, shared slot, expert map, padding count, row stride) stay in `route_params`.
 *
 * @tparam NumExperts E, 1..1024
 * @tparam NumGroups  G, a divisor of E; with G > 1 each group must be a power-of-two number of
 *                    whole lanes (E/G a power of two times V)
 * @tparam TopkGroup  TG, groups kept, 1..G
 * @tparam TopK       K, experts routed, 1..min(TokenLanes, TG*E/G)
 * @tparam Scoring    score function
 * @tparam GroupScore group score (ignored when G == 1)
 * @tparam LogitT     float, __nv_bfloat16 or __half
 * @tparam BiasT      float or __nv_bfloat16 (a null bias pointer means no bias)
 * @tparam IdT        std::int32_t or std::int64_t
 * @tparam TokenLanes lanes that route one token: 32 (a warp; the default), 16 (a half-warp, two
 *                    tokens per warp) or 8 (four tokens per warp, their rows staged in shared
 *                    memory: the tiled kernel, see kernel/tiled_route_kernel.cuh). Fewer lanes
 *                    serve more tokens with each cross-lane instruction, which large batches
 *                    gain from; not with softmax
 */
template <int NumExperts, int NumGroups, int TopkGroup, int TopK, scoring_func Scoring = scoring_func::sigmoid,
          group_score_kind GroupScore = group_score_kind::top2_sum, class LogitT = float, class BiasT = float,
          class IdT = std::int32_t, int TokenLanes = 32>
struct route_config {
  static_assert(NumExperts >= 1 && NumExperts <= 1024,
                "NumExperts must be in [1, 1024]: the fused kernel holds a token in one warp (larger shapes run on "
                "the reference kernel)");
  static_assert(NumGroups >= 1, "NumGroups must be >= 1 (1 = no grouping)");
  // The checks and values below divide by G and V through `divisor_or_one`, so that a bad G or
  // E prints its own message only, not divisions by zero besides.
  static_assert(NumExperts % detail::divisor_or_one(NumGroups) == 0,
                "NumExperts must be a multiple of NumGroups");
  static_assert(TopkGroup >= 1 && TopkGroup <= NumGroups, "TopkGroup must be in [1, NumGroups]");
  static_assert(TopK >= 1, "TopK must be >= 1");
  static_assert(TopK <= TopkGroup * (NumExperts / detail::divisor_or_one(NumGroups)),
                "TopK must be <= TopkGroup * NumExperts / NumGroups (the experts of the kept groups)");
  static_assert(detail::valid_token_lanes(TokenLanes),
                "TokenLanes must be 32 (a warp per token), 16 (a half-warp per token) or 8 (the tiled kernel)");
  // The checks that depend on TokenLanes hold for a bad one, which has its own message above.
  static_assert(!detail::valid_token_lanes(TokenLanes) || TopK <= TokenLanes,
                "TopK must be <= 32, and <= TokenLanes when that is 16 or 8: each lane of a token writes one slot "
                "(use TokenLanes = 32; a K of up to 64 runs on the reference kernel: route_reference, or route<Table> "
                "with a table that does not hold the shape)");
  static_assert(TokenLanes == 32 || Scoring != scoring_func::softmax,
                "softmax needs TokenLanes == 32: its denominator is summed in the order of a 32-lane warp (use "
                "TokenLanes = 32)");
  static_assert(TokenLanes == 32 || !detail::valid_token_lanes(TokenLanes) ||
                  NumExperts <= TokenLanes * (TokenLanes == 8 ? 64 : 32),
                "with TokenLanes == 16 or 8, NumExperts must be <= 512 (at most 32 experts per lane in registers, "
                "64 per lane in the tiled kernel's shared memory): use TokenLanes = 32");
  static_assert(NumGroups <= 1 || GroupScore != group_score_kind::top2_sum ||
                  NumExperts / detail::divisor_or_one(NumGroups) >= 2,
                "the top2_sum group score needs at least 2 experts per group (NumExperts / NumGroups >= 2): use "
                "fewer groups, or group_score_kind::max");
  static_assert(Scoring == scoring_func::sigmoid || Scoring == scoring_func::softmax ||
                  Scoring == scoring_func::sqrtsoftplus,
                "Scoring must be scoring_func::sigmoid, softmax or sqrtsoftplus (a value outside the enum has no "
                "kernel)");
  static_assert(GroupScore == group_score_kind::top2_sum || GroupScore == group_score_kind::max,
                "GroupScore must be group_score_kind::top2_sum or max (a value outside the enum has no kernel)");
  static_assert(std::is_same<LogitT, float>::value || std::is_same<LogitT, __nv_bfloat16>::value ||
                    std::is_same<LogitT, __half>::value,
                "LogitT must be float, __nv_bfloat16 or __half");
  static_assert(std::is_same<BiasT, float>::value || std::is_same<BiasT, __nv_bfloat16>::value,
                "BiasT must be float or __nv_bfloat16");
  static_assert(std::is_same<IdT, std::int32_t>::value || std::is_same<IdT, std::int64_t>::value,
                "IdT must be std::int32_t or std::int64_t");

  static constexpr int num_experts       = NumExperts;
  static constexpr int num_groups        = NumGroups;
  static constexpr int topk_group        = TopkGroup;
  static constexpr int topk              = TopK;
  static constexpr scoring_func scoring  = Scoring;
  static constexpr group_score_kind group_score = GroupScore;
  using logit_type = LogitT;
  using bias_type  = BiasT;
  using id_type    = IdT;
  static constexpr data_type logits_data_type = detail::element_traits<LogitT>::type;
  static constexpr data_type bias_data_type   = detail::element_traits<BiasT>::type;
  static constexpr index_type ids_index_type =
    std::is_same<IdT, std::int32_t>::value ? index_type::i32 : index_type::i64;

  /// Lanes that route one token: 32 (a warp), 16 (half of one) or 8 (the tiled kernel).
  static constexpr int token_lanes = TokenLanes;
  /// V: experts each lane holds (with 32 lanes, the canonical layout of numeric.hpp).
  static constexpr int experts_per_lane = (NumExperts + TokenLanes - 1) / detail::divisor_or_one(TokenLanes);
  /// True when every lane holds exactly V experts (no guards on loads).
  static constexpr bool full_lanes = NumExperts == TokenLanes * experts_per_lane;
  static constexpr int experts_per_group = NumExperts / detail::divisor_or_one(NumGroups);
  /// Lanes of one group (G > 1).
  static constexpr int lanes_per_group =
    NumGroups > 1 ? experts_per_group / detail::divisor_or_one(experts_per_lane) : TokenLanes;

  static_assert(!detail::valid_token_lanes(TokenLanes) || detail::groups_fill_lanes(NumExperts, NumGroups, TokenLanes),
                "with NumGroups > 1 the fused kernel needs each group to be a power-of-two number of whole "
                "lanes: NumExperts / NumGroups must be ceil(NumExperts / TokenLanes) times a power of two (change "
                "NumGroups or TokenLanes; other shapes run on the reference kernel)");

  /// The same shape and types routed by `Lanes` lanes per token.
  template <int Lanes>
  using with_token_lanes =
    route_config<NumExperts, NumGroups, TopkGroup, TopK, Scoring, GroupScore, LogitT, BiasT, IdT, Lanes>;

  /// The same shape with `Element` as its logit type: the layout of any per-expert row (the
  /// bias is loaded with it).
  template <class Element>
  using with_logit_type =
    route_config<NumExperts, NumGroups, TopkGroup, TopK, Scoring, GroupScore, Element, BiasT, IdT, TokenLanes>;

  /// Does a run-time description match this configuration (shape, scoring and element types)?
  static constexpr bool matches(const route_params& p)
  {
    return p.num_experts == NumExperts && p.num_groups == NumGroups && p.topk_group == TopkGroup &&
           p.topk == TopK && p.scoring == Scoring && (NumGroups == 1 || p.group_score == GroupScore) &&
           p.logits_type == logits_data_type && (p.bias == nullptr || p.bias_type == bias_data_type) &&
           p.ids_type == ids_index_type;
  }
};

}  // namespace moe_router
