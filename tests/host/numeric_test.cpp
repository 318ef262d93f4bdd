/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// The shared scalar pieces (numeric.hpp) and the parameter checks (validate.hpp): conversions
// against independent ldexp-based ones, the order of keys, the canonical summation order, and
// every rejected parameter, after which host_route must leave its outputs untouched.

#include "host_test_util.hpp"

#include <moe_router/numeric.hpp>
#include <moe_router/reference/host_reference.hpp>
#include <moe_router/validate.hpp>

#include <catch2/catch.hpp>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace moe_router;
using namespace moe_router_test;

namespace {

/// Independent decoding of a binary floating-point pattern with `mantissa_bits` and `exponent_bits`.
double decode(std::uint32_t bits, int exponent_bits, int mantissa_bits)
{
  const std::uint32_t mantissa = bits & ((1u << mantissa_bits) - 1);
  const std::uint32_t exponent = (bits >> mantissa_bits) & ((1u << exponent_bits) - 1);
  const double sign = (bits >> (mantissa_bits + exponent_bits)) & 1u ? -1.0 : 1.0;
  const int bias = (1 << (exponent_bits - 1)) - 1;
  if (exponent == (1u << exponent_bits) - 1) return mantissa ? std::nan("") : sign * HUGE_VAL;
  if (exponent == 0) return sign * std::ldexp(mantissa, 1 - bias - mantissa_bits);
  return sign * std::ldexp((1u << mantissa_bits) + mantissa, static_cast<int>(exponent) - bias - mantissa_bits);
}

void check_conversion(float actual, double expected, bool negative)
{
  if (std::isnan(expected)) {
    CHECK(std::isnan(actual));
  } else {
    CHECK(static_cast<double>(actual) == expected);
  }
  CHECK(std::signbit(actual) == negative);
}

}  // namespace

// ---- conversions ---------------------------------------------------------------------------------

TEST_CASE("every f16 bit pattern converts to the exact float it encodes", "[numeric][conversion]")
{
  int mismatches = 0;
  for (std::uint32_t h = 0; h < 0x10000u; ++h) {
    const float f = f16_bits_to_float(static_cast<std::uint16_t>(h));
    const double expected = decode(h, 5, 10);
    const bool ok = std::isnan(expected) ? std::isnan(f) : static_cast<double>(f) == expected;
    if (!ok || std::signbit(f) != ((h & 0x8000u) != 0)) {
      if (++mismatches < 5) FAIL_CHECK("f16 0x" << std::hex << h << " -> " << f << ", expected " << expected);
    }
  }
  CHECK(mismatches == 0);
  check_conversion(f16_bits_to_float(0x0001), std::ldexp(1.0, -24), false);  // smallest subnormal
  check_conversion(f16_bits_to_float(0x03ff), std::ldexp(1023.0, -24), false);
  check_conversion(f16_bits_to_float(0x0400), std::ldexp(1.0, -14), false);  // smallest normal
  check_conversion(f16_bits_to_float(0x7bff), 65504.0, false);
  check_conversion(f16_bits_to_float(0x8000), 0.0, true);
  check_conversion(f16_bits_to_float(0xfc00), -HUGE_VAL, true);
  check_conversion(f16_bits_to_float(0x3c00), 1.0, false);
  check_conversion(f16_bits_to_float(0xc000), -2.0, true);
}

TEST_CASE("every bf16 bit pattern converts to the float with the same upper half", "[numeric][conversion]")
{
  int mismatches = 0;
  for (std::uint32_t h = 0; h < 0x10000u; ++h) {
    const float f = bf16_bits_to_float(static_cast<std::uint16_t>(h));
    const double expected = decode(h, 8, 7);
    const bool ok = std::isnan(expected) ? std::isnan(f) : static_cast<double>(f) == expected;
    if (!ok || bits_of(f) != h << 16) {
      if (++mismatches < 5) FAIL_CHECK("bf16 0x" << std::hex << h << " -> " << f << ", expected " << expected);
    }
  }
  CHECK(mismatches == 0);
  check_conversion(bf16_bits_to_float(0x3f80), 1.0, false);
  check_conversion(bf16_bits_to_float(0x3ec0), 0.375, false);
  check_conversion(bf16_bits_to_float(0x0001), std::ldexp(1.0, -133), false);
}

