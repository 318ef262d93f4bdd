/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file warp_score.cuh
 * @brief Per-warp scoring of one token: scores s[e] and order keys of the choice scores
 * b[e] = s[e] + bias[e] (steps 1-2 of docs/semantics.md).
 *
 * Thread contract: all 32 lanes of a converged warp call it; token lane l (`token_lane`, the
 * lane itself when `Config::token_lanes == 32`) holds experts l*V .. l*V+V-1 in registers. No
 * shared memory.
 */

#include <moe_router/config.cuh>
#include <moe_router/numeric.hpp>
#include <moe_router/warp/token_lanes.cuh>
#include <moe_router/warp/warp_load_logits.cuh>

#include <cstdint>

namespace moe_router {

/// Is slot j of `lane` a real expert (false only for lanes past E when E is not a multiple of
/// the token's lanes)?
template <class Config>
__device__ __forceinline__ bool holds_expert(int lane, int j)
{
  return Config::full_lanes || token_lane<Config>(lane) * Config::experts_per_lane + j < Config::num_experts;
}

/**
 * @brief Load the calling lane's V bias values as fp32 (0 where `bias` is null or past E).
 * Call once per warp and keep the result: it does not depend on the token.
 *
 * The bias is a row like the logits and is loaded like one (`warp_load_logits`: 16-byte loads
 * when aligned). Element by element, each of a lane's loads (the lanes 32 bytes apart) touches
 * 32 sectors for 128 useful bytes: most of the 79% excess L2 sectors Nsight Compute counted at
 * 2048 tokens, where each warp routes one token.
 */
template <class Config>
__device__ __forceinline__ void warp_load_bias(const typename Config::bias_type* bias, int lane,
                                               float (&b)[Config::experts_per_lane])
{
  using row_config = typename Config::template with_logit_type<typename Config::bias_type>;
  if (bias == nullptr) {
#pragma unroll
    for (int j = 0; j < Config::experts_per_lane; ++j) b[j] = 0.0f;
    return;
  }
  logit_fragment<row_config> fragment;
  warp_load_logits<row_config>(bias, lane, fragment);
  fragment_to_float<row_config>(fragment, b);
}

/**
 * @brief Scores and choice keys of one token.
 * @param[in]  x     the lane's V logits in fp32
 * @param[in]  bias  the lane's V bias values (from `warp_load_bias`)
 * @param[out] score s[e], the unbiased scores (the weights are taken from these)
 * @param[out] key   order_key(s[e] + bias[e]); `excluded_key` for lanes past E
 *
 * Softmax reduces over the warp in the contract's order (numeric.hpp's `canonical_sum`): each
 * lane sums its experts in index order, then a butterfly over offsets 16..1. The max is taken
 * over order keys with `__reduce_max_sync` (one instruction on sm_80+). CUB's WarpReduce is
 * not used for the sum because its order is its own, and the reference must reproduce ours.
 */
template <class Config>
__device__ __forceinline__ void warp_score(const float (&x)[Config::experts_per_lane],
                                           const float (&bias)[Config::experts_per_lane], int lane,
                                           float (&score)[Config::experts_per_lane],
                                           std::uint32_t (&key)[Config::experts_per_lane])
{
  constexpr int V = Config::experts_per_lane;
  if constexpr (Config::scoring == scoring_func::softmax) {
    std::uint32_t lane_max = excluded_key;
#pragma unroll
    for (int j = 0; j < V; ++j)
      if (holds_expert<Config>(lane, j)) lane_max = max(lane_max, order_key(x[j]));
    const float row_max = key_value(__reduce_max_sync(full_warp_mask, lane_max));
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < V; ++j) {
      score[j] = softmax_numerator(x[j], row_max);
      if (holds_expert<Config>(lane, j)) sum = add_rn(sum, score[j]);
    }
#pragma unroll
    for (int offset = warp_lanes / 2; offset >= 1; offset /= 2)
      sum = add_rn(sum, __shfl_xor_sync(full_warp_mask, sum, offset));
    // Slots past E (logit 0) divide 1 instead, their score never used: exp(-row_max) is 0 for
    // a large row max, and a zero dividend sends the division to its slow path, which the
    // whole warp then waits for (see warp_store_row).
#pragma unroll
    for (int j = 0; j < V; ++j) score[j] = (holds_expert<Config>(lane, j) ? score[j] : 1.0f) / sum;
  } else {
#pragma unroll
    for (int j = 0; j < V; ++j) score[j] = elementwise_score(Config::scoring, x[j]);
  }
#pragma unroll
  for (int j = 0; j < V; ++j) key[j] = holds_expert<Config>(lane, j) ? choice_key(score[j], bias[j]) : excluded_key;
}

}  // namespace moe_router
