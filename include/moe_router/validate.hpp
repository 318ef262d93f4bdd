/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file validate.hpp
 * @brief The checks every entry point runs before it launches or writes anything.
 *
 * Plain C++. `validate_params` returns false and records a readable reason
 * (`last_error_message()`) for the first problem it finds, and clears it when it finds none;
 * the device entry points turn a failure into `cudaErrorInvalidValue`.
 */

#include <moe_router/error.hpp>
#include <moe_router/types.hpp>

#include <cstdint>
#include <cstring>

namespace moe_router {

namespace detail {
/// Is `v` finite and > 0? Read from its bits: a host build with -ffast-math (or
/// -ffinite-math-only) may assume that no float is NaN or infinite and fold `std::isfinite` and
/// comparisons with NaN to constants, which would let a NaN or infinite factor through.
inline bool finite_and_positive(float v)
{
  std::uint32_t bits = 0;
  std::memcpy(&bits, &v, sizeof(bits));
  const bool negative = (bits >> 31) != 0;
  const bool zero = (bits << 1) == 0;
  const bool inf_or_nan = (bits & 0x7f800000u) == 0x7f800000u;
  return !negative && !zero && !inf_or_nan;
}
}  // namespace detail

/// The largest shape a code path can run; the reference paths' limits are `reference_limits`.
struct route_limits {
  int max_experts;  ///< largest E
  int max_topk;     ///< largest K
};

/// Limits of the runtime-shaped reference kernel and of the host reference.
constexpr route_limits reference_limits{4096, 64};

/**
 * @brief Check shape, options and pointers of `p` against the contract and `limits`.
 * @return true when `p` may be run; otherwise false, with the reason in `last_error_message()`.
 *
 * Pointers are checked only when `num_tokens > 0`: an empty call may pass null everywhere
 * (empty tensors often have null data pointers).
 */
inline bool validate_params(const route_params& p, const route_limits& limits = reference_limits)
{
  using detail::fail;
  detail::clear_error();  // a call that succeeds leaves no reason behind
  const int E = p.num_experts, G = p.num_groups, TG = p.topk_group, K = p.topk;
  if (E < 1) return fail("num_experts must be >= 1 (got %d)", E);
  if (E > limits.max_experts)
    return fail("num_experts %d is larger than this path supports (%d)", E, limits.max_experts);
  if (G < 1) return fail("num_groups must be >= 1 (got %d)", G);
  if (E % G != 0) return fail("num_experts (%d) must be a multiple of num_groups (%d)", E, G);
  if (TG < 1 || TG > G) return fail("topk_group must be in [1, num_groups=%d] (got %d)", G, TG);
  if (K < 1) return fail("topk must be >= 1 (got %d)", K);
  if (K > TG * (E / G))
    return fail("topk (%d) must be <= topk_group * experts per group (%d * %d = %d)", K, TG, E / G,
                TG * (E / G));
  if (K > limits.max_topk) return fail("topk %d is larger than this path supports (%d)", K, limits.max_topk);
  if (G > 1 && p.group_score == group_score_kind::top2_sum && E / G < 2)
    return fail("the top2_sum group score needs at least 2 experts per group (num_experts %d / num_groups %d = %d)",
                E, G, E / G);
  if (p.scoring != scoring_func::sigmoid && p.scoring != scoring_func::softmax &&
      p.scoring != scoring_func::sqrtsoftplus)
    return fail("unknown scoring function (%d)", static_cast<int>(p.scoring));
  if (p.group_score != group_score_kind::top2_sum && p.group_score != group_score_kind::max)
    return fail("unknown group_score (%d): must be top2_sum or max", static_cast<int>(p.group_score));
  if (p.logits_type != data_type::f32 && p.logits_type != data_type::bf16 && p.logits_type != data_type::f16)
    return fail("logits_type must be f32, bf16 or f16 (got %d)", static_cast<int>(p.logits_type));
  // Like every enum field, bias_type must hold one of its values; f16, which no kernel reads a
  // bias as, only when there is a bias (as `route_config::matches` ignores it without one).
  if (p.bias_type != data_type::f32 && p.bias_type != data_type::bf16 &&
      (p.bias != nullptr || p.bias_type != data_type::f16))
    return fail("bias_type must be f32 or bf16 (got %s, %d)", to_string(p.bias_type), static_cast<int>(p.bias_type));
  if (p.ids_type != index_type::i32 && p.ids_type != index_type::i64)
    return fail("ids_type must be i32 or i64 (got %d)", static_cast<int>(p.ids_type));
  if (p.row_stride != 0 && p.row_stride < E)
    return fail("row_stride (%lld) must be 0 (contiguous) or >= num_experts (%d)",
                static_cast<long long>(p.row_stride), E);
  if (p.num_tokens < 0) return fail("num_tokens must be >= 0 (got %lld)", static_cast<long long>(p.num_tokens));
  if (p.num_shared_slots != 0 && p.num_shared_slots != 1)
    return fail("num_shared_slots must be 0 or 1 (got %d)", p.num_shared_slots);
  if (p.num_shared_slots == 1 && p.num_shared_experts < 1)
    return fail("num_shared_experts must be >= 1 when the shared slot is used (got %d)", p.num_shared_experts);
  if (p.num_shared_slots == 1 && static_cast<std::int64_t>(E) + p.num_shared_experts - 1 > 2147483647)
    return fail("num_shared_experts (%d) is too large: the shared slot's ids E + t mod NS must fit in int32 (E = %d)",
                p.num_shared_experts, E);
  // Every offset the kernels compute (row * stride, row * slots, in elements and bytes) fits
  // in int64 with room to spare below this bound.
  {
    constexpr std::int64_t max_elements = std::int64_t{1} << 56;
    const std::int64_t stride = p.row_stride == 0 ? E : p.row_stride;
    const std::int64_t slots = static_cast<std::int64_t>(K) + 1;  // at most K + 1; in 64 bits for any limits
    const std::int64_t widest = stride > slots ? stride : slots;
    if (p.num_tokens > 0 && p.num_tokens > max_elements / widest)
      return fail("num_tokens (%lld) times the wider of the row stride and the K + 1 output slots (%lld) is too "
                  "large (more than 2^56 elements)",
                  static_cast<long long>(p.num_tokens), static_cast<long long>(widest));
  }
  if (!detail::finite_and_positive(p.routed_scaling_factor))
    return fail("routed_scaling_factor must be finite and > 0 (got %g)", static_cast<double>(p.routed_scaling_factor));
  if (p.num_tokens == 0) return true;
  if (p.logits == nullptr) return fail("logits is null");
  if (p.weights == nullptr) return fail("weights is null");
  if (p.ids == nullptr) return fail("ids is null");
  const std::uintptr_t logits_addr = reinterpret_cast<std::uintptr_t>(p.logits);
  if (logits_addr % static_cast<std::uintptr_t>(size_of(p.logits_type)) != 0)
    return fail("logits is not aligned to its element size (%d bytes)", size_of(p.logits_type));
  if (reinterpret_cast<std::uintptr_t>(p.weights) % 4 != 0) return fail("weights is not 4-byte aligned");
  if (reinterpret_cast<std::uintptr_t>(p.ids) % static_cast<std::uintptr_t>(size_of(p.ids_type)) != 0)
    return fail("ids is not aligned to its element size (%d bytes)", size_of(p.ids_type));
  if (p.bias != nullptr &&
      reinterpret_cast<std::uintptr_t>(p.bias) % static_cast<std::uintptr_t>(size_of(p.bias_type)) != 0)
    return fail("bias is not aligned to its element size (%d bytes)", size_of(p.bias_type));
  if (reinterpret_cast<std::uintptr_t>(p.expert_map) % 4 != 0) return fail("expert_map is not 4-byte aligned");
  if (reinterpret_cast<std::uintptr_t>(p.num_valid_tokens) % 4 != 0)
    return fail("num_valid_tokens is not 4-byte aligned");
  return true;
}

}  // namespace moe_router