TEST_CASE("the tests' float to bf16 / f16 helpers round to nearest even", "[numeric][conversion]")
{
  // every f16 / bf16 value converts back to its own bits (NaN excluded)
  for (std::uint32_t h = 0; h < 0x10000u; ++h) {
    const bool f16_nan = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0;
    const bool bf16_nan = (h & 0x7f80u) == 0x7f80u && (h & 0x7fu) != 0;
    if (!f16_nan && float_to_f16_bits(f16_bits_to_float(static_cast<std::uint16_t>(h))) != h)
      FAIL("f16 round trip of " << h);
    if (!bf16_nan && float_to_bf16_bits(bf16_bits_to_float(static_cast<std::uint16_t>(h))) != h)
      FAIL("bf16 round trip of " << h);
  }
  CHECK(float_to_f16_bits(1.0f + 0x1p-11f) == 0x3c00);             // tie, to even
  CHECK(float_to_f16_bits(1.0f + 3 * 0x1p-11f) == 0x3c02);         // tie, to even (up)
  CHECK(float_to_f16_bits(1.0f + 0x1p-11f + 0x1p-20f) == 0x3c01);  // above the tie
  CHECK(float_to_f16_bits(65519.0f) == 0x7bff);
  CHECK(float_to_f16_bits(65520.0f) == 0x7c00);
  CHECK(float_to_f16_bits(0x1p-25f) == 0x0000);  // half the smallest subnormal: even
  CHECK(float_to_f16_bits(0x1.8p-25f) == 0x0001);
  CHECK(float_to_f16_bits(-0.0f) == 0x8000);
  CHECK(float_to_bf16_bits(1.0f + 0x1p-8f) == 0x3f80);
  CHECK(float_to_bf16_bits(1.0f + 3 * 0x1p-8f) == 0x3f82);
  CHECK(float_to_bf16_bits(FLT_MAX) == 0x7f80);
  CHECK(std::isnan(bf16_round(nan_f)));
}

TEST_CASE("load_as_float reads element i of an f32, bf16 or f16 array", "[numeric][conversion]")
{
  const float f32[] = {1.5f, -2.25f, 3.0e-41f};
  const std::uint16_t bf[] = {0x3fc0, 0xc010, 0x0001};
  const std::uint16_t h[] = {0x3e00, 0xc080, 0x0001};
  CHECK(load_as_float(f32, data_type::f32, 2) == 3.0e-41f);
  CHECK(load_as_float(bf, data_type::bf16, 0) == 1.5f);
  CHECK(load_as_float(bf, data_type::bf16, 1) == -2.25f);
  CHECK(load_as_float(bf, data_type::bf16, 2) == 0x1p-133f);
  CHECK(load_as_float(h, data_type::f16, 0) == 1.5f);
  CHECK(load_as_float(h, data_type::f16, 1) == -2.25f);
  CHECK(load_as_float(h, data_type::f16, 2) == 0x1p-24f);
}

// ---- score functions -----------------------------------------------------------------------------

TEST_CASE("the score functions follow their formulas, infinities included", "[numeric][scoring]")
{
  for (float x : {-20.0f, -3.5f, -1.0f, -0.125f, 0.0f, 0.7f, 2.0f, 9.0f, 15.0f}) {
    INFO("x = " << x);
    CHECK(close_rel(sigmoid_score(x), 1.0 / (1.0 + std::exp(-static_cast<double>(x))), 1e-6));
    CHECK(close_rel(sqrtsoftplus_score(x), std::sqrt(std::log1p(std::exp(static_cast<double>(x)))), 1e-6));
  }
  CHECK(sigmoid_score(inf_f) == 1.0f);
  CHECK(sigmoid_score(-inf_f) == 0.0f);
  CHECK(sqrtsoftplus_score(inf_f) == inf_f);
  CHECK(sqrtsoftplus_score(-inf_f) == 0.0f);
  CHECK(std::isnan(sqrtsoftplus_score(nan_f)));
  CHECK(softmax_numerator(1.0f, 1.0f) == 1.0f);
  CHECK(close_rel(softmax_numerator(-1.0f, 1.0f), std::exp(-2.0), 1e-6));
}

