/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file warp_load_logits.cuh
 * @brief Per-warp load of one token's logits into the blocked layout (lane l holds experts
 * l*V .. l*V+V-1) and their conversion to fp32.
 *
 * The load and the conversion are separate steps so that a kernel can issue the load of the
 * next token before it routes the current one (the fragment is held raw, not converted, or the
 * conversion would wait for the load).
 */

#include <moe_router/config.cuh>
#include <moe_router/warp/token_lanes.cuh>

#include <cub/block/block_load.cuh>

#include <cstdint>
#include <type_traits>

namespace moe_router {

/**
 * @brief The raw logits one lane holds for one token.
 *
 * 2-byte logits are packed two to a 32-bit word when V is even, so that CUB's vectorized
 * blocked load can move 16 bytes per instruction (on 2-byte elements it would use 8).
 */
template <class Config>
struct logit_fragment {
  static constexpr int V = Config::experts_per_lane;
  using logit_type = typename Config::logit_type;
  static constexpr bool packed = sizeof(logit_type) == 2 && V % 2 == 0;
  using word_type = std::conditional_t<packed, std::uint32_t, logit_type>;
  static constexpr int words = packed ? V / 2 : V;
  /// Bytes of the widest load of a lane's words (CUB's choice: 4, 2 or 1 words at a time). The
  /// loader checks the row's alignment against it itself: CUB does so only since CCCL 3.0.
  static constexpr std::uintptr_t vector_bytes =
    sizeof(word_type) * (words % 4 == 0 ? 4 : words % 2 == 0 ? 2 : 1);
  word_type word[words];
};

/**
 * @brief Load row `row` (E logits) into the calling lane's fragment. All 32 lanes call it.
 * Vectorized when the row is aligned, element by element otherwise (never a fault); lanes
 * past the last expert load nothing.
 */
template <class Config>
__device__ __forceinline__ void warp_load_logits(const typename Config::logit_type* row, int lane,
                                                 logit_fragment<Config>& fragment)
{
  using fragment_t = logit_fragment<Config>;
  using logit_type = typename Config::logit_type;
  constexpr int V = Config::experts_per_lane;
  const int tl = token_lane<Config>(lane);
  if constexpr (!Config::full_lanes) {
    // E is not a multiple of the token's lanes: guarded element loads (only small or odd shapes
    // get here).
#pragma unroll
    for (int j = 0; j < fragment_t::words; ++j) fragment.word[j] = typename fragment_t::word_type{};
    if constexpr (fragment_t::packed) {
      const std::uint16_t* bits = reinterpret_cast<const std::uint16_t*>(row);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const int e = tl * V + j;
        const std::uint32_t v = e < Config::num_experts ? bits[e] : 0u;
        fragment.word[j / 2] |= v << (16 * (j % 2));
      }
    } else {
      cub::LoadDirectBlocked(tl, row, fragment.word, Config::num_experts);
    }
  } else if constexpr (fragment_t::packed) {
    if ((reinterpret_cast<std::uintptr_t>(row) & (fragment_t::vector_bytes - 1)) == 0) {
      cub::LoadDirectBlockedVectorized(tl, reinterpret_cast<std::uint32_t*>(const_cast<logit_type*>(row)),
                                       fragment.word);
    } else {
      const std::uint16_t* bits = reinterpret_cast<const std::uint16_t*>(row) + tl * V;
#pragma unroll
      for (int j = 0; j < fragment_t::words; ++j)
        fragment.word[j] =
          static_cast<std::uint32_t>(bits[2 * j]) | (static_cast<std::uint32_t>(bits[2 * j + 1]) << 16);
    }
  } else {
    if ((reinterpret_cast<std::uintptr_t>(row) & (fragment_t::vector_bytes - 1)) == 0)
      cub::LoadDirectBlockedVectorized(tl, const_cast<logit_type*>(row), fragment.word);
    else
      cub::LoadDirectBlocked(tl, row, fragment.word);
  }
}

/// Convert a fragment to fp32 (exact for every element type).
template <class Config>
__device__ __forceinline__ void fragment_to_float(const logit_fragment<Config>& fragment,
                                                  float (&x)[Config::experts_per_lane])
{
  using fragment_t = logit_fragment<Config>;
  using logit_type = typename Config::logit_type;
#pragma unroll
  for (int j = 0; j < Config::experts_per_lane; ++j) {
    if constexpr (fragment_t::packed) {
      const std::uint16_t bits = static_cast<std::uint16_t>(fragment.word[j / 2] >> (16 * (j % 2)));
      if constexpr (std::is_same<logit_type, __nv_bfloat16>::value)
        x[j] = __uint_as_float(static_cast<std::uint32_t>(bits) << 16);
      else
        x[j] = __half2float(__ushort_as_half(bits));
    } else {
      x[j] = detail::element_traits<logit_type>::to_float(fragment.word[j]);
    }
  }
}

}  // namespace moe_router
