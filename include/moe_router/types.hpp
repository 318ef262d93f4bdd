/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file types.hpp
 * @brief The run-time description of one routing call: enums and `route_params`.
 *
 * Plain C++ (no CUDA header needed), so that the host reference and code that only
 * fills parameters compile with any C++17 compiler.
 */

#include <moe_router/detail/host_device.hpp>

#include <cstdint>

namespace moe_router {

/// How a logit becomes a score `s[e]` (step 1 of the contract, docs/semantics.md).
enum class scoring_func : int {
  sigmoid,      ///< `1 / (1 + exp(-x))` (DeepSeek-V3, Kimi-K2, GLM-4.5, Llama-4)
  softmax,      ///< `exp(x - max) / sum(exp(x - max))` over the whole row (Qwen3, Mixtral)
  sqrtsoftplus  ///< `sqrt(softplus(x))` (DeepSeek-V4)
};

/// How a group of experts is scored when `num_groups > 1` (step 3).
enum class group_score_kind : int {
  top2_sum,  ///< sum of the two largest choice scores of the group (noaux_tc, DeepSeek-V3)
  max        ///< the largest choice score of the group (DeepSeek-V2)
};

/// Element type of the logits and of the bias.
enum class data_type : int {
  f32,   ///< float
  bf16,  ///< bfloat16 (`__nv_bfloat16` on the device)
  f16    ///< IEEE half (`__half` on the device); logits only
};

/// Element type of the output ids.
enum class index_type : int { i32, i64 };

/// Size in bytes of one element of `t`.
MOE_ROUTER_HD constexpr int size_of(data_type t) { return t == data_type::f32 ? 4 : 2; }
/// Size in bytes of one element of `t`.
MOE_ROUTER_HD constexpr int size_of(index_type t) { return t == index_type::i32 ? 4 : 8; }

/// Printable name of an enum value ("sigmoid", "bf16", ...; "unknown" for a value out of range).
constexpr const char* to_string(scoring_func f)
{
  return f == scoring_func::sigmoid        ? "sigmoid"
         : f == scoring_func::softmax      ? "softmax"
         : f == scoring_func::sqrtsoftplus ? "sqrtsoftplus"
                                           : "unknown";
}
/// @copydoc to_string(scoring_func)
constexpr const char* to_string(group_score_kind g)
{
  return g == group_score_kind::top2_sum ? "top2_sum" : g == group_score_kind::max ? "max" : "unknown";
}
/// @copydoc to_string(scoring_func)
constexpr const char* to_string(data_type t)
{
  return t == data_type::f32 ? "f32" : t == data_type::bf16 ? "bf16" : t == data_type::f16 ? "f16" : "unknown";
}
/// @copydoc to_string(scoring_func)
constexpr const char* to_string(index_type t)
{
  return t == index_type::i32 ? "i32" : t == index_type::i64 ? "i64" : "unknown";
}

/**
 * @brief Everything one routing call needs: shape, options, inputs and outputs.
 *
 * Every kernel of the library (fused, reference, host reference) takes this struct. Pointers
 * are device pointers for the device entry points and host pointers for the host reference.
 * Shapes below: `T = num_tokens`, `E = num_experts`, `K = topk`, `S = num_shared_slots`.
 */
struct route_params {
  // ---- shape -------------------------------------------------------------------------------
  int num_experts = 0;  ///< E: routed experts, numbered 0..E-1
  int num_groups  = 1;  ///< G: groups of E/G consecutive experts; 1 = no grouping
  int topk_group  = 1;  ///< TG: groups kept, 1 <= TG <= G
  int topk        = 0;  ///< K: experts routed per token, 1 <= K <= TG*E/G
  scoring_func scoring         = scoring_func::sigmoid;    ///< score function
  group_score_kind group_score = group_score_kind::top2_sum;  ///< group score (G > 1 only)

  // ---- inputs ------------------------------------------------------------------------------
  /// dim: [T, row_stride], dtype: `logits_type`; required when T > 0.
  const void* logits     = nullptr;
  data_type logits_type  = data_type::f32;  ///< f32, bf16 or f16
  std::int64_t row_stride = 0;              ///< elements between rows; 0 means E; else >= E
  std::int64_t num_tokens = 0;              ///< T: rows of logits and of the outputs, >= 0

  /// dim: [E], dtype: `bias_type`; optional (null = no bias). Added to the score to choose only.
  const void* bias     = nullptr;
  data_type bias_type  = data_type::f32;  ///< f32 or bf16

  /// dim: [E], int32; optional. Logical to physical id of each routed expert (EPLB).
  const std::int32_t* expert_map = nullptr;
  /// dim: [1], int32, read on the device; optional. Rows at or past `*num_valid_tokens` are
  /// padding (ids -1, weights 0). Lets a captured CUDA graph replay with a new count. An int32
  /// count: with it, rows from 2^31 - 1 on are always padding.
  const std::int32_t* num_valid_tokens = nullptr;

  // ---- options (run time) ------------------------------------------------------------------
  bool renormalize            = true;   ///< divide routed weights by their sum
  bool scale_output           = false;  ///< multiply routed weights by routed_scaling_factor
  float routed_scaling_factor = 1.0f;   ///< finite, > 0
  int num_shared_slots        = 0;      ///< S: 0 or 1 fused shared-expert slot after the routed ones
  int num_shared_experts      = 1;      ///< NS >= 1: the slot's id is E + (t mod NS)

  // ---- outputs -----------------------------------------------------------------------------
  /// dim: [T, K + S], fp32, rows contiguous; required when T > 0. Every slot is written.
  float* weights = nullptr;
  /// dim: [T, K + S], dtype: `ids_type`, rows contiguous; required when T > 0.
  void* ids            = nullptr;
  index_type ids_type  = index_type::i32;

  /// Slots per output row, K + S.
  MOE_ROUTER_HD constexpr int slots() const { return topk + num_shared_slots; }
  /// Row stride of the logits in elements (resolves 0 to E).
  MOE_ROUTER_HD constexpr std::int64_t stride() const { return row_stride == 0 ? num_experts : row_stride; }
};

}  // namespace moe_router