TEST_CASE("sigmoid of a very negative logit is the literal fp32 1 / (1 + exp(-x)): 0 where exp(-x) overflows",
          "[numeric][scoring]")
{
  CHECK(close_rel(sigmoid_score(-80.0f), std::exp(-80.0), 1e-6));
  // The threshold: exp(-x) overflows in fp32 at it and not just above it.
  const float zero_from = sigmoid_zero_at_or_below;
  const float above = std::nextafter(zero_from, 0.0f);
  CHECK(std::isinf(std::exp(-zero_from)));
  CHECK(std::isfinite(std::exp(-above)));
  CHECK(bits_of(sigmoid_score(zero_from)) == 0u);  // +0, never -0
  CHECK(sigmoid_score(above) > 0.0f);
  CHECK(sigmoid_score(above) < FLT_MIN);  // a denormal, as 1 / (1 + exp(-x)) gives there
  // Every float from the threshold up to -87 against the literal fp32 evaluation: 0 exactly
  // where it is 0, otherwise within a few units of the last place (denormals included).
  int compared = 0, differing = 0;
  for (float x = zero_from; x <= -87.0f; x = std::nextafter(x, 0.0f), ++compared) {
    const float literal = 1.0f / (1.0f + std::exp(-x));
    const float s = sigmoid_score(x);
    if ((literal == 0.0f) != (s == 0.0f) ||
        std::fabs(static_cast<double>(s) - literal) > 4.0 * std::ldexp(1.0, -149) + 1e-6 * literal)
      ++differing;
  }
  INFO(compared << " floats from " << zero_from << " to -87");
  CHECK(compared > 100000);
  CHECK(differing == 0);
  for (float x : {-95.0f, -104.0f, -200.0f, -FLT_MAX, -inf_f}) {
    INFO("x = " << x);
    CHECK(bits_of(sigmoid_score(x)) == 0u);
  }
  CHECK(std::isnan(sigmoid_score(nan_f)));
  CHECK(sigmoid_score(88.0f) == 1.0f);
}

// docs/semantics.md: the rearranged form t * r for negative x is within 4 ulp of the literal
// 1 / (1 + expf(-x)) (with glibc's expf in both; measured over every float), and is the literal
// form itself from 0 up. Every 13th float here, about 165 million.
TEST_CASE("sigmoid_score is within 4 ulp of the literal fp32 1 / (1 + exp(-x)), and equal to it from 0 up",
          "[numeric][scoring]")
{
  const std::uint32_t stride = 13;
  std::uint32_t worst = 0, differing = 0, compared = 0;
  float worst_x = 0.0f;
  // Negative x above the denormal band (the test above covers the band and the threshold).
  for (std::uint32_t b = bits_of(-87.33f); b > bits_of(-0.0f); b -= stride, ++compared) {
    const float x = moe_router::test::bits_to_float(b);
    const float s = sigmoid_score(x), literal = 1.0f / (1.0f + std::exp(-x));
    const std::uint32_t ulp = bits_of(s) > bits_of(literal) ? bits_of(s) - bits_of(literal) : bits_of(literal) - bits_of(s);
    differing += ulp != 0 ? 1u : 0u;
    if (ulp > worst) worst = ulp, worst_x = x;
  }
  INFO(compared << " negative floats, " << differing << " differ, at most " << worst << " ulp (x = " << worst_x << ")");
  CHECK(compared > 80000000u);
  CHECK(differing > 0u);  // the two forms are not the same function
  CHECK(worst <= 4u);
  std::uint32_t unequal = 0;
  for (std::uint64_t b = bits_of(0.0f); b <= bits_of(inf_f); b += stride) {
    const float x = moe_router::test::bits_to_float(static_cast<std::uint32_t>(b));
    unequal += bits_of(sigmoid_score(x)) != bits_of(1.0f / (1.0f + std::exp(-x))) ? 1u : 0u;
  }
  CHECK(unequal == 0u);
}

