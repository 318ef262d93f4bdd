/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file fused_route_kernel.cuh
 * @brief The fused routing kernel: one launch, one warp (or half-warp) per token, persistent
 * over the tokens.
 *
 * Each warp loads the bias once, then walks its tokens with a stride of the whole grid and
 * loads the next token's logits before it routes the current one, so that a load is always in
 * flight behind the arithmetic. Routing itself is `warp_route_token`, the call a user's kernel
 * makes; with 16 lanes per token (two tokens per warp) a half whose token has no row to store
 * routes without storing.
 */

#include <moe_router/config.cuh>
#include <moe_router/detail/kernel_loop.cuh>
#include <moe_router/types.hpp>
#include <moe_router/warp/warp_epilogue.cuh>
#include <moe_router/warp/warp_load_logits.cuh>
#include <moe_router/warp/warp_route_token.cuh>
#include <moe_router/warp/warp_score.cuh>

#include <cstdint>

namespace moe_router {

/// Warps (tokens in flight) per block of the fused kernel.
constexpr int fused_warps_per_block = 4;
/// Threads per block of the fused kernel.
constexpr int fused_block_threads = fused_warps_per_block * warp_lanes;

/// The fused kernel of `Config`. `p` was validated by the launcher (`route_fused`).
template <class Config>
__global__ void __launch_bounds__(fused_block_threads) fused_route_kernel(const route_params p)
{
  constexpr int V = Config::experts_per_lane;
  constexpr int tokens_per_warp = warp_lanes / Config::token_lanes;
  using logit_type = typename Config::logit_type;
  const int lane = static_cast<int>(threadIdx.x) % warp_lanes;
  const int warp = static_cast<int>(threadIdx.x) / warp_lanes;
  const int token_slot = lane / Config::token_lanes;  // which of the warp's tokens this lane routes
  __shared__ warp_topk_storage storage[fused_warps_per_block * tokens_per_warp];
  warp_topk_storage& token_storage = storage[warp * tokens_per_warp + token_slot];
  // Warp w of block b routes tokens (b*W + w)*T + s, then every `step` tokens after them.
  const std::int64_t warp_first =
    (static_cast<std::int64_t>(blockIdx.x) * fused_warps_per_block + warp) * tokens_per_warp;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * fused_warps_per_block * tokens_per_warp;
  const std::int64_t first = warp_first + token_slot;

  // Everything below may be written by the kernel before us.
  detail::wait_for_previous_kernel();

  // Start the first token's load before anything else: the padding count, the bias and the
  // shared-slot arithmetic below all overlap it (a padding row's logits are read and ignored).
  const logit_type* logits = static_cast<const logit_type*>(p.logits);
  const std::int64_t stride = p.stride();
  const std::int64_t num_tokens = p.num_tokens;
  logit_fragment<Config> next{};
  if (first < num_tokens) warp_load_logits<Config>(logits + first * stride, lane, next);

  float bias[V];
  warp_load_bias<Config>(static_cast<const typename Config::bias_type*>(p.bias), lane, bias);
  const std::int64_t num_valid = detail::valid_token_count(p);
  detail::shared_slot_cursor shared_slot(p, first, step);

  if constexpr (tokens_per_warp == 1) {
    for (std::int64_t t = first; t < num_tokens; t += step) {
      const logit_fragment<Config> current = next;
      if (t + step < num_valid) warp_load_logits<Config>(logits + (t + step) * stride, lane, next);
      if (t < num_valid)
        warp_route_token<Config>(current, bias, lane, p, t, shared_slot.id(Config::num_experts), token_storage);
      else
        warp_store_padding_row<Config>(lane, p, t);
      shared_slot.advance();
    }
  } else {
    // Two tokens per warp. The pieces are warp collectives, so both halves run every step of
    // every round, and a half whose token is a padding row or past the end routes whatever its
    // registers hold without storing it.
    for (std::int64_t base = warp_first; base < num_tokens; base += step) {
      const std::int64_t t = base + token_slot;
      const logit_fragment<Config> current = next;
      if (t + step < num_valid) warp_load_logits<Config>(logits + (t + step) * stride, lane, next);
      warp_route_token<Config>(current, bias, lane, p, t, shared_slot.id(Config::num_experts), token_storage,
                               t < num_valid);
      if (t >= num_valid && t < num_tokens) warp_store_padding_row<Config>(lane, p, t);
      shared_slot.advance();
    }
  }
}

}  // namespace moe_router
