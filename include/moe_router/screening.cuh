/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file screening.cuh
 * @brief Screening: choose experts from cheap approximate choice keys, and prove from error
 * bounds that the exact keys choose the same; when the bounds cannot prove it, the caller
 * routes the token again with the exact keys.
 *
 * The contract's sigmoid (numeric.hpp's `sigmoid_score`) costs about 15 instructions per
 * expert; `screen_sigmoid` costs 3 (one of them MUFU). It differs from `sigmoid_score` by at
 * most `screen_score_error` for every fp32 input (checked over all 2^32 inputs by
 * tests/gpu/screening_test.cu). A screened key is `screen_key(x, screen_bias(b))`, that is
 * 0.5 tanh(x / 2) + (0.5 + b) with one rounding after `screen_bias`'s (about
 * `fl(screen_sigmoid(x) + b)`), the exact one `fl(sigmoid_score(x) + b)`; `screen_lower` and
 * `screen_upper` bound the exact key from the screened one, rounding outward, so every
 * comparison the selection makes can be checked: "expert i certainly beats j" is
 * `screen_lower(key_i) > screen_upper(key_j)`.
 *
 * Only the choice (which experts, in which order) is screened. The weights come from the
 * chosen experts' exact scores, so a screened route is bit for bit the exact one.
 *
 * The error bound is measured, not derived from documented accuracies: the MUFU's approximate
 * hyperbolic tangent is checked over every input on the card screening_test runs on (sm_90, an
 * H100: the largest difference is 3.99e-6, 2^-17.93, at x = 2.4375; 1.9 times below half the
 * bound). The PTX manual promises less (a relative error of about 2^-11), so on any other
 * architecture the screened score is the exact one (`detail::screen_tanh_half`) until
 * screening_test has run there. Code from sm_90 PTX keeps the tangent when the driver compiles
 * that PTX for a later card, so `route_fused` runs the warp kernel there instead
 * (`detail::screened_code_measured`).
 */

#include <moe_router/numeric.hpp>

#include <cstdint>

namespace moe_router {

/**
 * @brief Twice the largest |screen_sigmoid(x) - sigmoid_score(x)| allowed over every fp32 x
 * (NaN aside, where both are NaN): 2^-16. tests/gpu/screening_test.cu checks all 2^32 inputs
 * against half of it; the factor of two covers the small terms the key bounds leave out.
 */
constexpr float screen_score_error = 1.52587890625e-5f;  // 2^-16

namespace detail {

/// tanh(x / 2) with the MUFU's approximate hyperbolic tangent: the one approximation that both
/// `screen_sigmoid` (which screening_test measures) and `screen_key` (which the kernel uses) rest on.
/// Only where its error was measured over every input (sm_90: H100, H200). Compiled for any
/// other architecture it is 2 s - 1 from the exact sigmoid `s`: the screened keys are then the
/// exact ones within a rounding, the proof holds and only the saving is lost (run screening_test
/// there, and widen this to that architecture if it passes, to have the saving).
__device__ __forceinline__ float screen_tanh_half(float x)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900
  float t;
  asm("tanh.approx.f32 %0, %1;" : "=f"(t) : "f"(__fmul_rn(x, 0.5f)));
  return t;
#else
  return __fmaf_rn(sigmoid_score(x), 2.0f, -1.0f);
#endif
}

}  // namespace detail

/**
 * @brief (1 + tanh(x / 2)) / 2 with the MUFU's approximate hyperbolic tangent: a multiply, the
 * tangent and a fused multiply-add, where 1 / (1 + 2^(-x log2 e)) with the approximate
 * exponential and reciprocal took four instructions, two of them MUFU. Its error is about 20
 * times larger (the bound went from 2^-20 to 2^-16), which adds few candidates: measured on an
 * H100, DeepSeek-V3 and Kimi-K2 bf16 at 131072 tokens took 3% and 5% less time (Kimi-K2 fp32,
 * whose warps wait more than they issue, 1% to 3% more from 32768 tokens: fewer instructions,
 * longer waits on MUFU and shared-memory results; docs/performance.md). Large |x|: the tangent
 * is +-1 and the score 1 or 0. NaN gives NaN.
 */