// What the outputs can show of the threshold: that sqrt(x) is taken where expf(x) overflows
// (from about 88.7: 89, 1000, 1e30 and FLT_MAX here; log1p(exp(x)) would give +inf). From about
// 16 up, log1p(exp(x)) rounds to x itself in fp32, so both forms give the same float there, and
// the threshold's exact place (20, and whether at or above it) shows only in the constant,
// checked first.
TEST_CASE("sqrtsoftplus is sqrt(x) for large x, without overflow up to FLT_MAX", "[numeric][scoring]")
{
  CHECK(softplus_threshold == 20.0f);
  for (const float x : {16.0f, 19.5f, 20.0f, 20.5f, 40.0f, 88.0f})
    CHECK(std::sqrt(std::log1p(std::exp(x))) == std::sqrt(x));  // why the place is not observable
  CHECK(sqrtsoftplus_score(20.5f) == std::sqrt(20.5f));
  CHECK(sqrtsoftplus_score(89.0f) == std::sqrt(89.0f));
  CHECK(sqrtsoftplus_score(1000.0f) == std::sqrt(1000.0f));
  CHECK(sqrtsoftplus_score(1e30f) == 1e15f);
  CHECK(sqrtsoftplus_score(FLT_MAX) == std::sqrt(FLT_MAX));
  // at 20 itself log1p(exp(20)) = 20 + 2e-9: the same float as 20
  CHECK(sqrtsoftplus_score(20.0f) == Approx(std::sqrt(20.0)).epsilon(1e-6));
  CHECK(elementwise_score(scoring_func::sigmoid, 0.0f) == 0.5f);
  CHECK(elementwise_score(scoring_func::sqrtsoftplus, 25.0f) == 5.0f);
}

// ---- order keys ----------------------------------------------------------------------------------

TEST_CASE("order_key increases with the value over the whole float line", "[numeric][order_key]")
{
  const std::vector<float> ascending = {-inf_f, -FLT_MAX, -1e30f,  -2.0f, -1.0f, -FLT_MIN,   -1e-40f, -1e-45f, 0.0f,
                                        1e-45f, 1e-40f,   FLT_MIN, 0.5f,  1.0f,  1.0000001f, 3e38f,   FLT_MAX, inf_f};
  for (std::size_t i = 0; i + 1 < ascending.size(); ++i) {
    INFO(ascending[i] << " < " << ascending[i + 1]);
    CHECK(order_key(ascending[i]) < order_key(ascending[i + 1]));
  }
  std::mt19937 rng(42);
  int wrong = 0;
  for (int i = 0; i < 200000; ++i) {
    const float a = float_of(rng()), b = float_of(rng());
    if (std::isnan(a) || std::isnan(b)) continue;
    const bool ok = (a < b) == (order_key(a) < order_key(b)) && (a == b) == (order_key(a) == order_key(b));
    if (!ok && ++wrong < 5) FAIL_CHECK(a << " vs " << b);
  }
  CHECK(wrong == 0);
}

TEST_CASE("order_key puts every NaN below -inf and -0.0 level with +0.0", "[numeric][order_key]")
{
  for (std::uint32_t nan_bits : {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu, 0xffffffffu}) {
    INFO(std::hex << nan_bits);
    CHECK(order_key(float_of(nan_bits)) == nan_key);
  }
  CHECK(excluded_key < nan_key);
  CHECK(nan_key < order_key(-inf_f));
  CHECK(order_key(-inf_f) == 0x007fffffu);
  CHECK(order_key(-0.0f) == order_key(0.0f));
  CHECK(order_key(-0.0f) > order_key(-1e-45f));
  CHECK(order_key(-0.0f) < order_key(1e-45f));
}

TEST_CASE("key_value gives back the value of every key of a real value", "[numeric][order_key]")
{
  std::mt19937 rng(43);
  int wrong = 0;
  for (int i = 0; i < 200000; ++i) {
    const std::uint32_t bits = rng();
    const float v = float_of(bits);
    if (std::isnan(v)) continue;
    const float back = key_value(order_key(v));
    const std::uint32_t expected = bits == 0x80000000u ? 0u : bits;
    if (bits_of(back) != expected && ++wrong < 5) FAIL_CHECK(std::hex << bits << " -> " << bits_of(back));
  }
  CHECK(wrong == 0);
  CHECK(bits_of(key_value(order_key(-0.0f))) == 0u);
  CHECK(key_value(order_key(-inf_f)) == -inf_f);
  CHECK(key_value(order_key(inf_f)) == inf_f);
  CHECK(std::isnan(key_value(nan_key)));
}

