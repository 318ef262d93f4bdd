/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file test_checks.hpp
 * @brief Outputs of a routing call (`route_outputs`), the host reference run (`run_host`) and
 * the checkers every routing test uses:
 *  - `check_bitwise_equal`: two runs agree bit for bit (fused vs reference kernel);
 *  - `check_against_host`: a device run agrees with the host reference as the contract says
 *    (ids identical except near ties that a few ulp of `exp` can flip, weights within a few ulp);
 *  - `check_invariants`: what holds on any row of any correct run;
 *  - `check_mapping`: a mapped run is the unmapped run with its routed ids mapped.
 * Checkers return a `check_result` (ok + a message with the first failing row and its inputs),
 * so that they can be tested themselves; `MOE_ROUTER_REQUIRE_OK` / `MOE_ROUTER_CHECK_OK` turn it
 * into a Catch2 assertion.
 */

#include "support/test_data.hpp"

#include <moe_router/reference/host_reference.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace moe_router {
namespace test {

/// The outputs of one call, ids widened to int64 whatever `ids_type` was.
struct route_outputs {
  std::int64_t num_tokens = 0;
  int slots = 0;
  std::vector<float> weights;     ///< [num_tokens, slots]
  std::vector<std::int64_t> ids;  ///< [num_tokens, slots]

