/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file reference_row.hpp
 * @brief The contract for one token, written as plainly as possible.
 *
 * One thread routes one row with sequential loops and no tricks: this is the code everyone
 * trusts. The host reference runs it on the CPU and the reference kernel runs it on the GPU
 * (one thread per token), so both read the same statement of the contract. It shares with the
 * fused kernel only numeric.hpp (conversions, score functions, summation order); the ordering
 * below is written with float comparisons, independently of `order_key`.
 */

#include <moe_router/detail/host_device.hpp>
#include <moe_router/numeric.hpp>
#include <moe_router/types.hpp>

#include <cstdint>

namespace moe_router {
namespace reference {

/// Scratch one row needs: `scores` and `group_scores` of E floats, `state` of E bytes.
struct row_scratch {
  float* scores;
  float* group_scores;
  unsigned char* state;
};

/// Bytes of scratch `reference_route_row` needs for E experts.
MOE_ROUTER_HD constexpr std::int64_t row_scratch_bytes(int num_experts)
{
  return 9 * static_cast<std::int64_t>(num_experts);
}

/// Carve a `row_scratch` out of a buffer of `row_scratch_bytes(E)` bytes, 4-byte aligned.
MOE_ROUTER_HD row_scratch make_row_scratch(void* buffer, int num_experts)
{
  float* f = static_cast<float*>(buffer);
  return row_scratch{f, f + num_experts, reinterpret_cast<unsigned char*>(f + 2 * num_experts)};
}

/// True when (a, index ia) ranks before (b, index ib): larger first, NaN last, lower index on ties.
MOE_ROUTER_HD bool ranks_before(float a, int ia, float b, int ib)
{
  const bool a_nan = a != a, b_nan = b != b;
  if (a_nan || b_nan) return (a_nan && b_nan) ? ia < ib : b_nan;
  if (a != b) return a > b;  // -0.0 == +0.0 by IEEE comparison
  return ia < ib;
}

/// Write one id of either index type.
MOE_ROUTER_HD void store_id(void* ids, index_type type, std::int64_t index, std::int64_t value)
{
  if (type == index_type::i32)
    static_cast<std::int32_t*>(ids)[index] = static_cast<std::int32_t>(value);
  else
    static_cast<std::int64_t*>(ids)[index] = value;
}

enum : unsigned char { candidate = 0, out_of_kept_groups = 1, chosen = 2 };

/// Largest supported K of the reference paths (see validate.hpp's `reference_limits`).
constexpr int max_reference_topk = 64;

/**
 * @brief Route row `t` of `p` (steps 1-10 of docs/semantics.md).
 * @param num_valid rows at or past it are padding
 * @param scratch   `row_scratch_bytes(E)` bytes private to this call
 */
MOE_ROUTER_HD void reference_route_row(const route_params& p, std::int64_t t, std::int64_t num_valid,
                                       row_scratch scratch)
{
  const int E = p.num_experts, G = p.num_groups, K = p.topk, slots = p.slots();
  const int group_size = E / G;
  const std::int64_t out = t * slots;

  // 10. padding rows
  if (t >= num_valid) {
    for (int k = 0; k < slots; ++k) {
      p.weights[out + k] = 0.0f;
      store_id(p.ids, p.ids_type, out + k, -1);
    }
    return;
  }

  // 1. scores s[e]
  float* s = scratch.scores;
  const std::int64_t row = t * p.stride();
  if (p.scoring == scoring_func::softmax) {
    std::uint32_t max_key = excluded_key;
    for (int e = 0; e < E; ++e) {
      const std::uint32_t key = order_key(load_as_float(p.logits, p.logits_type, row + e));
      if (key > max_key) max_key = key;
    }
    const float row_max = key_value(max_key);
    for (int e = 0; e < E; ++e) s[e] = softmax_numerator(load_as_float(p.logits, p.logits_type, row + e), row_max);
    const float denominator = canonical_sum(s, E);
    for (int e = 0; e < E; ++e) s[e] = s[e] / denominator;
  } else {
    for (int e = 0; e < E; ++e) s[e] = elementwise_score(p.scoring, load_as_float(p.logits, p.logits_type, row + e));
  }

  // 2. choice scores b[e] = s[e] + bias[e], kept in place of nothing: computed when compared
  auto choice = [&](int e) { return p.bias ? add_rn(s[e], load_as_float(p.bias, p.bias_type, e)) : s[e]; };

  // 3. group scores and kept groups
  unsigned char* state = scratch.state;
  for (int e = 0; e < E; ++e) state[e] = candidate;
  if (G > 1) {
    float* group_score = scratch.group_scores;
    for (int g = 0; g < G; ++g) {
      const int first = g * group_size;
      int best = first;
      for (int e = first + 1; e < first + group_size; ++e)
        if (ranks_before(choice(e), e, choice(best), best)) best = e;
      float score = choice(best);
      if (p.group_score == group_score_kind::top2_sum) {
        int second = -1;
        for (int e = first; e < first + group_size; ++e)
          if (e != best && (second < 0 || ranks_before(choice(e), e, choice(second), second))) second = e;
        score = add_rn(score, choice(second));
      }
      group_score[g] = score;
    }
    for (int g = 0; g < G; ++g) {
      int rank = 0;
      for (int h = 0; h < G; ++h)
        if (ranks_before(group_score[h], h, group_score[g], g)) ++rank;
      if (rank >= p.topk_group)
        for (int e = g * group_size; e < (g + 1) * group_size; ++e) state[e] = out_of_kept_groups;
    }
  }

  // 4. the K best candidates, in rank order
  int id[max_reference_topk];
  for (int k = 0; k < K; ++k) {
    int best = -1;
    for (int e = 0; e < E; ++e)
      if (state[e] == candidate && (best < 0 || ranks_before(choice(e), e, choice(best), best))) best = e;
    id[k] = best;
    state[best] = chosen;
  }

  // 5-7. weights from the unbiased scores, renormalized, scaled
  float w[max_reference_topk];
  for (int k = 0; k < K; ++k) w[k] = s[id[k]];
  if (p.renormalize) {
    float sum = 0.0f;
    for (int k = 0; k < K; ++k) sum = add_rn(sum, w[k]);
    const float divisor = sum == 0.0f ? 1.0f : sum;
    for (int k = 0; k < K; ++k) w[k] = w[k] / divisor;
  }
  if (p.scale_output)
    for (int k = 0; k < K; ++k) w[k] = mul_rn(w[k], p.routed_scaling_factor);

  // 8-9. write, mapping routed ids; the shared slot after them
  for (int k = 0; k < K; ++k) {
    p.weights[out + k] = w[k];
    store_id(p.ids, p.ids_type, out + k, p.expert_map ? p.expert_map[id[k]] : id[k]);
  }
  if (p.num_shared_slots == 1) {
    float sum = 0.0f;
    for (int k = 0; k < K; ++k) sum = add_rn(sum, w[k]);
    p.weights[out + K] = sum / p.routed_scaling_factor;
    store_id(p.ids, p.ids_type, out + K, E + t % p.num_shared_experts);
  }
}

}  // namespace reference
}  // namespace moe_router