TEST_CASE("no score function returns -0.0, so choice_key(s, b) is order_key(s + b)", "[numeric][order_key]")
{
  // The logits that reach the corners of the score functions, then random bit patterns.
  std::vector<float> logits = {-0.0f, 0.0f, -inf_f, inf_f, -1e30f, 1e30f, -200.0f, -104.0f, -88.7f, -87.0f, -20.0f,
                               20.0f, 20.5f, -1e-45f, 1e-45f, -FLT_MIN, FLT_MIN, float_of(0x7fc00000u),
                               float_of(0xffc00000u)};
  std::mt19937 rng(44);
  for (int i = 0; i < 20000; ++i) logits.push_back(float_of(rng()));
  std::vector<float> scores;
  for (const float x : logits) {
    scores.push_back(sigmoid_score(x));
    scores.push_back(sqrtsoftplus_score(x));
    scores.push_back(softmax_numerator(x, 0.0f) / 3.0f);
    scores.push_back(softmax_numerator(x, x));
  }
  int negative_zeros = 0;
  for (const float s : scores) negative_zeros += bits_of(s) == 0x80000000u ? 1 : 0;
  CHECK(negative_zeros == 0);

  const std::vector<float> biases = {0.0f, -0.0f, 1.0f, -1.0f, -inf_f, inf_f, float_of(0x7fc00000u), 1e-45f, -1e-45f,
                                     -FLT_MAX, 0.05f, -0.05f};
  int wrong = 0;
  for (const float s : scores)
    for (const float b : biases)
      if (choice_key(s, b) != order_key(s + b) && ++wrong < 5) FAIL_CHECK(s << " + " << b);
  CHECK(wrong == 0);
  // The precondition matters: -0.0 + -0.0 is -0.0, which order_key ranks as +0.0.
  CHECK(choice_key(-0.0f, -0.0f) != order_key(-0.0f));
}

// ---- canonical_sum -------------------------------------------------------------------------------

TEST_CASE("canonical_sum pairs lane 0 with lane 16 before it sees lane 1", "[numeric][canonical_sum]")
{
  // E = 40: 2 experts per lane. Lane 0 = v0 + v1 = 1e8 + 1 = 1e8 (fp32), lane 1 = v2 = 1,
  // lane 16 = v32 = -1e8. Butterfly: offset 16 gives lane 0: 1e8 + -1e8 = 0, lane 1: 1 + 0 = 1;
  // offsets 8, 4, 2 add zeros; offset 1: 0 + 1 = 1. A left-to-right sum gives 0.
  std::vector<float> v(40, 0.0f);
  v[0] = 1e8f;
  v[1] = 1.0f;
  v[2] = 1.0f;
  v[32] = -1e8f;
  CHECK(canonical_sum(v.data(), 40) == 1.0f);
  float sequential = 0.0f;
  for (float x : v) sequential += x;
  CHECK(sequential == 0.0f);
  CHECK(experts_per_lane(40) == 2);
}

TEST_CASE("canonical_sum with fewer than 32 values pairs value i with value i + 16, then i + 8, ...",
          "[numeric][canonical_sum]")
{
  // E = 3, one value per lane: lanes 0..2 = {1e8, 1, -1e8}. Offset 2 gives lane 0: 1e8 + -1e8 = 0,
  // lane 1: 1 + 0; offset 1: 0 + 1 = 1.
  const float v[] = {1e8f, 1.0f, -1e8f};
  CHECK(canonical_sum(v, 3) == 1.0f);
  const float w[] = {0.25f};
  CHECK(canonical_sum(w, 1) == 0.25f);
  CHECK(experts_per_lane(1) == 1);
  CHECK(experts_per_lane(32) == 1);
  CHECK(experts_per_lane(33) == 2);
  CHECK(experts_per_lane(256) == 8);
  CHECK(experts_per_lane(384) == 12);
}