  float weight(std::int64_t t, int k) const { return weights[static_cast<std::size_t>(t * slots + k)]; }
  std::int64_t id(std::int64_t t, int k) const { return ids[static_cast<std::size_t>(t * slots + k)]; }
  /// Row t as "ids [..] weights [..]".
  std::string describe_row(std::int64_t t) const
  {
    std::string s = "ids [";
    for (int k = 0; k < slots; ++k) s += (k ? " " : "") + std::to_string(id(t, k));
    s += "] weights [";
    for (int k = 0; k < slots; ++k) {
      char w[48];
      std::snprintf(w, sizeof w, "%s%.9g (0x%08x)", k ? " " : "", static_cast<double>(weight(t, k)),
                    float_bits(weight(t, k)));
      s += w;
    }
    return s + "]";
  }
};

/// Widen raw ids of `type` (count elements) to int64.
inline std::vector<std::int64_t> widen_ids(const void* raw, index_type type, std::size_t count)
{
  std::vector<std::int64_t> out(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (type == index_type::i32) {
      std::int32_t v;
      std::memcpy(&v, static_cast<const unsigned char*>(raw) + 4 * i, 4);
      out[i] = v;
    } else {
      std::memcpy(&out[i], static_cast<const unsigned char*>(raw) + 8 * i, 8);
    }
  }
  return out;
}

/// Route `c` with `host_route` (host pointers; the count, if any, read on the host).
inline route_outputs run_host(const test_case& c)
{
  route_outputs out;
  out.num_tokens = c.num_tokens();
  out.slots = c.slots();
  const std::size_t n = static_cast<std::size_t>(out.num_tokens * out.slots);
  out.weights.assign(n, 0.0f);
  std::vector<unsigned char> raw_ids(n * static_cast<std::size_t>(size_of(c.desc.ids_type)));
  route_params p = c.params();
  p.weights = out.weights.data();
  p.ids = raw_ids.data();
  const bool ok = host_route(p);
  INFO(c.describe() << "\nhost_route: " << last_error_message());
  REQUIRE(ok);
  out.ids = widen_ids(raw_ids.data(), c.desc.ids_type, n);
  return out;
}

/// What a checker found: ok, or the first failure with the row's inputs.
struct check_result {
  bool ok = true;
  std::string message;
  std::int64_t near_tie_rows = 0;      ///< rows whose ids differ from the host's by an accepted near tie
  int max_weight_ulps = 0;             ///< largest ulp distance of weights within the plain tolerance
  std::int64_t subnormal_weights = 0;  ///< weights beyond it, within what subnormal scores or results allow
  std::string near_ties;               ///< what differed in the first few accepted near-tie rows
};

/// Assert a `check_result` (the message is printed on failure).
#define MOE_ROUTER_REQUIRE_OK(expr)        \
  do {                                     \
    const auto moe_router_check_ = (expr); \
    INFO(moe_router_check_.message);       \
    REQUIRE(moe_router_check_.ok);         \
  } while (0)
/// Check a `check_result` and go on (the message is printed on failure).
#define MOE_ROUTER_CHECK_OK(expr)          \
  do {                                     \
    const auto moe_router_check_ = (expr); \
    INFO(moe_router_check_.message);       \
    CHECK(moe_router_check_.ok);           \
  } while (0)

/**
 * @brief Tolerances of the comparison with the host reference (whose `expf` is libm's).
 *
 * A score computed in fp32 on either side is taken to be within `score_rel * |s|` plus an
 * absolute part of its exact value. The absolute part starts as `score_abs` (a few units of the
 * smallest subnormal: what `expf` can be off by where its result is subnormal) and is carried
 * through the score function (sqrt magnifies it). Choice scores, group scores and weights get
 * their intervals from there.
 */
struct tolerance {
  double score_rel = 1e-6;      ///< relative error of a score (and of a choice score's rounding)
  double score_abs = 1e-44;     ///< absolute error of a subnormal exp result (about 7 units of 2^-149)
  int weight_ulps = 4;          ///< weights of identical ids: equal within this many ulp ...
  double weight_rel = 1e-6;     ///< ... or this relative difference (plus what subnormal scores allow)
  double recompute_rel = 8e-6;  ///< near-tie rows: weights against their double-precision interval
};

/// Ulp distance of two finite floats (0 for equal values, -0.0 == +0.0).
inline std::int64_t ulp_distance(float a, float b)
{
  // bits of a non-negative float, minus the bits of the magnitude of a negative one: an integer
  // line on which neighbouring floats are 1 apart and -0.0 == +0.0
  auto ordered = [](float f) -> std::int64_t {
    const std::uint32_t u = float_bits(f);
    return (u & 0x80000000u) ? -static_cast<std::int64_t>(u & 0x7fffffffu) : static_cast<std::int64_t>(u);
  };
  const std::int64_t x = ordered(a), y = ordered(b);
  return x > y ? x - y : y - x;
}

namespace detail {

inline std::string failure_header(const test_case& c, std::int64_t t, const char* what)
{
  return c.describe() + "\n" + what + " at row " + std::to_string(t) + "\n";
}

/// Roundings of the fp32 softmax denominator (`canonical_sum`): V - 1 per lane, 5 to combine.
inline double softmax_sum_roundings(int num_experts) { return experts_per_lane(num_experts) - 1 + 5; }

/**
 * @brief Relative error of slot k's weight, computed in fp32, from its sums alone: the
 * renormalizing sum of K scores rounds K - 1 times, the shared slot's sum of the K weights
 * K - 1 times more, and without renormalization a softmax weight carries the rounding of the
 * row's denominator (renormalization cancels it). Two evaluations whose scores differ by an
 * ulp round those sums differently, so this much is allowed on top of the tolerance per side.
 */
inline double summation_error(const case_desc& d, int k)
{
  const double u = 0x1.0p-24, roundings = static_cast<double>(d.topk - 1);
  double n = (d.renormalize ? roundings : 0.0) + (k == d.topk ? roundings : 0.0);
  if (d.scoring == scoring_func::softmax && !d.renormalize) n += softmax_sum_roundings(d.num_experts);
  return n * u;
}

/**
 * @brief Absolute error of slot k's fp32 weight from results below fp32's normal range, where a
 * value rounds to a multiple of 2^-149 whatever its relative precision: the renormalizing
 * division and the scaling each round a routed weight by up to 2^-150, the first then scaled by
 * the factor; the shared slot divides the sum of K such weights by the factor, and rounds once
 * more. Negligible but for tiny factors: at a factor of 2^-149 every routed weight of a row may
 * be 0 and the shared slot then 0 too, where the exact value is the sum of the chosen scores.
 */
inline double underflow_error(const case_desc& d, int k)
{
  const double step = 0x1.0p-149;
  const double factor = d.scale_output ? static_cast<double>(d.routed_scaling_factor) : 1.0;
  const double routed = step * (1.0 + factor);
  if (k < d.topk) return routed;
  return d.topk * routed / static_cast<double>(d.routed_scaling_factor) + step;
}

/// fp32's edge of overflow: an exact result from FLT_MAX plus half its ulp on rounds to infinity.
inline constexpr double fp32_overflow_edge = static_cast<double>(FLT_MAX) + 0x1.0p103;

/**
 * @brief The least exact value an infinite weight of slot k may stand for: a routed weight
 * overflows in its scaling, the shared slot in the sum of the weights (then divided by the
 * factor) or in the division itself.
 */
inline double overflow_edge(const case_desc& d, int k)
{
  if (k < d.topk) return fp32_overflow_edge;
  return std::min(fp32_overflow_edge, fp32_overflow_edge / static_cast<double>(d.routed_scaling_factor));
}

/// Ulp distance or relative difference (`tol.weight_rel` plus `extra_rel`) of two weights within
/// the tolerance (same NaN-ness, infinities equal); records the largest ulp distance seen.
inline bool weights_close(float a, float b, const tolerance& tol, double extra_rel, int* ulps)
{
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (a == b) return true;
  if (std::isinf(a) || std::isinf(b)) return false;
  const std::int64_t d = ulp_distance(a, b);
  const double diff = std::fabs(static_cast<double>(a) - static_cast<double>(b));
  const double rel = tol.weight_rel + extra_rel;
  const bool close = d <= tol.weight_ulps ||
                     diff <= rel * std::max(std::fabs(static_cast<double>(a)), std::fabs(static_cast<double>(b)));
  if (close && static_cast<int>(d) > *ulps) *ulps = static_cast<int>(d);
  return close;
}

/// A value known up to an interval: [lo, hi], or NaN (ranks last).
struct interval {
  double lo = 0, hi = 0;
  bool nan = false;
  bool exact = false;  ///< from a row with a NaN or infinite chosen score: what fp32 gives, exactly
};

enum class order { before, after, uncertain };

/// Order of (a, ia) and (b, ib) in the contract's order (larger first, NaN last, lower index on
/// equal values), given that the values are only known up to their intervals. `exact_tie` says
/// the two values are equal on every platform (identical inputs).
inline order compare(const interval& a, int ia, const interval& b, int ib, bool exact_tie)
{
  if (a.nan || b.nan) {
    if (a.nan && b.nan) return ia < ib ? order::before : order::after;
    return a.nan ? order::after : order::before;
  }
  if (exact_tie) return ia < ib ? order::before : order::after;
  if (a.lo > b.hi) return order::before;
  if (b.lo > a.hi) return order::after;
  if (a.lo == a.hi && b.lo == b.hi)  // exact equal values (infinities)
    return ia < ib ? order::before : order::after;
  return order::uncertain;
}

/**
 * @brief One valid row recomputed in double precision, each score, choice score and group score
 * with the interval in which any correct fp32 computation (host or device `expf`) must land.
 * The fp32 structure is kept where it decides NaN and infinity (the softmax row maximum and the
 * subtraction x - max are done in fp32 exactly as the kernels do).
 */
struct row_model {
  const test_case& c;
  std::int64_t t;
  int E, G, group_size;
  std::vector<double> s;        // scores
  std::vector<double> s_rel;    // relative part of the radius of each score
  std::vector<double> s_abs;    // absolute part (subnormal exp results, through the score function)
  std::vector<interval> b;      // choice scores
  std::vector<interval> group;  // group scores (G > 1)
  double score_rel;             // tol.score_rel

