/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file token_lanes.cuh
 * @brief The lanes of one token: a whole warp (`Config::token_lanes == 32`), half of one (16:
 * two tokens per warp, lanes 0-15 and 16-31) or a quarter (8: four tokens per warp, the tiled
 * kernel). Reductions, ballots and shuffles over a token's lanes only; every one is still a
 * warp collective (all 32 lanes call it, converged).
 *
 * With 32 lanes these are the plain warp intrinsics (`__reduce_max_sync` and friends); with 16
 * or 8, xor butterflies and shuffles of that width, which never cross from one token to the
 * next.
 */

#include <moe_router/config.cuh>

#include <cstdint>

// The warp pieces reduce with __reduce_max_sync and friends, which sm_80 brought; without this
// check an older target fails with "identifier __reduce_max_sync is undefined".
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#error "moe_router's fused kernels and device pieces need sm_80 or later: build for a newer \
architecture (CMAKE_CUDA_ARCHITECTURES, nvcc -arch); route_reference and host_route run on any"
#endif

namespace moe_router {

/// The warp's member mask (all lanes).
constexpr unsigned full_warp_mask = 0xffffffffu;

/// The lane's index within its token's lanes (0 .. token_lanes-1).
template <class Config>
__device__ __forceinline__ int token_lane(int lane)
{
  return lane % Config::token_lanes;
}

/// Largest `v` over the token's lanes.
template <class Config>
__device__ __forceinline__ std::uint32_t token_max(std::uint32_t v)
{
  if constexpr (Config::token_lanes == 32) {
    return __reduce_max_sync(full_warp_mask, v);
  } else {
#pragma unroll
    for (int offset = Config::token_lanes / 2; offset >= 1; offset /= 2)
      v = max(v, __shfl_xor_sync(full_warp_mask, v, offset));
    return v;
  }
}

/// Smallest `v` over the token's lanes.
template <class Config>
__device__ __forceinline__ std::uint32_t token_min(std::uint32_t v)
{
  if constexpr (Config::token_lanes == 32) {
    return __reduce_min_sync(full_warp_mask, v);
  } else {
#pragma unroll
    for (int offset = Config::token_lanes / 2; offset >= 1; offset /= 2)
      v = min(v, __shfl_xor_sync(full_warp_mask, v, offset));
    return v;
  }
}

/// `predicate` of the token's lanes, bit i = token lane i.
template <class Config>
__device__ __forceinline__ unsigned token_ballot(int lane, bool predicate)
{
  const unsigned all = __ballot_sync(full_warp_mask, predicate);
  if constexpr (Config::token_lanes == 32) {
    return all;
  } else {
    return (all >> (lane & ~(Config::token_lanes - 1))) & ((1u << Config::token_lanes) - 1u);
  }
}

/// The token's lanes (bit l: token lane l) whose `v` equals the calling lane's.
template <class Config>
__device__ __forceinline__ unsigned token_match_any(int lane, std::uint32_t v)
{
  const unsigned all = __match_any_sync(full_warp_mask, v);
  if constexpr (Config::token_lanes == 32) {
    return all;
  } else {
    return (all >> (lane & ~(Config::token_lanes - 1))) & ((1u << Config::token_lanes) - 1u);
  }
}

/// `v` of token lane `source` of the calling lane's token.
template <class Config, class T>
__device__ __forceinline__ T token_shfl(T v, int source)
{
  return __shfl_sync(full_warp_mask, v, source, Config::token_lanes);
}

}  // namespace moe_router
