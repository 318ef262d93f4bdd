/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file warp_epilogue.cuh
 * @brief Per-warp weights epilogue and stores of one token's output row (steps 5-10 of
 * docs/semantics.md): renormalize, scale, shared slot, expert map, padding rows.
 *
 * Thread contract: all 32 lanes of a converged warp call `warp_store_row`, token lane k < K
 * holding slot k of `warp_topk`'s result. Token lanes 0..K+S-1 store; the row's stores are
 * coalesced. `warp_store_padding_row` has no collectives.
 */

#include <moe_router/config.cuh>
#include <moe_router/numeric.hpp>
#include <moe_router/types.hpp>
#include <moe_router/warp/warp_score.cuh>
#include <moe_router/warp/warp_select.cuh>

#include <cstdint>

namespace moe_router {

/**
 * @brief Finish and store one token's row.
 * @param p          run-time options (renormalize, scale_output, routed_scaling_factor,
 *                   num_shared_slots, expert_map) and the output pointers
 * @param token      row index t
 * @param shared_id  the shared slot's id, E + t mod NS (the caller keeps it incrementally)
 * @param write      false: take part in the collectives but store nothing (with two tokens per
 *                   warp, the lanes of a token slot that has no row to store this round)
 */
template <class Config>
__device__ __forceinline__ void warp_store_row(const warp_topk_result& r, int lane, const route_params& p,
                                               std::int64_t token, int shared_id, bool write = true)
{
  constexpr int K = Config::topk;
  const int tl = token_lane<Config>(lane);
  const int slots = K + p.num_shared_slots;
  float w = r.score;
  // The lanes past the K slots hold score 0 and divide 1 instead (their weight is never used):
  // a zero dividend sends the division to its slow path, which the whole warp then waits for.
  if (p.renormalize) w = (tl < K ? w : 1.0f) / (r.score_sum == 0.0f ? 1.0f : r.score_sum);
  if (p.scale_output) w = mul_rn(w, p.routed_scaling_factor);
  float* weights = p.weights + token * slots;
  auto* ids = static_cast<typename Config::id_type*>(p.ids) + token * slots;
  if (write && tl < K) {
    weights[tl] = w;
    ids[tl] = p.expert_map != nullptr ? __ldg(p.expert_map + r.expert) : r.expert;
  }
  if (p.num_shared_slots == 1) {
    float total = 0.0f;  // slot order, like the reference
#pragma unroll
    for (int k = 0; k < K; ++k) total = add_rn(total, token_shfl<Config>(w, k));
    if (write && tl == K % Config::token_lanes) {
      weights[K] = total / p.routed_scaling_factor;
      ids[K] = shared_id;
    }
  }
}

/// Store a padding row: id -1 and weight 0 in every slot.
template <class Config>
__device__ __forceinline__ void warp_store_padding_row(int lane, const route_params& p, std::int64_t token)
{
  const int slots = Config::topk + p.num_shared_slots;
  float* weights = p.weights + token * slots;
  auto* ids = static_cast<typename Config::id_type*>(p.ids) + token * slots;
  for (int k = token_lane<Config>(lane); k < slots; k += Config::token_lanes) {
    weights[k] = 0.0f;
    ids[k] = -1;
  }
}

}  // namespace moe_router