TEST_CASE("canonical_sum is the documented blocked, halving tree for every size", "[numeric][canonical_sum]")
{
  // The same order written as a reduction on a shrinking prefix: lane l < offset adds lane l + offset.
  auto tree_sum = [](const std::vector<float>& v) {
    const int n = static_cast<int>(v.size()), per_lane = (n + 31) / 32;
    std::vector<float> lane(32, 0.0f);
    for (int l = 0; l < 32; ++l)
      for (int j = 0; j < per_lane && l * per_lane + j < n; ++j) lane[l] += v[l * per_lane + j];
    for (int offset = 16; offset >= 1; offset /= 2)
      for (int l = 0; l < offset; ++l) lane[l] += lane[l + offset];
    return lane[0];
  };
  std::mt19937 rng(44);
  std::uniform_real_distribution<float> d(0.0f, 1.0f);
  for (int n : {1, 2, 7, 16, 31, 32, 33, 40, 64, 100, 160, 256, 384, 1000, 4096}) {
    for (int repeat = 0; repeat < 4; ++repeat) {
      std::vector<float> v(n);
      for (float& x : v) x = std::exp(20.0f * d(rng) - 10.0f);  // wide magnitudes: the order shows
      INFO("n = " << n);
      CHECK(bits_of(canonical_sum(v.data(), n)) == bits_of(tree_sum(v)));
    }
  }
}

// ---- validate_params -----------------------------------------------------------------------------

namespace {

struct bad_case {
  const char* what;  // the change, for the report
  std::function<void(route_params&)> change;
  const char* mentions;  // a word the reason must contain
};

}  // namespace