__device__ __forceinline__ float screen_sigmoid(float x) { return __fmaf_rn(detail::screen_tanh_half(x), 0.5f, 0.5f); }

/// The bias as `screen_key` adds it: 0.5 + b, rounded. Worked out once per expert (the tiled
/// kernel keeps a row of them in shared memory).
__host__ __device__ __forceinline__ float screen_bias(float b) { return add_rn(0.5f, b); }

/**
 * @brief The screened key of logit `x`, given `screen_b` = `screen_bias(b)`: 0.5 tanh(x / 2) +
 * (0.5 + b) as one fused multiply-add, where `screen_sigmoid(x) + b` takes two instructions
 * (measured on an H100 against screen_sigmoid + b: DeepSeek-V3 1.8% to 5.6% faster, Kimi-K2 bf16
 * 2.3% to 7.0%). The bounds below hold for this key (`detail::screen_key_error` says why), and
 * screening_test checks them on it.
 */
__device__ __forceinline__ float screen_key(float x, float screen_b)
{
  return __fmaf_rn(detail::screen_tanh_half(x), 0.5f, screen_b);
}

/// Which score functions can be screened (sigmoid; softmax and sqrtsoftplus are not).
__host__ __device__ constexpr bool screenable(scoring_func f) { return f == scoring_func::sigmoid; }

namespace detail {

/// The widest distance between a screened key k = fl(0.5 t + fl(0.5 + b)) (`screen_key`, t the
/// approximate tanh(x / 2)) and the exact key E = fl(s + b), rounded up. It is at most the
/// score's error |0.5 + 0.5 t - s|, which the 2^32 sweep holds to half of `screen_score_error`
/// (plus 2^-25: the sweep measures the rounded `screen_sigmoid`), plus three roundings, of
/// 0.5 + b, of k and of E: 2^-24 (|0.5 + b| + |k| + |E|) <= 3 * 2^-24 |k| + 2^-24, since
/// |0.5 + b| <= |k| + 0.5 and |E - k| is tiny. The 2^-22 |k| term and the other half of
/// `screen_score_error` (2^-17) cover both.
__device__ __forceinline__ float screen_key_error(float k)
{
  return __fmaf_ru(fabsf(k), 2.384185791015625e-7f /* 2^-22 */, screen_score_error);
}

}  // namespace detail

/**
 * @brief The smallest value the exact key can have, given the screened key `k` (rounded down;
 * -inf for -inf, and NaN when nothing is known: `k` NaN or +inf). Every comparison with NaN is
 * false, so it never proves anything.
 */
__device__ __forceinline__ float screen_lower(float k) { return __fsub_rd(k, detail::screen_key_error(k)); }

/// The largest value the exact key can have, given the screened key `k` (rounded up; +inf for
/// +inf, NaN when nothing is known: `k` NaN or -inf).
__device__ __forceinline__ float screen_upper(float k) { return __fadd_ru(k, detail::screen_key_error(k)); }

/**
 * @brief A screened key `a` below which no key can matter, given `floor`, a screened key that
 * at least K kept experts reach: every screened key below `a` has an exact key below
 * `screen_lower(floor)`, which at least K kept experts' exact keys reach. NaN when that cannot
 * be shown (`floor` not finite).
 */
__device__ __forceinline__ float screen_candidate_bound(float floor)
{
  const float low = screen_lower(floor);
  const float bound = __fsub_rd(low, 2.0f * detail::screen_key_error(low));
  // A key k's exact key is at most k + 2^-22 |k| + screen_score_error, which grows with k and
  // which screen_upper(k) rounds up: keys below `bound` have exact keys below `low`.
  return fabsf(low) < INFINITY && screen_upper(bound) < low ? bound : __int_as_float(0x7fffffff);
}

/// The order key at or below every key a lower bound allows (a NaN bound gives `nan_key`, the
/// smallest key of a real expert).
__device__ __forceinline__ std::uint32_t screen_lower_key(float low) { return order_key(low); }

/// The order key at or above every key an upper bound allows (the largest key when NaN).
__device__ __forceinline__ std::uint32_t screen_upper_key(float high) { return high == high ? order_key(high) : ~0u; }

}  // namespace moe_router