  row_model(const test_case& tc, std::int64_t row, const tolerance& tol)
      : c(tc),
        t(row),
        E(tc.desc.num_experts),
        G(tc.desc.num_groups),
        group_size(E / G),
        s(static_cast<std::size_t>(E)),
        s_rel(static_cast<std::size_t>(E)),
        s_abs(static_cast<std::size_t>(E)),
        b(static_cast<std::size_t>(E)),
        score_rel(tol.score_rel)
  {
    const scoring_func f = c.desc.scoring;
    const double d = tol.score_abs;
    if (f == scoring_func::softmax) {
      std::uint32_t max_key = excluded_key;
      for (int e = 0; e < E; ++e) max_key = std::max(max_key, order_key(c.logit(t, e)));
      const float row_max = key_value(max_key);
      double sum = 0;
      for (int e = 0; e < E; ++e) {
        const float shifted = c.logit(t, e) - row_max;  // in fp32, as the kernels do
        s[static_cast<std::size_t>(e)] = std::exp(static_cast<double>(shifted));
        sum += s[static_cast<std::size_t>(e)];
      }
      for (int e = 0; e < E; ++e) {
        s[static_cast<std::size_t>(e)] /= sum;
        s_abs[static_cast<std::size_t>(e)] = sum >= 1 ? d / sum : d;  // a numerator off by d, over the sum
      }
    } else {
      for (int e = 0; e < E; ++e) {
        const double x = c.logit(t, e);
        double v, a = d;
        if (f == scoring_func::sigmoid) {
          v = 1.0 / (1.0 + std::exp(-x));
        } else if (x > static_cast<double>(softplus_threshold)) {
          v = std::sqrt(x);
          a = 0;
        } else {
          v = std::sqrt(std::log1p(std::exp(x)));
          a = v > 0 ? std::min(std::sqrt(d), d / v) : std::sqrt(d);  // |sqrt(y + d) - sqrt(y)|
        }
        s[static_cast<std::size_t>(e)] = v;
        s_abs[static_cast<std::size_t>(e)] = a;
      }
    }
    // a softmax score also carries the rounding of its fp32 denominator
    const double rel = tol.score_rel + (f == scoring_func::softmax ? softmax_sum_roundings(E) * 0x1.0p-24 : 0.0);
    for (int e = 0; e < E; ++e) {
      const std::size_t i = static_cast<std::size_t>(e);
      s_rel[i] = rel * std::fabs(s[i]);
      const double be = s[i] + static_cast<double>(c.bias_value(e));
      interval& iv = b[i];
      if (std::isnan(be)) {
        iv.nan = true;
      } else if (std::isinf(be)) {
        iv.lo = iv.hi = be;
      } else {
        const double r = s_rel[i] + s_abs[i] + tol.score_rel * std::fabs(be);
        iv.lo = be - r;
        iv.hi = be + r;
      }
    }
    if (G > 1) {
      group.resize(static_cast<std::size_t>(G));
      for (int g = 0; g < G; ++g) group[static_cast<std::size_t>(g)] = group_value(g);
    }
  }

