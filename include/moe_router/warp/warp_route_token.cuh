/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file warp_route_token.cuh
 * @brief One call that routes a whole token with its `Config::token_lanes` lanes: the
 * composition of the device pieces, exactly as the fused kernel runs them.
 *
 * Thread contract: all 32 lanes of a converged warp call it. With 32 lanes per token (the
 * default) they pass the same token and one `warp_topk_storage` (512 bytes of shared memory);
 * with 16 (the half-warp kernel) lanes 0-15 and 16-31 route two tokens at once, each half with
 * its own token and its own storage. About 2V + 16 registers of state per lane
 * (V = ceil(E / token_lanes)).
 */

#include <moe_router/config.cuh>
#include <moe_router/types.hpp>
#include <moe_router/warp/warp_epilogue.cuh>
#include <moe_router/warp/warp_load_logits.cuh>
#include <moe_router/warp/warp_score.cuh>
#include <moe_router/warp/warp_select.cuh>

#include <cstdint>

namespace moe_router {

/// The shared slot's id for row `token`: E + token mod NS (only meaningful with a shared slot).
template <class Config>
__device__ __forceinline__ int shared_slot_id(const route_params& p, std::int64_t token)
{
  return Config::num_experts + static_cast<int>(token % (p.num_shared_experts > 0 ? p.num_shared_experts : 1));
}

/// Batches of at most this many tokens (`p.num_tokens`) rank with `warp_topk`'s short chain:
/// there each warp's own chain is the time. H100, fp32 logits, against no short chain: up to
/// 512 tokens DeepSeek-V3 2% to 2.5% faster, Kimi-K2 3% to 5%, Qwen3-MoE 2% to 3%; larger
/// batches unchanged. The short chain at every size was up to 2.5% slower at 8192 tokens.
constexpr std::int64_t warp_topk_short_chain_tokens = 1024;

/// Batches of at least this many tokens rank with `warp_topk`'s `match_ties`: fewer
/// instructions where warps are many and the instructions are the time. H100, 8192 tokens, fp32
/// logits: Qwen3-MoE 2.3% faster, DeepSeek-V2-Lite 1.8%, DeepSeek-V3 1.2%, MiniMax-M2 0.8%,
/// Kimi-K2 0.6%. From 1025 tokens on (with the group ranks matched too), DeepSeek-V3 was 1%
/// slower at 2048 tokens, where each warp's own chain counts more.
constexpr std::int64_t warp_match_ties_tokens = 8192;

/**
 * @brief Route token `token` whose fp32 logits the lane holds in `x` (experts lane*V .. lane*V+V-1;
 * values past E are ignored) and store its row: for a kernel that computes the logits itself.
 * @param bias      the lane's bias values, from `warp_load_bias` (kept across tokens)
 * @param p         options and outputs (see `warp_store_row`)
 * @param shared_id E + token mod NS (`shared_slot_id`), when the shared slot is used
 * @param storage   this warp's shared memory for `warp_topk`
 * @param write     false: route, but store nothing (see `warp_store_row`)
 */
template <class Config>
__device__ __forceinline__ void warp_route_token(const float (&x)[Config::experts_per_lane],
                                                 const float (&bias)[Config::experts_per_lane], int lane,
                                                 const route_params& p, std::int64_t token, int shared_id,
                                                 warp_topk_storage& storage, bool write = true)
{
  constexpr int V = Config::experts_per_lane;
  float score[V];
  std::uint32_t key[V];
  warp_score<Config>(x, bias, lane, score, key);
  const bool short_chain = p.num_tokens <= warp_topk_short_chain_tokens;
  const bool match_ties = p.num_tokens >= warp_match_ties_tokens;
  lane_candidates candidates = lane_best_two<V>(key);
  warp_select_groups<Config>(lane, candidates);
  const warp_topk_result result = warp_topk<Config>(key, score, lane, candidates, storage, short_chain, match_ties);
  warp_store_row<Config>(result, lane, p, token, shared_id, write);
}

/**
 * @brief Route token `token` whose logits the warp holds in `fragment` and store its row.
 * @param bias      the lane's bias values, from `warp_load_bias` (kept across tokens)
 * @param p         options and outputs (see `warp_store_row`)
 * @param shared_id E + token mod NS, when the shared slot is used
 * @param storage   this warp's shared memory for `warp_topk`
 * @param write     false: route, but store nothing (see `warp_store_row`)
 */
template <class Config>
__device__ __forceinline__ void warp_route_token(const logit_fragment<Config>& fragment,
                                                 const float (&bias)[Config::experts_per_lane], int lane,
                                                 const route_params& p, std::int64_t token, int shared_id,
                                                 warp_topk_storage& storage, bool write = true)
{
  float x[Config::experts_per_lane];
  fragment_to_float<Config>(fragment, x);
  warp_route_token<Config>(x, bias, lane, p, token, shared_id, storage, write);
}

/// Load row `token` of `p.logits` and route it (for kernels that do not prefetch).
template <class Config>
__device__ __forceinline__ void warp_route_token(const float (&bias)[Config::experts_per_lane], int lane,
                                                 const route_params& p, std::int64_t token, int shared_id,
                                                 warp_topk_storage& storage, bool write = true)
{
  logit_fragment<Config> fragment;
  warp_load_logits<Config>(static_cast<const typename Config::logit_type*>(p.logits) + token * p.stride(), lane,
                           fragment);
  warp_route_token<Config>(fragment, bias, lane, p, token, shared_id, storage, write);
}

}  // namespace moe_router
