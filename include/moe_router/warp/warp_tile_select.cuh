/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file warp_tile_select.cuh
 * @brief The tiled kernel's scoring and top-K: steps 1-5 of docs/semantics.md for the four
 * tokens of a warp whose rows sit in shared memory (`row_tile`, 8 lanes per token).
 *
 * Thread contract: all 32 lanes of a converged warp call each function; token lane l of the
 * warp's token `lane / 8` works on experts l*V .. l*V+V-1 of that token's row. Nothing of a
 * token's V experts is held in registers across steps: `tile_score_keys` reads the logits
 * and writes the choice keys to a key tile, `tile_topk` reads the keys back. Group selection is
 * `warp_select_groups` and the epilogue `warp_store_row`, as in the register kernels.
 *
 * `tile_topk` is `warp_topk`'s method on keys in shared memory: a lower bound on the K-th key
 * (`topk_floor`), the candidates at or above it packed in expert order (a scan of the lanes'
 * counts over the token's 8 lanes), each candidate ranked by how many others beat it, and rank
 * r < K is slot r. More than `tile_max_candidates` candidates (many equal keys) take K exact
 * rounds instead.
 */

#include <moe_router/config.cuh>
#include <moe_router/numeric.hpp>
#include <moe_router/screening.cuh>
#include <moe_router/warp/token_lanes.cuh>
#include <moe_router/warp/warp_select.cuh>
#include <moe_router/warp/warp_stage_rows.cuh>

#include <cstdint>
#include <type_traits>

namespace moe_router {

/// The most candidates `tile_topk` ranks; more take the exact rounds.
constexpr int tile_max_candidates = 32;
/// The largest K of `tile_topk` (token lane k holds slot k).
constexpr int tile_max_topk = 8;

/// Shared memory of `tile_topk` for one token (the caller owns it; 352 bytes, 16-byte aligned:
/// the keys are read 16 bytes at a time).
struct alignas(16) tile_topk_storage {
  /// The packed candidates' choice keys, in expert order; zero past the last (no key beats it).
  std::uint32_t candidate_key[tile_max_candidates + 4];
  /// The packed candidates' experts, in increasing order (so that a lower index is the lower
  /// expert, which wins a tie).
  std::uint32_t candidate_expert[tile_max_candidates + 4];
  int slot_expert[tile_max_topk];   ///< slot k's expert
  float slot_score[tile_max_topk];  ///< slot k's score
};

namespace detail {

/// The `chunk_elements` logits of a 16-byte chunk as fp32 (exact).
template <class T>
__device__ __forceinline__ void chunk_to_float(uint4 raw, float (&x)[16 / sizeof(T)])
{
  const std::uint32_t word[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int w = 0; w < 4; ++w) {
    if constexpr (std::is_same<T, float>::value) {
      x[w] = __uint_as_float(word[w]);
    } else if constexpr (std::is_same<T, __nv_bfloat16>::value) {
      x[2 * w] = __uint_as_float(word[w] << 16);
      x[2 * w + 1] = __uint_as_float(word[w] & 0xffff0000u);
    } else {
      x[2 * w] = __half2float(__ushort_as_half(static_cast<unsigned short>(word[w] & 0xffffu)));
      x[2 * w + 1] = __half2float(__ushort_as_half(static_cast<unsigned short>(word[w] >> 16)));
    }
  }
}

/// A set of a lane's V experts, bit j for expert tl*V + j.
template <class Config>
using segment_mask = std::conditional_t<(Config::experts_per_lane <= 32), std::uint32_t, std::uint64_t>;

/// The experts of token lane `tl`'s segment of row `row` whose key `k` has `test(k)`.
template <class Config, class Test>
__device__ __forceinline__ segment_mask<Config> keys_where(const row_tile<Config, std::uint32_t>& keys, int row, int tl,
                                                           Test test)
{
  using key_tile = row_tile<Config, std::uint32_t>;
  using mask_t = segment_mask<Config>;
  // Two 32-bit words of predicated ORs, so that they form two chains, not one: the even and odd
  // experts of a 32-bit mask, the low and high words of a 64-bit one (a 64-bit OR is two).
  constexpr bool wide = sizeof(mask_t) == 8;
  std::uint32_t word[2] = {0, 0};
#pragma unroll
  for (int kc = 0; kc < key_tile::segment_chunks; ++kc) {
    const uint4 k = keys.chunk[key_tile::segment_chunk(row, tl, kc)];
    const std::uint32_t k4[4] = {k.x, k.y, k.z, k.w};
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int bit = 4 * kc + u;
      const int w = wide ? bit / 32 : u % 2;
      word[w] = detail::or_if(word[w], test(k4[u]), 1u << (bit % 32));
    }
  }
  if constexpr (wide) return (static_cast<mask_t>(word[1]) << 32) | word[0];
  else return word[0] | word[1];
}

/// The experts of token lane `tl`'s segment of row `row` whose order key is at or above `lowest`.
template <class Config>
__device__ __forceinline__ segment_mask<Config> keys_at_or_above(const row_tile<Config, std::uint32_t>& keys, int row,
                                                                 int tl, std::uint32_t lowest)
{
  return keys_where<Config>(keys, row, tl, [lowest](std::uint32_t k) { return k >= lowest; });
}

/// The experts of token lane `tl`'s segment of row `row` whose screened key (a float, see
/// `tile_score_keys`) is at or above `bound` (none when `bound` is NaN, and never a NaN key).
template <class Config>
__device__ __forceinline__ segment_mask<Config> screened_keys_at_or_above(const row_tile<Config, std::uint32_t>& keys,
                                                                          int row, int tl, float bound)
{
  return keys_where<Config>(keys, row, tl, [bound](std::uint32_t k) { return __uint_as_float(k) >= bound; });
}

/// max and min that return NaN when either operand is (`fmaxf` ignores a NaN).
__device__ __forceinline__ float max_nan(float a, float b)
{
  float r;
  asm("max.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
  return r;
}
__device__ __forceinline__ float min_nan(float a, float b)
{
  float r;
  asm("min.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
  return r;
}

/// The best two of four keys: the larger of the two pairs' larger ones, and the lower of those
/// or the larger of the pairs' smaller ones. As order keys, and as screened keys (floats, NaN
/// when any is).
__device__ __forceinline__ void best_two_of_four(const std::uint32_t (&k)[4], std::uint32_t& best,
                                                 std::uint32_t& second)
{
  const std::uint32_t high01 = max(k[0], k[1]), high23 = max(k[2], k[3]);
  best = max(high01, high23);
  second = max(min(high01, high23), max(min(k[0], k[1]), min(k[2], k[3])));
}
__device__ __forceinline__ void best_two_of_four(const float (&k)[4], float& best, float& second)
{
  const float high01 = max_nan(k[0], k[1]), high23 = max_nan(k[2], k[3]);
  best = max_nan(high01, high23);
  second = max_nan(min_nan(high01, high23), max_nan(min_nan(k[0], k[1]), min_nan(k[2], k[3])));
}

/// Remove the lowest member of a non-empty `mask` and return it.
template <class Mask>
__device__ __forceinline__ int take_lowest(Mask& mask)
{
  int j;
  if constexpr (sizeof(Mask) == 4) {
    j = __ffs(mask) - 1;
  } else {
    // By 32-bit words: `__ffsll` isolates the lowest bit of all 64 first (10 instructions
    // against 6 in the SASS of Kimi-K2's packing loop).
    const auto low = static_cast<std::uint32_t>(mask);
    j = low != 0 ? __ffs(low) - 1 : 31 + __ffs(static_cast<std::uint32_t>(mask >> 32));
  }
  mask &= mask - 1;
  return j;
}

}  // namespace detail

namespace detail {

/// `tile_score_keys` with the lane's chunks from `chunk_of(c)` (chunk c of its segment).
template <class Config, bool Screen, class ChunkOf, class BiasChunkOf>
__device__ __forceinline__ lane_candidates tile_score_chunks(ChunkOf chunk_of, BiasChunkOf bias_chunk_of,
                                                             row_tile<Config, std::uint32_t>& keys, int lane)
{
  using logit_type = typename Config::logit_type;
  using logit_tile = row_tile<Config, logit_type>;
  using key_tile = row_tile<Config, std::uint32_t>;
  constexpr int per_chunk = logit_tile::chunk_elements;
  const int row = lane / Config::token_lanes;
  const int tl = token_lane<Config>(lane);
  // Without groups the lane's two keys serve only `topk_floor`, where the keys of any two of
  // its experts give a valid bound: the two best of four running maxima (key u of each chunk of
  // four into quarter u), one instruction an expert instead of three, for a slightly lower bound
  // (a token's candidates 8.8 -> 9.4 on average, Kimi-K2 rows like the benchmark's). Measured
  // on an H100, tiled kernel forced, from 32 experts a lane: Kimi-K2 bf16 2.2% to 3.6% faster
  // from 32768 tokens, MiniMax-M2 bf16 3.9% to 4.6%, the fp32 kernels (held by memory) 0% to
  // 1.8%; GLM-4.5 (20 experts a lane) lost 1.2% to 2.7% at 8192 to 32768 tokens.
  constexpr bool quarter_maxima = Config::num_groups == 1 && Config::experts_per_lane >= 32;
  std::uint32_t best = excluded_key, second = excluded_key;  // exact keys
  float best_value = -INFINITY, second_value = -INFINITY;       // screened: NaN once any key is
  std::uint32_t quarter[4] = {excluded_key, excluded_key, excluded_key, excluded_key};
  float quarter_value[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
#pragma unroll
  for (int c = 0; c < logit_tile::segment_chunks; ++c) {
    float x[per_chunk];
    chunk_to_float<logit_type>(chunk_of(c), x);
#pragma unroll
    for (int h = 0; h < per_chunk / 4; ++h) {
      const int kc = c * (per_chunk / 4) + h;  // the key chunk of these four experts
      const uint4 b = bias_chunk_of(kc);
      const float b4[4] = {__uint_as_float(b.x), __uint_as_float(b.y), __uint_as_float(b.z), __uint_as_float(b.w)};
      std::uint32_t k[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        if constexpr (Screen) {
          // Screened keys stay floats (no order key: 4 instructions an expert less); a NaN
          // makes the lane's best two NaN, which proves nothing (see screened_keys_at_or_above).
          const float v = screen_key(x[4 * h + u], b4[u]);  // b4: screen_bias(b)
          k[u] = __float_as_uint(v);
          if constexpr (quarter_maxima) {
            quarter_value[u] = max_nan(quarter_value[u], v);
          } else {
            second_value = max_nan(second_value, min_nan(best_value, v));
            best_value = max_nan(best_value, v);
          }
        } else {
          k[u] = choice_key(elementwise_score(Config::scoring, x[4 * h + u]), b4[u]);
          if constexpr (quarter_maxima) {
            quarter[u] = max(quarter[u], k[u]);
          } else {
            offer_best_two(best, second, k[u]);
          }
        }
      }
      keys.chunk[key_tile::segment_chunk(row, tl, kc)] = make_uint4(k[0], k[1], k[2], k[3]);
    }
  }
  if constexpr (quarter_maxima) {
    if constexpr (Screen)
      best_two_of_four(quarter_value, best_value, second_value);
    else
      best_two_of_four(quarter, best, second);
  }
  if constexpr (Screen) {
    best = order_key(best_value);  // nan_key for NaN
    second = order_key(second_value);
  }
  lane_candidates result{best, second, true, excluded_key};
  result.screened = Screen;
  return result;
}

}  // namespace detail

/**
 * @brief Score the calling lane's V experts of its token: write their choice keys to `keys`
 * and return the lane's two best keys (for `warp_select_groups`). Without groups and with at
 * least 32 experts a lane, the best two of four interleaved quarters' maxima instead: the best
 * key, and a second that may lie below the lane's second best (only `topk_floor` reads it).
 * @tparam Screen write screened keys (screening.cuh; sigmoid only): `tile_topk` then makes
 *                the exact choice from them or says it could not, and the caller scores again
 *                without (`tile_score_keys_from_row`)
 * @param logits the warp's rows (from `warp_stage_rows`, waited for)
 * @param bias   the bias as one row (zero where the run has none); with `Screen`,
 *               `screen_bias(b)` of each expert's bias b instead (screening.cuh's `screen_key`)
 * @param keys   the warp's key tile (written: the calling lane's segment only). With 4-byte
 *               logits it may be `logits` itself: each lane reads a chunk before it writes it
 */
template <class Config, bool Screen = false>
__device__ __forceinline__ lane_candidates tile_score_keys(const row_tile<Config, typename Config::logit_type>& logits,
                                                           const row_tile<Config, float, 1>& bias,
                                                           row_tile<Config, std::uint32_t>& keys, int lane)
{
  static_assert(!Screen || screenable(Config::scoring), "only sigmoid scores can be screened");
  using logit_tile = row_tile<Config, typename Config::logit_type>;
  const int row = lane / Config::token_lanes;
  const int tl = token_lane<Config>(lane);
  return detail::tile_score_chunks<Config, Screen>(
    [&](int c) { return logits.chunk[logit_tile::segment_chunk(row, tl, c)]; },
    [&](int kc) { return bias.chunk[row_tile<Config, std::uint32_t>::segment_chunk(0, tl, kc)]; }, keys, lane);
}

/**
 * @brief `tile_score_keys` (exact keys) from the calling lane's token row in global memory
 * (16-byte aligned) instead of a staged tile: scoring again after screening could not decide,
 * when the tile holds keys or the next rows.
 * @param bias_of `float(int e)`: expert e's bias (0 without one), exact (the row the screened
 *                keys used holds 0.5 + b)
 */
template <class Config, class BiasOf>
__device__ __forceinline__ lane_candidates tile_score_keys_from_row(const typename Config::logit_type* token_row,
                                                                    BiasOf bias_of,
                                                                    row_tile<Config, std::uint32_t>& keys, int lane)
{
  const int first = token_lane<Config>(lane) * Config::experts_per_lane;  // the lane's first expert
  const uint4* segment = reinterpret_cast<const uint4*>(token_row + first);
  return detail::tile_score_chunks<Config, false>(
    [&](int c) { return __ldg(segment + c); },
    [&](int kc) {
      const int e = first + 4 * kc;
      return make_uint4(__float_as_uint(bias_of(e)), __float_as_uint(bias_of(e + 1)), __float_as_uint(bias_of(e + 2)),
                        __float_as_uint(bias_of(e + 3)));
    },
    keys, lane);
}

/**
 * @brief The calling lane's two best exact keys (as `lane_candidates`, not screened), found from
 * its screened keys: only the experts whose exact key could reach the exact second best are
 * scored exactly, usually two or three. For when the screened group scores could not prove the
 * kept groups (`warp_select_groups` left `certain` false): the exact group scores follow.
 * `certain` is false in the result when the lane's screened second best is not finite (then
 * nothing bounds the exact one: score the token exactly).
 * @param scored   the lane's candidates from `tile_score_keys` with screening (before
 *                 `warp_select_groups`)
 * @param bias_of  as for `tile_topk`
 * @param score_of as for `tile_topk`
 */
template <class Config, class BiasOf, class ScoreOf>
__device__ __forceinline__ lane_candidates tile_exact_best_two(const row_tile<Config, std::uint32_t>& keys,
                                                               const lane_candidates& scored, BiasOf bias_of, int lane,
                                                               ScoreOf score_of)
{
  constexpr int V = Config::experts_per_lane;
  const int row = lane / Config::token_lanes;
  const int tl = token_lane<Config>(lane);
  // At least two screened keys reach `second`, so the exact second best is at least
  // screen_lower(second), and only keys at or above the bound can reach that.
  const float bound = screen_candidate_bound(key_value(scored.second));
  lane_candidates exact{excluded_key, excluded_key, true, excluded_key};
  exact.certain = bound == bound;
  auto near = detail::screened_keys_at_or_above<Config>(keys, row, tl, bound);
  while (near != 0) {
    const int e = tl * V + detail::take_lowest(near);
    offer_best_two(exact.best, exact.second, choice_key(score_of(e), bias_of(e)));
  }
  return exact;
}

/**
 * @brief The K best experts of the calling lane's token, in rank order: slot k goes to token
 * lane k (K <= 8), with its unbiased score, and the K scores summed in slot order.
 *
 * With screened keys (`c.screened`; the kept groups must be the exact ones, `c.certain`), the
 * candidates reach down to where a screened key could still hide an exact key of the top K
 * (`screen_candidate_bound`), and each candidate's exact key is computed (`score_of` and the
 * bias) before they are ranked: the choice is the exact one. When that cannot be done for
 * some token of the warp (a floor that is not finite, more than `tile_max_candidates`
 * candidates, groups not certain), the result says so (`certain` false in every lane) and
 * nothing else in it is meaningful: score exactly and call again.
 * @param keys     the warp's key tile, from `tile_score_keys` (overwritten by the exact rounds)
 * @param c        the lane's candidates after `warp_select_groups`
 * @param storage  the calling lane's token's `tile_topk_storage`
 * @param bias_of  `float(int e)`: expert e's exact bias (0 without one), read only with
 *                 screened keys, for each candidate's exact key (and expert 0's, like
 *                 `score_of`, by a lane without a candidate in a step that runs). The tiled
 *                 kernel reads it from global memory: its shared row holds 0.5 + b
 * @param score_of `float(int e)`: the unbiased score of expert e of the calling lane's token
 *                 (exact keys: called by token lanes 0..K-1 once each; screened keys: once for
 *                 each candidate, whose exact score then serves its slot, and for expert 0 by
 *                 the lanes left without a candidate in each step that runs: always the first
 *                 two of four, the last two when some token has more than 16 candidates)
 */
template <class Config, class BiasOf, class ScoreOf>
__device__ __forceinline__ warp_topk_result tile_topk(row_tile<Config, std::uint32_t>& keys, int lane,
                                                      const lane_candidates& c, tile_topk_storage& storage,
                                                      BiasOf bias_of, ScoreOf score_of)
{
  using key_tile = row_tile<Config, std::uint32_t>;
  constexpr int V = Config::experts_per_lane;
  constexpr int K = Config::topk;
  constexpr int L = Config::token_lanes;
  static_assert(K <= tile_max_topk && K <= L, "tile_topk writes slot k from token lane k: K <= 8");
  const int row = lane / L;
  const int tl = token_lane<Config>(lane);

  // 1. Candidates: the kept keys at or above a lower bound on the K-th, as a mask of the lane's
  //    experts; the lane's place in the packed list is the sum of the counts of lanes below.
  const std::uint32_t lowest = topk_floor<Config>(c);
  bool provable = true;
  auto mine = detail::segment_mask<Config>(0);
  if (c.screened) {
    const float bound = screen_candidate_bound(key_value(lowest));
    provable = c.certain && bound == bound;
    if (c.kept) mine = detail::screened_keys_at_or_above<Config>(keys, row, tl, bound);
  } else if (c.kept) {
    mine = detail::keys_at_or_above<Config>(keys, row, tl, lowest);
  }
  const int count = sizeof(mine) == 4 ? __popc(static_cast<std::uint32_t>(mine)) : __popcll(mine);
  int end = count;  // inclusive scan over the token's lanes
#pragma unroll
  for (int d = 1; d < L; d *= 2) {
    const int below = __shfl_up_sync(full_warp_mask, end, d, L);
    if (tl >= d) end += below;
  }
  const int total = token_shfl<Config>(end, L - 1);
  __syncwarp();  // the previous token's reads of `storage` are done

  int expert = 0;  // token lane k < K: slot k's expert
  if (__any_sync(full_warp_mask, total > tile_max_candidates || !provable || (c.screened && total < K))) {
    if (c.screened) return warp_topk_result{0, 0.0f, 0.0f, false};  // warp-uniform
    // Many equal keys: K exact rounds, each taking the token's largest remaining key (equal
    // keys: the lower expert) and removing it from the key tile.
#pragma unroll 1
    for (int r = 0; r < K; ++r) {
      std::uint32_t best = excluded_key;
      int position = 0;
      if (c.kept) {
#pragma unroll
        for (int kc = 0; kc < key_tile::segment_chunks; ++kc) {
          const uint4 k = keys.chunk[key_tile::segment_chunk(row, tl, kc)];
          const std::uint32_t k4[4] = {k.x, k.y, k.z, k.w};
#pragma unroll
          for (int u = 0; u < 4; ++u) {
            const bool better = k4[u] > best;  // strict: the lower expert keeps equal keys
            best = better ? k4[u] : best;
            position = better ? 4 * kc + u : position;
          }
        }
      }
      std::uint64_t v = (static_cast<std::uint64_t>(best) << 32) | ~static_cast<std::uint32_t>(tl * V + position);
#pragma unroll
      for (int d = L / 2; d >= 1; d /= 2) {
        const std::uint64_t other = __shfl_xor_sync(full_warp_mask, v, d, L);
        v = other > v ? other : v;
      }
      const int winner = static_cast<int>(~static_cast<std::uint32_t>(v));
      if (tl == r) expert = winner;
      if (tl == winner / V) keys.segment_element(row, tl, winner - tl * V) = excluded_key;
    }
  } else {
    // 2. Pack the candidates, zeros after the last. Screened keys: only the expert, in the
    //    low word; the exact keys below write the whole entry. (The warp runs this loop as
    //    often as its lane with the most candidates needs; each candidate's bias, looked up
    //    here until then, is now looked up once a step below: DeepSeek-V3 fp32 343 -> 333
    //    instructions a token.)
    int offset = end - count;
    if (c.screened) {
      while (mine != 0) storage.candidate_expert[offset++] = tl * V + detail::take_lowest(mine);
    } else {
      while (mine != 0) {
        const int j = detail::take_lowest(mine);
        storage.candidate_key[offset] = keys.segment_element(row, tl, j);
        storage.candidate_expert[offset++] = tl * V + j;
      }
    }
    if (tl < 4) storage.candidate_key[total + tl] = 0;  // zeros up to the next multiple of 4
    __syncwarp();
    // Screened keys: each candidate's exact score and key, candidate tl + r*L's score kept in
    // exact_score[r] for its slot. Steps 0 and 1 (up to 16 candidates: nearly every token) run
    // whatever the count, a lane with no candidate scoring expert 0, so that their two reads
    // from L2 are in flight together; steps 2 and 3 run only when some token needs them.
    float exact_score[tile_max_candidates / L] = {};
    if (c.screened) {
      auto exact_key = [&](int r) {
        const int i = tl + r * L;
        const int e = i < total ? static_cast<int>(storage.candidate_expert[i]) : 0;
        exact_score[r] = score_of(e);
        const float b = bias_of(e);
        if (i < total) storage.candidate_key[i] = choice_key(exact_score[r], b);
      };
      static_assert(tile_max_candidates == 4 * L, "four steps of L candidates");
      exact_key(0);
      exact_key(1);
      if (__any_sync(full_warp_mask, total > 2 * L)) {
        exact_key(2);
        exact_key(3);
      }
      __syncwarp();
    }
    // 3. Rank each candidate: how many others beat it (a larger key, or an equal key of a lower
    //    expert: a lower index). First by the keys alone: one 32-bit comparison and one
    //    predicated add a candidate, four candidates a 16-byte load (13 instructions per four
    //    candidates against 18 for 64-bit (key, ~expert) pairs; a loop unrolled by hand: the
    //    compiler's own unrolling of a loop this short runs mostly its remainder code). Without
    //    equal keys those are the ranks, a permutation of 0 .. total-1; each pair of equal keys
    //    takes one from their sum, so the warp's sum of ranks tells whether some token has
    //    equal keys, and then its ranks are counted again with the tie-break.
    auto rank_of = [&](int i, std::uint32_t me, bool break_ties) {
      int rank = 0;
#pragma unroll 1
      for (int j = 0; j < total; j += 4) {
        const uint4 k = *reinterpret_cast<const uint4*>(&storage.candidate_key[j]);
        if (break_ties) {
          const std::uint32_t k4[4] = {k.x, k.y, k.z, k.w};
#pragma unroll
          for (int u = 0; u < 4; ++u) rank += (k4[u] > me || (k4[u] == me && j + u < i)) ? 1 : 0;
        } else {
          rank = detail::count_if_greater(rank, k.x, me);
          rank = detail::count_if_greater(rank, k.y, me);
          rank = detail::count_if_greater(rank, k.z, me);
          rank = detail::count_if_greater(rank, k.w, me);
        }
      }
      return rank;
    };
    constexpr int steps = tile_max_candidates / L;
    int excess = tl == 0 ? -(total * (total - 1) / 2) : 0;  // the sum of ranks less its value without ties
#pragma unroll
    for (int r = 0; r < steps; ++r) {
      const int i = tl + r * L;
      if (i >= total) break;
      const int rank = rank_of(i, storage.candidate_key[i], false);
      excess += rank;
      if (rank < K) {
        // Equal keys share a rank and a slot here: exchanges, so that their writes are not a
        // race; the second pass below writes every slot again.
        atomicExch(&storage.slot_expert[rank], static_cast<int>(storage.candidate_expert[i]));
        if (c.screened) atomicExch(&storage.slot_score[rank], exact_score[r]);
      }
    }
    // Equal keys gave equal ranks: the ranks with the tie-break (a permutation) write every
    // slot again. Rare, so not unrolled.
    if (__reduce_add_sync(full_warp_mask, static_cast<unsigned>(excess)) != 0) {  // warp-uniform
      __syncwarp();
#pragma unroll 1
      for (int r = 0; r < steps; ++r) {
        const int i = tl + r * L;
        if (i >= total) break;
        const int rank = rank_of(i, storage.candidate_key[i], true);
        if (rank < K) {
          storage.slot_expert[rank] = static_cast<int>(storage.candidate_expert[i]);
          if (c.screened) {
            float score = exact_score[0];
#pragma unroll
            for (int q = 1; q < steps; ++q) score = r == q ? exact_score[q] : score;
            storage.slot_score[rank] = score;
          }
        }
      }
    }
    __syncwarp();
    if (tl < K) expert = storage.slot_expert[tl];
  }

  // 4. The slots' scores, unbiased (screened: the candidates' exact scores, stored by the
  //    ranking); their sum in slot order.
  warp_topk_result result{expert, 0.0f, 0.0f};
  if (c.screened) {
    if (tl < K) result.score = storage.slot_score[tl];
  } else {
    if (tl < K) {
      result.score = score_of(expert);
      storage.slot_score[tl] = result.score;
    }
    __syncwarp();
  }
#pragma unroll
  for (int k = 0; k < K; ++k) result.score_sum = add_rn(result.score_sum, storage.slot_score[k]);
  return result;
}

}  // namespace moe_router