  /// The group score of g: monotone in every choice score, so its interval is the score of the
  /// lower ends to the score of the upper ends. NaN choice scores rank last, as in the kernels.
  interval group_value(int g) const
  {
    const bool top2 = c.desc.group_score == group_score_kind::top2_sum;
    auto score = [&](bool upper) {
      double v[2] = {0, 0};
      int n = 0;
      std::vector<double> values;
      for (int e = g * group_size; e < (g + 1) * group_size; ++e) {
        const interval& iv = b[static_cast<std::size_t>(e)];
        if (!iv.nan) values.push_back(upper ? iv.hi : iv.lo);
      }
      std::sort(values.begin(), values.end(), [](double x, double y) { return x > y; });
      for (double x : values)
        if (n < 2) v[n++] = x;
      const double nan = std::numeric_limits<double>::quiet_NaN();
      if (!top2) return n >= 1 ? v[0] : nan;
      return n >= 2 ? v[0] + v[1] : nan;
    };
    interval iv;
    iv.lo = score(false);
    iv.hi = score(true);
    if (std::isnan(iv.lo) || std::isnan(iv.hi)) {
      iv.nan = true;  // fewer than 2 (1) non-NaN choice scores, or inf + -inf: NaN on any platform
      return iv;
    }
    // the fp32 sum of the top two rounds once
    if (top2 && std::isfinite(iv.lo) && std::isfinite(iv.hi)) {
      const double rounding = score_rel * std::max(std::fabs(iv.lo), std::fabs(iv.hi));
      iv.lo -= rounding;
      iv.hi += rounding;
    }
    // a finite sum beyond the float range may round to an infinity in fp32
    if (iv.hi > static_cast<double>(FLT_MAX)) iv.hi = INFINITY;
    if (iv.lo < -static_cast<double>(FLT_MAX)) iv.lo = -INFINITY;
    return iv;
  }

  /// Choice score of e in double precision (the middle of its interval).
  double choice(int e) const
  {
    const interval& iv = b[static_cast<std::size_t>(e)];
    return iv.nan ? std::numeric_limits<double>::quiet_NaN() : (iv.lo + iv.hi) / 2;
  }

  /// Identical (logit, bias) inputs: equal choice scores on every platform.
  bool same_inputs(int e1, int e2) const
  {
    const float x1 = c.logit(t, e1), x2 = c.logit(t, e2);
    const float b1 = c.bias_value(e1), b2 = c.bias_value(e2);
    const bool same_x = x1 == x2 || (std::isnan(x1) && std::isnan(x2));
    const bool same_b = b1 == b2 || (std::isnan(b1) && std::isnan(b2));
    return same_x && same_b;
  }

  /// Groups with the same multiset of (logit, bias) inputs: equal group scores everywhere.
  bool same_group_inputs(int g1, int g2) const
  {
    auto signature = [&](int g) {
      std::vector<std::pair<std::uint32_t, std::uint32_t>> sig;
      auto key = [](float v) { return std::isnan(v) ? 0xffffffffu : order_key(v); };
      for (int e = g * group_size; e < (g + 1) * group_size; ++e)
        sig.emplace_back(key(c.logit(t, e)), key(c.bias_value(e)));
      std::sort(sig.begin(), sig.end());
      return sig;
    };
    return signature(g1) == signature(g2);
  }

  order compare_experts(int e1, int e2) const
  {
    return compare(b[static_cast<std::size_t>(e1)], e1, b[static_cast<std::size_t>(e2)], e2, same_inputs(e1, e2));
  }
  order compare_groups(int g1, int g2) const
  {
    const interval &a = group[static_cast<std::size_t>(g1)], &bb = group[static_cast<std::size_t>(g2)];
    // only worth the signature when the intervals overlap
    const bool overlap = !a.nan && !bb.nan && !(a.lo > bb.hi) && !(bb.lo > a.hi);
    return compare(a, g1, bb, g2, overlap && same_group_inputs(g1, g2));
  }