TEST_CASE("each bad parameter is rejected with a reason that names it, and nothing is written", "[numeric][validate]")
{
  constexpr int T = 2;
  alignas(16) static float logits[T * 256 + 8];
  alignas(16) static float bias[256 + 8];
  alignas(16) static float weights[T * 70 + 8];
  alignas(16) static std::int64_t ids[T * 70 + 8];
  alignas(16) static char bytes[64];

  const std::vector<bad_case> cases = {
      {"null logits", [](route_params& p) { p.logits = nullptr; }, "logits"},
      {"null weights", [](route_params& p) { p.weights = nullptr; }, "weights"},
      {"null ids", [](route_params& p) { p.ids = nullptr; }, "ids"},
      {"E not a multiple of G", [](route_params& p) { p.num_groups = 5; }, "num_groups"},
      {"TG > G", [](route_params& p) { p.topk_group = 9; }, "topk_group"},
      {"TG < 1", [](route_params& p) { p.topk_group = 0; }, "topk_group"},
      {"K == 0", [](route_params& p) { p.topk = 0; }, "topk"},
      {"K > TG * E / G", [](route_params& p) { p.topk = 4 * 32 + 1; }, "topk"},
      {"top2_sum with one expert per group",
       [](route_params& p) {
         p.num_experts = 8;
         p.topk = 2;
       },
       "top2_sum"},
      {"E < 1", [](route_params& p) { p.num_experts = 0; }, "num_experts"},
      {"G < 1", [](route_params& p) { p.num_groups = 0; }, "num_groups"},
      {"stride between 0 and E", [](route_params& p) { p.row_stride = 255; }, "row_stride"},
      {"negative stride", [](route_params& p) { p.row_stride = -256; }, "row_stride"},
      {"negative num_tokens", [](route_params& p) { p.num_tokens = -1; }, "num_tokens"},
      {"two shared slots", [](route_params& p) { p.num_shared_slots = 2; }, "num_shared_slots"},
      {"negative shared slots", [](route_params& p) { p.num_shared_slots = -1; }, "num_shared_slots"},
      {"no shared experts for the shared slot",
       [](route_params& p) {
         p.num_shared_slots = 1;
         p.num_shared_experts = 0;
       },
       "num_shared_experts"},
      {"factor 0", [](route_params& p) { p.routed_scaling_factor = 0.0f; }, "routed_scaling_factor"},
      {"negative factor", [](route_params& p) { p.routed_scaling_factor = -2.5f; }, "routed_scaling_factor"},
      {"infinite factor", [](route_params& p) { p.routed_scaling_factor = inf_f; }, "routed_scaling_factor"},
      {"NaN factor", [](route_params& p) { p.routed_scaling_factor = nan_f; }, "routed_scaling_factor"},
      {"E beyond the reference limit",
       [](route_params& p) {
         p.num_experts = reference_limits.max_experts + 8;
         p.row_stride = 0;
       },
       "num_experts"},
      {"K beyond the reference limit",
       [](route_params& p) {
         p.num_groups = 1;
         p.topk_group = 1;
         p.topk = reference_limits.max_topk + 1;
       },
       "topk"},
      {"f16 bias", [](route_params& p) { p.bias_type = data_type::f16; }, "bias_type"},
      {"unknown scoring function", [](route_params& p) { p.scoring = static_cast<scoring_func>(7); }, "scoring"},
      {"misaligned f32 logits", [](route_params& p) { p.logits = bytes + 2; }, "logits"},
      {"misaligned bf16 logits",
       [](route_params& p) {
         p.logits = bytes + 1;
         p.logits_type = data_type::bf16;
       },
       "logits"},
      {"misaligned weights", [](route_params& p) { p.weights = reinterpret_cast<float*>(bytes + 2); }, "weights"},
      {"misaligned i64 ids", [](route_params& p) { p.ids = bytes + 4; }, "ids"},
      {"misaligned i32 ids",
       [](route_params& p) {
         p.ids = bytes + 2;
         p.ids_type = index_type::i32;
       },
       "ids"},
      {"misaligned f32 bias", [](route_params& p) { p.bias = bytes + 2; }, "bias"},
  };

  for (const bad_case& c : cases) {
    INFO(c.what);
    for (float& f : logits) f = 0.5f;
    for (float& f : weights) f = 42.0f;
    for (std::int64_t& i : ids) i = 4242;
    for (char& b : bytes) b = 0x11;
    route_params p;
    p.num_experts = 256;
    p.num_groups = 8;
    p.topk_group = 4;
    p.topk = 8;
    p.logits = logits;
    p.bias = bias;
    p.num_tokens = T;
    p.weights = weights;
    p.ids = ids;
    p.ids_type = index_type::i64;
    REQUIRE(validate_params(p));  // the base case is fine
    c.change(p);
    CHECK_FALSE(validate_params(p));
    const std::string reason = last_error_message();
    INFO("reason: " << reason);
    CHECK(reason.find(c.mentions) != std::string::npos);
    CHECK_FALSE(host_route(p));
    CHECK(std::string(last_error_message()) == reason);
    bool untouched = true;
    for (float f : weights) untouched = untouched && f == 42.0f;
    for (std::int64_t i : ids) untouched = untouched && i == 4242;
    for (char b : bytes) untouched = untouched && b == 0x11;
    CHECK(untouched);
  }
}

TEST_CASE("a failed call's reason is cleared by the next call that succeeds", "[numeric][validate]")
{
  route_params p;
  p.num_experts = 16;
  p.topk = 0;
  CHECK_FALSE(host_route(p));
  CHECK_FALSE(std::string(last_error_message()).empty());
  p.topk = 2;
  CHECK(host_route(p));
  CHECK(std::string(last_error_message()).empty());
}

TEST_CASE("an empty call passes with null pointers but still needs a valid shape", "[numeric][validate]")
{
  route_params p;
  p.num_experts = 384;
  p.topk = 8;
  p.num_tokens = 0;
  CHECK(validate_params(p));
  CHECK(host_route(p));
  p.num_groups = 7;
  CHECK_FALSE(host_route(p));
  CHECK(std::string(last_error_message()).find("num_groups") != std::string::npos);
}

TEST_CASE("misaligned or null pointers are not checked when there are no tokens", "[numeric][validate]")
{
  alignas(8) static char bytes[16];
  route_params p;
  p.num_experts = 8;
  p.topk = 2;
  p.num_tokens = 0;
  p.logits = bytes + 1;
  p.weights = reinterpret_cast<float*>(bytes + 1);
  CHECK(validate_params(p));
}
