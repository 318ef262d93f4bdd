/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file numeric.hpp
 * @brief The scalar arithmetic that every kernel must do identically: input conversion,
 * the score functions, the order of choice scores and the fp32 summation order of softmax.
 *
 * These are the only pieces the fused kernel shares with the reference paths (everything
 * else is written twice on purpose, so that a bug cannot hide by living in both). Host and
 * device builds differ only in the `expf` / `log1pf` they call, which is why the host
 * reference agrees with the kernels to a few ulp and not bit for bit.
 */

#include <moe_router/detail/host_device.hpp>
#include <moe_router/types.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>

namespace moe_router {

// ---- input conversion (exact) ----------------------------------------------------------------

/// bfloat16 bits to float (exact: bf16 is the upper half of a float).
MOE_ROUTER_HD float bf16_bits_to_float(std::uint16_t bits)
{
  const std::uint32_t u = static_cast<std::uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// IEEE half bits to float (exact, subnormals, inf and NaN included).
MOE_ROUTER_HD float f16_bits_to_float(std::uint16_t bits)
{
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  const std::uint32_t mantissa = bits & 0x3ffu;
  std::uint32_t u;
  if (exponent == 0) {
    // zero or subnormal: mantissa * 2^-24, exact in float
    float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    std::memcpy(&u, &magnitude, sizeof u);
    u |= sign;
  } else if (exponent == 31) {
    u = sign | 0x7f800000u | (mantissa << 13);
  } else {
    u = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// Element `index` of an f32 / bf16 / f16 array, as float.
MOE_ROUTER_HD float load_as_float(const void* base, data_type type, std::int64_t index)
{
  if (type == data_type::f32) return static_cast<const float*>(base)[index];
  const std::uint16_t bits = static_cast<const std::uint16_t*>(base)[index];
  return type == data_type::bf16 ? bf16_bits_to_float(bits) : f16_bits_to_float(bits);
}

// ---- one rounding per operation -------------------------------------------------------------

/**
 * @brief a + b, rounded once and never fused with a multiply into an FMA. The kernels agree bit
 * for bit only if every addition and multiplication of the contract is its own operation in
 * all of them; the compiler may otherwise contract a product and a sum differently in each
 * kernel. On the host: plain `+`.
 */
MOE_ROUTER_HD float add_rn(float a, float b)
{
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

/// a * b, rounded once and never fused with an addition (see `add_rn`).
MOE_ROUTER_HD float mul_rn(float a, float b)
{
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

// ---- score functions (step 1) ----------------------------------------------------------------

/**
 * @brief 1 / y for y in [1, 2]: on the device one approximate reciprocal and one Newton step
 * (the fast path of IEEE `rcp.rn`, without its range checks and branch, which this range never
 * needs); on the host, IEEE division.
 */
MOE_ROUTER_HD float reciprocal_1_to_2(float y)
{
#if defined(__CUDA_ARCH__)
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(y));
  return fmaf(r, fmaf(-y, r, 1.0f), r);
#else
  return 1.0f / y;
#endif
}

/// The largest x whose sigmoid is 0 in fp32: `1 / (1 + exp(-x))` evaluated in fp32 is 0 from
/// here down, where exp(-x) overflows (exp(88.72283935546875) is above FLT_MAX, exp of the
/// float below it is not).
constexpr float sigmoid_zero_at_or_below = -88.72283935546875f;

/**
 * @brief sigmoid, 1 / (1 + exp(-x)) in fp32, evaluated without a branch: t = exp(-|x|) in
 * [0, 1], r = 1 / (1 + t), and the score is r for x >= 0, t * r otherwise (the same value:
 * e^x / (1 + e^x)). At or below `sigmoid_zero_at_or_below`, where exp(-x) overflows and the
 * literal fp32 evaluation (PyTorch's `torch.sigmoid` among them) gives 0, t is taken as 0, so
 * that t * r is 0 too: it would go on down through the denormals to about -104. (Zeroing t
 * before the reciprocal rather than the result after it: with the select last, the tiled
 * kernel of Kimi-K2 with bf16 logits spilled 12 bytes at its 96 registers.)
 */
MOE_ROUTER_HD float sigmoid_score(float x)
{
  const float exp_neg_abs = expf(-fabsf(x));
  const float t = x <= sigmoid_zero_at_or_below ? 0.0f : exp_neg_abs;
  const float r = reciprocal_1_to_2(add_rn(1.0f, t));
  return x >= 0.0f ? r : mul_rn(t, r);
}

/// Above this, softplus(x) is x itself in fp32 (the threshold PyTorch uses).
constexpr float softplus_threshold = 20.0f;

/// sqrt(softplus(x)), softplus without overflow: x for large x, log1p(exp(x)) otherwise.
MOE_ROUTER_HD float sqrtsoftplus_score(float x)
{
  const float softplus = x > softplus_threshold ? x : log1pf(expf(x));
  return sqrtf(softplus);
}

/// Score of one logit for the element-wise score functions (not softmax).
MOE_ROUTER_HD float elementwise_score(scoring_func f, float x)
{
  return f == scoring_func::sigmoid ? sigmoid_score(x) : sqrtsoftplus_score(x);
}

/// softmax numerator: exp(x - row_max).
MOE_ROUTER_HD float softmax_numerator(float x, float row_max) { return expf(x - row_max); }

// ---- the order of choice scores --------------------------------------------------------------

/// Key of the experts (or groups) that may not be chosen: below every real score, NaN included.
constexpr std::uint32_t excluded_key = 0u;
/// Key of every NaN: below every other value, -inf included.
constexpr std::uint32_t nan_key = 1u;

/**
 * @brief Map a choice score to an unsigned key whose integer order is the contract's order:
 * larger value = larger key, -0.0 == +0.0, every NaN = `nan_key` (below -inf, whose key is
 * 0x007fffff). Equal keys are broken by the lower index, outside this function.
 */
MOE_ROUTER_HD std::uint32_t order_key(float v)
{
  const float canonical = v + 0.0f;  // -0.0 + 0.0 is +0.0: -0.0 ranks as +0.0
  std::uint32_t u;
  std::memcpy(&u, &canonical, sizeof u);
  // Negative values: flip every bit; positive ones: set the sign bit.
  const std::uint32_t key = u ^ (static_cast<std::uint32_t>(static_cast<std::int32_t>(u) >> 31) | 0x80000000u);
  return v != v ? nan_key : key;
}

/**
 * @brief `order_key(s + b)` for a score `s` that is never -0.0 (every score function gives
 * +0.0 or more, or NaN): then `s + b` is never -0.0 either (a sum is -0.0 only when both terms
 * are), so the key needs no sign canonicalization. One instruction fewer per expert.
 */
MOE_ROUTER_HD std::uint32_t choice_key(float s, float b)
{
  const float v = add_rn(s, b);
  std::uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  const std::uint32_t key = u ^ (static_cast<std::uint32_t>(static_cast<std::int32_t>(u) >> 31) | 0x80000000u);
  return v != v ? nan_key : key;
}

/// Inverse of `order_key` for keys of real values (-0.0 comes back as +0.0); NaN for `nan_key`.
MOE_ROUTER_HD float key_value(std::uint32_t key)
{
  const std::uint32_t u = (key & 0x80000000u) ? (key & 0x7fffffffu) : ~key;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// ---- the fp32 summation order of the softmax denominator ------------------------------------

/// Lanes of the canonical sum (a warp).
constexpr int canonical_sum_lanes = 32;

/// Experts each lane holds in the canonical layout: ceil(E / 32), lane l holds l*V .. l*V+V-1.
MOE_ROUTER_HD constexpr int experts_per_lane(int num_experts)
{
  return (num_experts + canonical_sum_lanes - 1) / canonical_sum_lanes;
}

/**
 * @brief The softmax denominator, in the one order every kernel uses: lane l of 32 adds its
 * experts l*V .. l*V+V-1 in index order (starting from 0.0f), then the 32 partial sums are
 * combined by a butterfly: for offset 16, 8, 4, 2, 1, partial[l] += partial[l ^ offset].
 * The fused kernel does exactly this with warp shuffles; this is the sequential statement.
 */
MOE_ROUTER_HD float canonical_sum(const float* values, int num_values)
{
  const int V = experts_per_lane(num_values);
  float partial[canonical_sum_lanes];
  for (int lane = 0; lane < canonical_sum_lanes; ++lane) {
    float sum = 0.0f;
    for (int j = 0; j < V; ++j) {
      const int i = lane * V + j;
      if (i < num_values) sum = add_rn(sum, values[i]);
    }
    partial[lane] = sum;
  }
  for (int offset = canonical_sum_lanes / 2; offset >= 1; offset /= 2) {
    float next[canonical_sum_lanes];
    for (int lane = 0; lane < canonical_sum_lanes; ++lane) next[lane] = add_rn(partial[lane], partial[lane ^ offset]);
    for (int lane = 0; lane < canonical_sum_lanes; ++lane) partial[lane] = next[lane];
  }
  return partial[0];
}

}  // namespace moe_router