  /**
   * @brief Whether `ids` (K logical ids, slot order) is a correct routing of this row for some
   * choice scores inside their intervals. Returns "" if so, else the reason.
   */
  std::string accepts(const std::vector<int>& ids) const
  {
    const int K = c.desc.topk, TG = c.desc.topk_group;
    std::vector<char> chosen(static_cast<std::size_t>(E), 0);
    for (int e : ids) {
      if (e < 0 || e >= E) return "id " + std::to_string(e) + " out of range";
      if (chosen[static_cast<std::size_t>(e)]) return "id " + std::to_string(e) + " chosen twice";
      chosen[static_cast<std::size_t>(e)] = 1;
    }
    // groups the kernel must have kept: those of chosen experts and every group surely above one
    std::vector<char> kept(static_cast<std::size_t>(G), G == 1 ? 1 : 0);
    if (G > 1) {
      for (int e : ids) kept[static_cast<std::size_t>(e / group_size)] = 1;
      std::vector<char> forced = kept;
      for (int g = 0; g < G; ++g)
        for (int h = 0; h < G; ++h)
          if (kept[static_cast<std::size_t>(h)] && compare_groups(g, h) == order::before)
            forced[static_cast<std::size_t>(g)] = 1;
      int n = 0;
      for (char f : forced) n += f;
      if (n > TG)
        return std::to_string(n) +
               " groups must be kept (those of the chosen experts and every group surely "
               "above one of them), more than topk_group";
      // and every group that fewer than TG groups can rank above
      for (int g = 0; g < G; ++g) {
        int possibly_above = 0;
        for (int h = 0; h < G; ++h)
          if (h != g && compare_groups(h, g) != order::after) ++possibly_above;
        if (possibly_above < TG) forced[static_cast<std::size_t>(g)] = 1;
      }
      n = 0;
      for (char f : forced) n += f;
      if (n > TG) return "the groups of the chosen experts and the groups surely kept are more than topk_group";
      kept = forced;
    }
    // slot order
    for (int k = 0; k + 1 < K; ++k)
      if (compare_experts(ids[static_cast<std::size_t>(k)], ids[static_cast<std::size_t>(k + 1)]) == order::after)
        return "slot " + std::to_string(k) + " (expert " + std::to_string(ids[static_cast<std::size_t>(k)]) +
               ") surely ranks after slot " + std::to_string(k + 1) + " (expert " +
               std::to_string(ids[static_cast<std::size_t>(k + 1)]) + ")";
    // nothing left out that surely ranks above a chosen one
    for (int e = 0; e < E; ++e) {
      if (chosen[static_cast<std::size_t>(e)] || !kept[static_cast<std::size_t>(e / group_size)]) continue;
      for (int k = 0; k < K; ++k)
        if (compare_experts(e, ids[static_cast<std::size_t>(k)]) == order::before)
          return "expert " + std::to_string(e) + " was left out but surely ranks above slot " + std::to_string(k) +
                 " (expert " + std::to_string(ids[static_cast<std::size_t>(k)]) + ")";
    }
    return "";
  }

