/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file warp_select.cuh
 * @brief Per-warp selection of one token's experts from the choice keys: the lane's two best
 * candidates, group scores and kept groups, and the top-K (steps 3-4 of docs/semantics.md).
 *
 * Thread contract: all 32 lanes of a converged warp call each function; lane l holds the keys
 * of experts l*V .. l*V+V-1 (from `warp_score`). No shared memory.
 *
 * Why two candidates per lane: each of the K rounds takes the warp's best with one
 * `__reduce_max_sync` over the lanes' best keys. The winner then needs its next best. Keeping
 * the lane's top two (found in one pass, which the group score needs anyway) makes the first
 * pop of a lane a register move; only a lane that wins again rescans its V keys, in a branch
 * that the warp skips when the winner has a candidate left.
 */

#include <moe_router/config.cuh>
#include <moe_router/numeric.hpp>
#include <moe_router/warp/warp_score.cuh>

#include <cstdint>

namespace moe_router {

/// The calling lane's best two remaining candidates, best first; key `excluded_key` = none.
struct lane_candidates {
  std::uint32_t key[2];
  int position[2];  ///< j in 0..V-1: the expert is lane * V + j
  float score[2];   ///< the unbiased score s of the expert
};

/**
 * @brief The lane's best two of its V keys (larger key first, lower position on equal keys).
 * With `Bounded`, only the keys that rank below (`bound_key`, `bound_position`) take part:
 * those are what remains after the lane's candidates down to that one were taken.
 */
template <int V, bool Bounded = false>
__device__ __forceinline__ lane_candidates lane_best_two(const std::uint32_t (&key)[V], const float (&score)[V],
                                                         std::uint32_t bound_key = 0, int bound_position = 0)
{
  lane_candidates c{{excluded_key, excluded_key}, {0, 0}, {0.0f, 0.0f}};
#pragma unroll
  for (int j = 0; j < V; ++j) {
    std::uint32_t k = key[j];
    if (Bounded && !(k < bound_key || (k == bound_key && j > bound_position))) k = excluded_key;
    const bool first = k > c.key[0];  // strict: the lower position keeps equal keys
    const bool second = k > c.key[1];
    c.key[1]      = first ? c.key[0] : (second ? k : c.key[1]);
    c.position[1] = first ? c.position[0] : (second ? j : c.position[1]);
    c.score[1]    = first ? c.score[0] : (second ? score[j] : c.score[1]);
    c.key[0]      = first ? k : c.key[0];
    c.position[0] = first ? j : c.position[0];
    c.score[0]    = first ? score[j] : c.score[0];
  }
  return c;
}

/**
 * @brief Score the groups and keep the best `topk_group` of them (no-op when G == 1).
 *
 * A group's score is the sum of its two largest choice scores (top2_sum; a value present twice
 * counts twice) or its largest (max), merged over the group's lanes with xor shuffles. Every
 * lane then ranks its group against all G (equal scores: lower group first). Lanes of dropped
 * groups lose their candidates, so their experts are never chosen.
 */
template <class Config>
__device__ __forceinline__ void warp_select_groups(int lane, lane_candidates& c)
{
  if constexpr (Config::num_groups > 1) {
    constexpr int L = Config::lanes_per_group;
    std::uint32_t best = c.key[0], second = c.key[1];
#pragma unroll
    for (int offset = 1; offset < L; offset *= 2) {
      const std::uint32_t other_best = __shfl_xor_sync(full_warp_mask, best, offset);
      const std::uint32_t other_second = __shfl_xor_sync(full_warp_mask, second, offset);
      second = max(max(second, other_second), min(best, other_best));
      best = max(best, other_best);
    }
    const std::uint32_t group_key = Config::group_score == group_score_kind::top2_sum
                                      ? order_key(add_rn(key_value(best), key_value(second)))
                                      : best;
    const int group = lane / L;
    int rank = 0;
#pragma unroll
    for (int h = 0; h < Config::num_groups; ++h) {
      const std::uint32_t other = __shfl_sync(full_warp_mask, group_key, h * L);
      rank += (other > group_key || (other == group_key && h < group)) ? 1 : 0;
    }
    if (group >= Config::num_groups || rank >= Config::topk_group) c.key[0] = c.key[1] = excluded_key;
  }
}

/// What `warp_topk` leaves in each lane.
struct warp_topk_result {
  int expert;       ///< lane k < K: the expert of slot k (before expert_map)
  float score;      ///< lane k < K: its unbiased score
  float score_sum;  ///< every lane: the K scores summed in slot order (fp32, from 0.0f)
};

/**
 * @brief The K best candidates of the warp, in rank order: slot k goes to lane k.
 * @param key   the lane's V choice keys (from `warp_score`)
 * @param score the lane's V scores
 * @param c     the lane's candidates after `warp_select_groups`
 */
template <class Config>
__device__ __forceinline__ warp_topk_result warp_topk(const std::uint32_t (&key)[Config::experts_per_lane],
                                                      const float (&score)[Config::experts_per_lane], int lane,
                                                      lane_candidates c)
{
  constexpr int V = Config::experts_per_lane;
  warp_topk_result result{0, 0.0f, 0.0f};
  const unsigned lanes_below = (1u << lane) - 1u;
#pragma unroll
  for (int slot = 0; slot < Config::topk; ++slot) {
    // The best key of the warp; equal keys go to the lowest lane, which holds the lower experts.
    const std::uint32_t best = __reduce_max_sync(full_warp_mask, c.key[0]);
    const unsigned holders = __ballot_sync(full_warp_mask, c.key[0] == best);
    const bool won = c.key[0] == best && (holders & lanes_below) == 0;
    // Off the critical path: which lane won, and what it gives to slot `slot`.
    const int winner = __ffs(holders) - 1;
    const int position = __shfl_sync(full_warp_mask, c.position[0], winner);
    const float s = __shfl_sync(full_warp_mask, c.score[0], winner);
    result.score_sum = add_rn(result.score_sum, s);
    if (lane == slot) {
      result.expert = winner * V + position;
      result.score = s;
    }
    if (slot + 1 < Config::topk) {
      // Pop the winner's best: its second candidate moves up, or, when it has none left, it
      // rescans its keys below the one it just gave. The vote keeps the rescan a branch that
      // the warp skips when no lane needs it (as a plain if, the compiler computed it in
      // every round).
      const bool rescan = V > 2 && won && c.key[1] == excluded_key;
      if (__any_sync(full_warp_mask, rescan)) {
        if (rescan) c = lane_best_two<V, true>(key, score, c.key[0], c.position[0]);
      }
      if (won && !rescan) {
        c.key[0] = c.key[1];
        c.position[0] = c.position[1];
        c.score[0] = c.score[1];
        c.key[1] = excluded_key;
      }
    }
  }
  return result;
}

}  // namespace moe_router
