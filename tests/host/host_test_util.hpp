/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

// Helpers of the host tests: float <-> bit patterns (the harness's, written independently of
// numeric.hpp), and a small runner that owns the output buffers of one host_route call.

#include "support/test_data.hpp"

#include <moe_router/reference/host_reference.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

namespace moe_router_test {

// The bit-pattern helpers of the GPU test harness (exhaustively checked by harness_test).
using moe_router::test::float_to_bf16_bits;
using moe_router::test::float_to_f16_bits;
inline std::uint32_t bits_of(float f) { return moe_router::test::float_bits(f); }
inline float float_of(std::uint32_t u) { return moe_router::test::bits_to_float(u); }

constexpr float nan_f = std::numeric_limits<float>::quiet_NaN();
constexpr float inf_f = std::numeric_limits<float>::infinity();

/// The float that `f` becomes as a bf16 / f16 value (computed from the helpers' bits).
inline float bf16_round(float f) { return float_of(static_cast<std::uint32_t>(float_to_bf16_bits(f)) << 16); }
inline float f16_round(float f)
{
  const std::uint16_t h = float_to_f16_bits(f);
  const int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (exponent == 31) return mantissa ? nan_f : static_cast<float>(sign) * inf_f;
  if (exponent == 0) return static_cast<float>(sign * std::ldexp(mantissa, -24));
  return static_cast<float>(sign * std::ldexp(1024 + mantissa, exponent - 25));
}

inline std::vector<std::uint16_t> to_bf16_bits(const std::vector<float>& v)
{
  std::vector<std::uint16_t> out;
  for (float f : v) out.push_back(float_to_bf16_bits(f));
  return out;
}
inline std::vector<std::uint16_t> to_f16_bits(const std::vector<float>& v)
{
  std::vector<std::uint16_t> out;
  for (float f : v) out.push_back(float_to_f16_bits(f));
  return out;
}

/// A shape and options, with f32 logits of `num_tokens` contiguous rows.
inline moe_router::route_params make_params(int E, int G, int TG, int K, const std::vector<float>& logits,
                                            moe_router::scoring_func scoring = moe_router::scoring_func::sigmoid)
{
  moe_router::route_params p;
  p.num_experts = E;
  p.num_groups = G;
  p.topk_group = TG;
  p.topk = K;
  p.scoring = scoring;
  p.logits = logits.data();
  p.num_tokens = static_cast<std::int64_t>(logits.size()) / E;
  return p;
}

/// The outputs of one host_route call, ids widened to int64 whatever their type.
struct routed {
  int slots = 0;
  std::vector<float> weights;
  std::vector<std::int64_t> ids;

  float weight(std::int64_t t, int k) const { return weights[t * slots + k]; }
  std::int64_t id(std::int64_t t, int k) const { return ids[t * slots + k]; }
  std::vector<std::int64_t> row_ids(std::int64_t t) const
  {
    return std::vector<std::int64_t>(ids.begin() + t * slots, ids.begin() + (t + 1) * slots);
  }
  std::vector<float> row_weights(std::int64_t t) const
  {
    return std::vector<float>(weights.begin() + t * slots, weights.begin() + (t + 1) * slots);
  }
};

/// Run host_route on `p` (its output pointers are replaced) and require success. The outputs
/// start filled with a sentinel, so a slot that is not written shows up.
inline routed route(moe_router::route_params p)
{
  routed r;
  r.slots = p.slots();
  const std::size_t n = static_cast<std::size_t>(p.num_tokens) * static_cast<std::size_t>(r.slots);
  r.weights.assign(n, -12345.0f);
  std::vector<std::int32_t> ids32(n, -777);
  std::vector<std::int64_t> ids64(n, -777);
  p.weights = r.weights.data();
  p.ids = p.ids_type == moe_router::index_type::i32 ? static_cast<void*>(ids32.data()) : ids64.data();
  const bool ok = moe_router::host_route(p);
  INFO(moe_router::last_error_message());
  REQUIRE(ok);
  if (p.ids_type == moe_router::index_type::i32)
    r.ids.assign(ids32.begin(), ids32.end());
  else
    r.ids = ids64;
  return r;
}

/// Every routed id of every row is in [0, E) and distinct within its row.
inline void check_routed_ids_valid(const routed& r, int E, int K)
{
  for (std::size_t t = 0; t < r.ids.size() / static_cast<std::size_t>(r.slots); ++t) {
    std::set<std::int64_t> seen;
    for (int k = 0; k < K; ++k) {
      const std::int64_t id = r.id(static_cast<std::int64_t>(t), k);
      INFO("row " << t << " slot " << k);
      CHECK(id >= 0);
      CHECK(id < E);
      seen.insert(id);
    }
    CHECK(seen.size() == static_cast<std::size_t>(K));
  }
}

/// Relative comparison of a float result with a double expectation.
inline bool close_rel(double actual, double expected, double rel)
{
  if (actual == expected) return true;
  return std::fabs(actual - expected) <= rel * std::fabs(expected);
}

}  // namespace moe_router_test
