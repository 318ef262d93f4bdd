/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

// The cases of the screening tests (screening_test.cu, screening_paths_test.cu): the options
// they run with, rows built to defeat the screen, and the shapes only they compile.

#include "gpu/fused_test_common.cuh"

#include <moe_router/config.cuh>
#include <moe_router/screening.cuh>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace moe_router {
namespace test {

/// The options of the screened cases below (DeepSeek-V3's as vLLM runs it): renormalize,
/// scale_output with 2.5, one shared slot; `tokens` rows, made by the case itself.
template <class Config>
case_desc screened_desc(const char* label, std::int64_t tokens)
{
  case_desc d = config_desc<Config>(label);
  d.num_tokens = tokens;
  d.renormalize = true;
  d.scale_output = true;
  d.routed_scaling_factor = 2.5f;
  d.num_shared_slots = 1;
  return d;
}

/**
 * @brief A case of `Config` (fp32 logits and bias) whose rows defeat the screen. The bias is
 * random; in each row the scores are set so that the choice keys s + b of some experts (every
 * expert in the rows of a third of the warps, twelve or 26 in the others, the rest well below)
 * sit at one value c plus a jitter of 0 to 8 steps of half `screen_score_error`, a few times
 * the screen's uncertainty. 26 near ties are meant to give more than 16 candidates, so that all four of
 * `tile_topk`'s steps run (not counted by the test).
 */
template <class Config>
test_case near_tie_case(std::int64_t tokens, std::uint64_t seed)
{
  static_assert(Config::logits_data_type == data_type::f32 && Config::bias_data_type == data_type::f32,
                "near ties need fp32 logits and bias");
  test_case c = make_case(screened_desc<Config>("near ties", tokens), seed);
  test_rng rng(derive_seed(seed, 2));
  const int E = Config::num_experts;
  std::vector<float> bias(static_cast<std::size_t>(E));
  for (float& b : bias) b = static_cast<float>(rng.uniform(-0.3, 0.3));
  std::memcpy(c.bias.data(), bias.data(), bias.size() * sizeof(float));
  std::vector<float> row(static_cast<std::size_t>(E));
  for (std::int64_t t = 0; t < tokens; ++t) {
    const double level = rng.uniform(0.4, 0.6);
    // The kind goes by the warp's four tokens, not by token: a warp with one whole-row token
    // (more than 32 candidates) scores all four exactly, and the screened choice would never
    // be tested.
    const std::int64_t kind = (t / 4) % 3;
    const bool whole_row = kind == 0;
    for (int e = 0; e < E; ++e) row[static_cast<std::size_t>(e)] = -1.0f;  // marks "not near the tie"
    for (int n = 0; n < (whole_row ? E : (kind == 1 ? 12 : 26)); ++n) {
      const int e = whole_row ? n : static_cast<int>(rng.below(E));
      const double score = level - bias[static_cast<std::size_t>(e)] + static_cast<double>(rng.below(9)) * (screen_score_error / 2);
      row[static_cast<std::size_t>(e)] = static_cast<float>(std::log(score / (1.0 - score)));
    }
    for (int e = 0; e < E; ++e) {
      if (row[static_cast<std::size_t>(e)] != -1.0f) continue;
      const double score = std::max(0.01, level - bias[static_cast<std::size_t>(e)] - rng.uniform(0.02, 0.3));
      row[static_cast<std::size_t>(e)] = static_cast<float>(std::log(score / (1.0 - score)));
    }
    std::memcpy(c.logits.data() + static_cast<std::size_t>(t * E) * sizeof(float), row.data(), row.size() * sizeof(float));
  }
  return c;
}

/**
 * @brief The near ties of `near_tie_case` for 2-byte logits (and an fp32 bias). A bf16 or fp16
 * logit cannot put a score within the screen's error of a chosen value, so the bias does: each
 * expert e gets a logit x_e of the logit type (random in [-2, 2]) and the bias b_e = c + j_e
 * steps of half `screen_score_error` - sigmoid(x_e), j_e in 0..8, so that whenever a row gives
 * e the logit x_e its choice key is c within a rounding plus the jitter. A row gives it to every
 * expert (a third of the warps), or to 12 or 26 of them and to the others a logit that puts
 * their key 0.05 to 0.35 lower. With groups the near-tie experts fall in one to TG + 1 groups,
 * so that the group scores are near ties too, at times where the kept groups end.
 */
template <class Config>
test_case near_tie_16_bit_case(std::int64_t tokens, std::uint64_t seed)
{
  static_assert(sizeof(typename Config::logit_type) == 2 && Config::bias_data_type == data_type::f32,
                "2-byte logits, an fp32 bias");
  test_case c = make_case(screened_desc<Config>("near ties, 2-byte logits", tokens), seed);
  const data_type type = Config::logits_data_type;
  test_rng rng(derive_seed(seed, 2));
  const int E = Config::num_experts;
  constexpr double level = 0.55;  // c
  std::vector<float> tie_logit(static_cast<std::size_t>(E)), bias(static_cast<std::size_t>(E));
  for (int e = 0; e < E; ++e) {
    const float x = round_to(type, static_cast<float>(rng.uniform(-2.0, 2.0)));
    tie_logit[static_cast<std::size_t>(e)] = x;
    bias[static_cast<std::size_t>(e)] = static_cast<float>(
      level + static_cast<double>(rng.below(9)) * (screen_score_error / 2) - static_cast<double>(sigmoid_score(x)));
  }
  std::memcpy(c.bias.data(), bias.data(), bias.size() * sizeof(float));
  const int group_size = E / Config::num_groups;
  std::vector<char> tied(static_cast<std::size_t>(E));
  for (std::int64_t t = 0; t < tokens; ++t) {
    const std::int64_t kind = (t / 4) % 3;  // by the warp's four tokens, as in near_tie_case
    std::fill(tied.begin(), tied.end(), kind == 0 ? 1 : 0);
    if (kind != 0) {
      // 1 to TG + 1 groups: with TG + 1 the kept groups are decided by near ties too.
      const int most_groups = Config::num_groups < Config::topk_group + 1 ? Config::num_groups : Config::topk_group + 1;
      const int groups = 1 + static_cast<int>(rng.below(static_cast<std::uint64_t>(most_groups)));
      const int first_group = static_cast<int>(rng.below(static_cast<std::uint64_t>(Config::num_groups)));
      for (int n = 0; n < (kind == 1 ? 12 : 26); ++n) {
        const int g = (first_group + n % groups) % Config::num_groups;
        const int e = g * group_size + static_cast<int>(rng.below(static_cast<std::uint64_t>(group_size)));
        tied[static_cast<std::size_t>(e)] = 1;
      }
    }
    for (int e = 0; e < E; ++e) {
      float x = tie_logit[static_cast<std::size_t>(e)];
      if (!tied[static_cast<std::size_t>(e)]) {
        // a score 0.05 to 0.35 below the tie's (at least 0.001)
        const double score = std::max(0.001, static_cast<double>(sigmoid_score(x)) - rng.uniform(0.05, 0.35));
        x = static_cast<float>(std::log(score / (1.0 - score)));
      }
      store_as(c.logits, type, t * E + e, x);
    }
  }
  return c;
}

/// Kimi-K2's experts in DeepSeek-V3's 8 groups (keep 4): a screened shape with groups.
using grouped_384_config = route_config<384, 8, 4, 8>;
/// DeepSeek-V3's shape with groups scored by their largest choice key: the screened group proof's
/// max case (one bound a group instead of the sum of two).
using grouped_max_config = route_config<256, 8, 4, 8, scoring_func::sigmoid, group_score_kind::max>;
/// Two groups of 128 experts, four tiled lanes each, keep one: the group merge over four lanes,
/// and a floor from K rounds (2 * TG < K).
using two_groups_config = route_config<256, 2, 1, 8>;

}  // namespace test
}  // namespace moe_router
