/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file kernel_loop.cuh
 * @brief What the persistent fused kernels share around their token loop: the wait on the
 * previous kernel (programmatic dependent launch), the padding count, and the shared slot's id.
 */

#include <moe_router/types.hpp>

#include <cstdint>

namespace moe_router {
namespace detail {

/// Warp schedulers of an SM (Hopper, and every SM since Volta); a resident warp issues from one
/// of them. Each warp of the persistent kernels routes the same share of the tokens, so their
/// resident warps per SM are kept a multiple of this.
constexpr int schedulers_per_sm = 4;

/**
 * @brief Programmatic dependent launch: wait until everything the kernel before us wrote is
 * visible, then let the kernel after us start launching. Both are no-ops when the launch did
 * not ask for it (and on architectures before sm_90).
 */
__device__ __forceinline__ void wait_for_previous_kernel()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}

/// Rows at or past this are padding: `*p.num_valid_tokens` clamped to [0, num_tokens], or all
/// rows without a padding count.
__device__ __forceinline__ std::int64_t valid_token_count(const route_params& p)
{
  const std::int64_t num_tokens = p.num_tokens;
  if (p.num_valid_tokens == nullptr) return num_tokens;
  const std::int64_t count = *p.num_valid_tokens;
  return count < 0 ? 0 : (count < num_tokens ? count : num_tokens);
}

/**
 * @brief The shared slot's id E + t mod NS of a token index t that walks `first`, `first +
 * step`, ..., kept incrementally: no division per token (first and step are below 2^31, so
 * 32-bit remainders do). Meaningful only with a shared slot.
 */
struct shared_slot_cursor {
  unsigned num_shared;
  unsigned offset = 0;  ///< t mod NS
  unsigned step = 0;    ///< step mod NS

  __device__ __forceinline__ shared_slot_cursor(const route_params& p, std::int64_t first, std::int64_t step_tokens)
      : num_shared(static_cast<unsigned>(p.num_shared_experts))
  {
    // One shared expert (DeepSeek's) needs no remainder: two integer divisions are a good part
    // of the prologue of a warp that routes a single token.
    if (p.num_shared_slots == 1 && num_shared > 1) {
      offset = static_cast<unsigned>(first) % num_shared;
      step = static_cast<unsigned>(step_tokens) % num_shared;
    }
  }
  /// E + t mod NS for the current t.
  __device__ __forceinline__ int id(int num_experts) const { return num_experts + static_cast<int>(offset); }
  /// t += step.
  __device__ __forceinline__ void advance()
  {
    offset += step;
    if (offset >= num_shared) offset -= num_shared;
  }
};

}  // namespace detail
}  // namespace moe_router