  /**
   * @brief The intervals of the weights of `ids` (routed, then the shared slot if any), from the
   * score intervals: with `absolute_only`, only the absolute (subnormal) part of their radius.
   * Non-finite scores give exact values (NaN and infinity come out the same everywhere).
   */
  std::vector<interval> weights(const std::vector<int>& ids, bool absolute_only) const
  {
    // what an fp32 result of exact value x is where x overflows: infinity from FLT_MAX plus half
    // its ulp on (round to nearest); the absolute parts alone are widths, and stay finite
    const auto fp32_overflow = [absolute_only](double x) {
      return !absolute_only && x >= fp32_overflow_edge ? std::numeric_limits<double>::infinity() : x;
    };
    const auto& d = c.desc;
    const std::size_t K = ids.size();
    const double factor = static_cast<double>(d.routed_scaling_factor);
    std::vector<interval> w(K);
    bool finite = true;
    for (int e : ids) finite = finite && std::isfinite(s[static_cast<std::size_t>(e)]);
    if (!finite) {  // the fp32 operations on NaN / inf, in double
      std::vector<double> v;
      for (int e : ids) v.push_back(s[static_cast<std::size_t>(e)]);
      if (d.renormalize) {
        double sum = 0;
        for (double x : v) sum += x;
        for (double& x : v) x /= sum == 0 ? 1.0 : sum;
      }
      for (std::size_t k = 0; k < K; ++k) {
        const double x = fp32_overflow(d.scale_output ? v[k] * factor : v[k]);
        w[k].nan = std::isnan(x);
        w[k].lo = w[k].hi = x;
        w[k].exact = true;
      }
    } else {
      double sum = 0, radius = 0;
      for (std::size_t k = 0; k < K; ++k) {
        const std::size_t e = static_cast<std::size_t>(ids[k]);
        const double r = s_abs[e] + (absolute_only ? 0.0 : s_rel[e]);
        w[k].lo = std::max(0.0, s[e] - r);
        w[k].hi = s[e] + r;
        sum += s[e];
        radius += r;
      }
      if (d.renormalize) {
        for (std::size_t k = 0; k < K; ++k) {
          if (sum - radius <= 0) {  // the fp32 sum may be anything down to 0 (then divided by 1)
            w[k].lo = 0;
            w[k].hi = std::max(1.0, w[k].hi);
          } else {
            w[k].lo /= sum + radius;
            w[k].hi = std::min(1.0, w[k].hi / (sum - radius));
          }
        }
      }
      if (d.scale_output)
        for (interval& iv : w) {
          iv.lo = fp32_overflow(iv.lo * factor);
          iv.hi = fp32_overflow(iv.hi * factor);
        }
    }
    if (d.num_shared_slots == 1) {
      interval shared;
      for (const interval& iv : w) {
        shared.nan = shared.nan || iv.nan;
        shared.lo += iv.lo;
        shared.hi += iv.hi;
      }
      // the fp32 sum of the weights overflows where the exact one rounds past FLT_MAX (weights
      // are never negative, so no partial sum overflows before the whole), and so does the
      // division by a factor under 1
      shared.lo = fp32_overflow(fp32_overflow(shared.lo) / factor);
      shared.hi = fp32_overflow(fp32_overflow(shared.hi) / factor);
      shared.nan = shared.nan || std::isnan(shared.lo) || std::isnan(shared.hi);
      shared.exact = !finite;
      w.push_back(shared);
    }
    return w;
  }
};

}  // namespace detail

/**
 * @brief Two runs of the same case agree bit for bit: every id and the fp32 bit pattern of every
 * weight. Reports the first differing row / slot, both rows and the row's inputs.
 */
inline check_result check_bitwise_equal(const test_case& c, const route_outputs& a, const route_outputs& b,
                                        const char* name_a = "first", const char* name_b = "second")
{
  check_result r;
  if (a.num_tokens != b.num_tokens || a.slots != b.slots || a.weights.size() != b.weights.size() ||
      a.ids.size() != b.ids.size()) {
    r.ok = false;
    r.message = c.describe() + "\noutputs of different shapes";
    return r;
  }
  for (std::int64_t t = 0; t < a.num_tokens; ++t)
    for (int k = 0; k < a.slots; ++k) {
      if (a.id(t, k) == b.id(t, k) && float_bits(a.weight(t, k)) == float_bits(b.weight(t, k))) continue;
      r.ok = false;
      std::vector<std::int64_t> experts;
      for (int j = 0; j < a.slots; ++j) {
        experts.push_back(a.id(t, j));
        experts.push_back(b.id(t, j));
      }
      r.message = detail::failure_header(c, t, "bitwise difference") + "first at slot " + std::to_string(k) + "\n" +
                  name_a + ": " + a.describe_row(t) + "\n" + name_b + ": " + b.describe_row(t) + "\n" +
                  c.describe_row(t, experts);
      return r;
    }
  return r;
}

/**
 * @brief What holds on every row of a correct run of `c`: padding rows all -1 / +0.0; routed ids
 * distinct and in [0, E) (or, with a map, values of the map, no more often than it has
 * preimages); no negative weight; routed weights that sum to 1 (times the factor with
 * scale_output) or 0 when renormalized and finite; the shared slot's id E + t mod NS and its
 * weight the fp32 sum of the routed weights in slot order divided by the factor.
 */
inline check_result check_invariants(const test_case& c, const route_outputs& out)
{
  check_result r;
  const auto& d = c.desc;
  const int K = d.topk, E = d.num_experts;
  auto fail = [&](std::int64_t t, const std::string& why) {
    r.ok = false;
    r.message = detail::failure_header(c, t, "invariant broken") + why + "\noutput: " + out.describe_row(t) + "\n" +
                c.describe_row(t, std::vector<std::int64_t>(out.ids.begin() + t * out.slots,
                                                            out.ids.begin() + (t + 1) * out.slots));
    return r;
  };
  if (out.num_tokens != d.num_tokens || out.slots != d.slots()) {
    r.ok = false;
    r.message = c.describe() + "\noutputs of the wrong shape";
    return r;
  }
  std::map<std::int64_t, int> preimages;
  for (std::int32_t v : c.expert_map) ++preimages[v];
  const std::int64_t valid = c.valid_rows();
  for (std::int64_t t = 0; t < d.num_tokens; ++t) {
    if (t >= valid) {
      for (int k = 0; k < out.slots; ++k)
        if (out.id(t, k) != -1 || float_bits(out.weight(t, k)) != 0u) return fail(t, "padding row not -1 / +0.0");
      continue;
    }
    std::map<std::int64_t, int> seen;
    for (int k = 0; k < K; ++k) {
      const std::int64_t id = out.id(t, k);
      const int count = ++seen[id];
      if (c.expert_map.empty()) {
        if (id < 0 || id >= E) return fail(t, "routed id out of [0, E) in slot " + std::to_string(k));
        if (count > 1) return fail(t, "routed id repeated in slot " + std::to_string(k));
      } else {
        const auto it = preimages.find(id);
        if (it == preimages.end())
          return fail(t, "routed id in slot " + std::to_string(k) + " is no value of expert_map");
        if (count > it->second)
          return fail(t, "routed id in slot " + std::to_string(k) + " more often than it has preimages");
      }
    }
    float sum = 0.0f;
    for (int k = 0; k < K; ++k) {
      if (out.weight(t, k) < 0.0f) return fail(t, "negative weight in slot " + std::to_string(k));
      sum += out.weight(t, k);
    }
    if (d.renormalize && std::isfinite(sum) && sum != 0.0f) {
      // K - 1 roundings in the renormalizing sum, one per division (and scaling), K - 1 in this
      // sum; a scaled weight that is subnormal (a factor near 2^-126 or below) rounds by up to
      // 2^-150 whatever its size, so K of those on top
      const double expected = d.scale_output ? static_cast<double>(d.routed_scaling_factor) : 1.0;
      if (std::fabs(static_cast<double>(sum) - expected) > (1e-6 + (2 * K + 2) * 0x1.0p-24) * expected + K * 0x1.0p-150)
        return fail(t, "renormalized routed weights sum to " + std::to_string(sum));
    }
    if (d.num_shared_slots == 1) {
      if (out.id(t, K) != E + t % d.num_shared_experts) return fail(t, "shared slot id is not E + t mod NS");
      const float expected = sum / d.routed_scaling_factor;
      const float got = out.weight(t, K);
      const bool same = std::isnan(expected) ? std::isnan(got) : float_bits(expected) == float_bits(got);
      if (!same) return fail(t, "shared slot weight is not sum(routed weights) / factor");
    }
  }
  return r;
}

/**
 * @brief `mapped` (a run of `c`, which has an expert_map) is `unmapped` (a run of the same
 * inputs without it) with every routed id of a valid row mapped: same weights bit for bit, same
 * shared slot, same padding.
 */
inline check_result check_mapping(const test_case& c, const route_outputs& unmapped, const route_outputs& mapped)
{
  check_result r;
  const int K = c.desc.topk;
  const std::int64_t valid = c.valid_rows();
  for (std::int64_t t = 0; t < mapped.num_tokens; ++t)
    for (int k = 0; k < mapped.slots; ++k) {
      std::int64_t expected = unmapped.id(t, k);
      if (t < valid && k < K) {
        if (expected < 0 || expected >= c.desc.num_experts) {
          r.ok = false;
          r.message = detail::failure_header(c, t, "unmapped id out of range") + unmapped.describe_row(t);
          return r;
        }
        expected = c.expert_map[static_cast<std::size_t>(expected)];
      }
      if (mapped.id(t, k) != expected || float_bits(mapped.weight(t, k)) != float_bits(unmapped.weight(t, k))) {
        r.ok = false;
        r.message = detail::failure_header(c, t, "mapped run is not the unmapped run mapped") + "slot " +
                    std::to_string(k) + "\nunmapped: " + unmapped.describe_row(t) +
                    "\nmapped: " + mapped.describe_row(t);
        return r;
      }
    }
  return r;
}

/**
 * @brief A device run agrees with the host reference as the contract allows.
 *
 * Padding rows, and the shared slot's id, must be identical. In a routed row with identical ids,
 * weights must agree within `tol.weight_ulps` ulp or `tol.weight_rel` plus what the rounding of
 * their fp32 sums (`summation_error`), subnormal scores and results below fp32's normal range
 * (`underflow_error`: a scaling factor that small) allow. A row whose routed ids
 * differ is recomputed in double precision: it passes only if the device's ids are a correct
 * routing for some choice scores within their `tol` intervals around the exact ones (so only near ties
 * may flip; ties of identical inputs must still go to the lower index), and its weights are
 * then checked against the recomputation. With an expert_map, the map must be injective to
 * recover the device's logical ids (check a non-injective map with `check_mapping` instead).
 */
inline check_result check_against_host(const test_case& c, const route_outputs& device, const route_outputs& host,
                                       const tolerance& tol = {})
{
  check_result r;
  const auto& d = c.desc;
  const int K = d.topk;
  if (device.num_tokens != host.num_tokens || device.slots != host.slots || device.ids.size() != host.ids.size()) {
    r.ok = false;
    r.message = c.describe() + "\noutputs of different shapes";
    return r;
  }
  std::map<std::int64_t, int> inverse;
  const bool injective = c.expert_map.empty() || map_is_injective(c.expert_map);
  for (std::size_t e = 0; e < c.expert_map.size(); ++e) inverse[c.expert_map[e]] = static_cast<int>(e);

  // the logical id of an output id (-1 where the map cannot tell)
  auto logical_id = [&](std::int64_t id) -> int {
    if (!c.expert_map.empty()) {
      if (!injective) return -1;
      const auto it = inverse.find(id);
      return it == inverse.end() ? -1 : it->second;
    }
    return id < 0 || id >= d.num_experts ? -1 : static_cast<int>(id);
  };
  const std::int64_t valid = c.valid_rows();
  for (std::int64_t t = 0; t < d.num_tokens; ++t) {
    auto fail = [&](const std::string& what, const std::string& detail_text) {
      std::vector<std::int64_t> experts;
      for (int k = 0; k < K; ++k) {
        for (const route_outputs* o : {&device, &host}) experts.push_back(logical_id(o->id(t, k)));
      }
      r.ok = false;
      r.message = detail::failure_header(c, t, what.c_str()) + detail_text + "device: " + device.describe_row(t) +
                  "\nhost:   " + host.describe_row(t) + "\n" + c.describe_row(t, experts);
      return r;
    };
    if (t >= valid) {
      for (int k = 0; k < device.slots; ++k)
        if (device.id(t, k) != host.id(t, k) || float_bits(device.weight(t, k)) != float_bits(host.weight(t, k)))
          return fail("padding differs", "");
      continue;
    }
    if (d.num_shared_slots == 1 && device.id(t, K) != host.id(t, K)) return fail("shared slot id differs", "");
    bool same_ids = true;
    for (int k = 0; k < K; ++k) same_ids = same_ids && device.id(t, k) == host.id(t, k);
    if (same_ids) {
      std::vector<detail::interval> subnormal;  // what subnormal scores allow, built when needed
      for (int k = 0; k < device.slots; ++k) {
        const float a = device.weight(t, k), h = host.weight(t, k);
        const double sums = 2 * detail::summation_error(d, k);  // both sides round their sums
        if (detail::weights_close(a, h, tol, sums, &r.max_weight_ulps)) continue;
        if (subnormal.empty() && std::isfinite(a) && std::isfinite(h)) {
          std::vector<int> ids;
          for (int j = 0; j < K; ++j) ids.push_back(logical_id(host.id(t, j)));
          if (std::find(ids.begin(), ids.end(), -1) == ids.end())
            subnormal = detail::row_model(c, t, tol).weights(ids, true);
        }
        // what subnormal scores allow, and the roundings of both sides below fp32's normal range
        const double absolute = (subnormal.empty() ? 0.0
                                                   : subnormal[static_cast<std::size_t>(k)].hi -
                                                         subnormal[static_cast<std::size_t>(k)].lo) +
                                2 * detail::underflow_error(d, k);
        // An infinity against a finite weight: where every chosen score is finite, it is an
        // overflow, and the exact value behind it at least the edge of overflow, which a weight a
        // rounding below it may fall either side of. (An infinite score's infinity is exact.)
        bool within = !std::isnan(a) && !std::isnan(h);
        if (within && (std::isinf(a) || std::isinf(h))) {
          within = std::isfinite(a) || std::isfinite(h);
          const detail::row_model model(c, t, tol);
          for (int j = 0; j < K && within; ++j) {
            const int e = logical_id(host.id(t, j));
            within = e >= 0 && std::isfinite(model.s[static_cast<std::size_t>(e)]);
          }
        }
        const auto exact = [&](float x) {
          return std::isinf(x) ? std::copysign(detail::overflow_edge(d, k), static_cast<double>(x))
                               : static_cast<double>(x);
        };
        within = within && std::fabs(exact(a) - exact(h)) <=
                               (tol.weight_rel + sums) * std::max(std::fabs(exact(a)), std::fabs(exact(h))) + absolute;
        if (!within) return fail("weights differ", "slot " + std::to_string(k) + "\n");
        ++r.subnormal_weights;
      }
      continue;
    }
    // ids differ: is it a near tie?
    if (!injective) return fail("ids differ", "(the expert_map is not injective: compare with check_mapping)\n");
    std::vector<int> ids(static_cast<std::size_t>(K)), host_ids(static_cast<std::size_t>(K));
    for (int k = 0; k < K; ++k) {
      ids[static_cast<std::size_t>(k)] = logical_id(device.id(t, k));
      host_ids[static_cast<std::size_t>(k)] = logical_id(host.id(t, k));
    }
    const detail::row_model model(c, t, tol);
    const std::string why = model.accepts(ids);
    if (!why.empty()) return fail("ids differ beyond a near tie", why + "\n");
    const std::vector<detail::interval> expected = model.weights(ids, false);
    for (int k = 0; k < device.slots; ++k) {
      const double got = device.weight(t, k);
      const detail::interval& want = expected[static_cast<std::size_t>(k)];
      bool agree;
      if (want.nan || std::isnan(got))
        agree = want.nan && std::isnan(got);
      else if (want.exact && (std::isinf(want.lo) || std::isinf(got)))  // an infinite score's infinity
        agree = want.lo <= got && got <= want.hi;
      else {
        // An infinity here is an overflow: it stands for an exact value from the edge of overflow
        // on, and a finite weight can be no larger than that edge.
        const double edge = detail::overflow_edge(d, k);
        const auto least = [edge](double x) { return std::isinf(x) ? std::copysign(edge, x) : x; };
        const double g = least(got), lo = least(want.lo), hi = least(want.hi);
        const double rel = tol.recompute_rel + detail::summation_error(d, k);
        const double underflow = detail::underflow_error(d, k);
        agree = lo - rel * std::fabs(lo) - underflow <= g && g <= hi + rel * std::fabs(hi) + underflow;
      }
      if (!agree) {
        char text[200];
        std::snprintf(text, sizeof text, "near tie, but slot %d weight %.9g outside [%.17g, %.17g]\n", k, got, want.lo,
                      want.hi);
        return fail("weights differ", text);
      }
    }
    if (r.near_tie_rows++ < 4) {
      r.near_ties += "row " + std::to_string(t) + " (" + to_string(c.rows[static_cast<std::size_t>(t)]) + "):";
      for (int k = 0; k < K; ++k) {
        if (ids[static_cast<std::size_t>(k)] == host_ids[static_cast<std::size_t>(k)]) continue;
        const int e = ids[static_cast<std::size_t>(k)], h = host_ids[static_cast<std::size_t>(k)];
        const double be = model.choice(e), bh = h >= 0 && h < d.num_experts ? model.choice(h) : NAN;
        char text[200];
        std::snprintf(text, sizeof text, " slot %d: device %d (b %.9g), host %d (b %.9g), relative gap %.2g;", k, e, be,
                      h, bh, std::fabs(be - bh) / std::max(std::fabs(be), std::fabs(bh)));
        r.near_ties += text;
      }
      r.near_ties += "\n";
    }
  }
  return r;
}

}  // namespace test
}  // namespace moe_router
