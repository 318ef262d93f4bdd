/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file warp_select.cuh
 * @brief Per-warp selection of one token's experts from the choice keys: the lane's two best
 * keys, group scores and kept groups, and the top-K (steps 3-4 of docs/semantics.md).
 *
 * Thread contract: all 32 lanes of a converged warp call each function; lane l holds the keys
 * of experts l*V .. l*V+V-1 (from `warp_score`). Only `warp_topk` uses shared memory: one
 * `warp_topk_storage` per token routed at a time, so one per warp, or two with 16 lanes per
 * token (CUB's TempStorage idiom: the caller owns it).
 *
 * How the top-K is found without K serial rounds. A lower bound `floor` on the K-th best key
 * comes first: with groups, the two best keys of each of the TG kept groups are 2*TG >= K
 * candidates, so the smallest of them is one; otherwise K cheap rounds over the lanes' two best
 * keys give one. Only the candidates at or above `floor` can be in the top-K, usually K to a few
 * more. The warp packs them into shared memory in expert order (one per lane), and each ranks
 * itself against the others by key, then by expert (a loop of one shuffle per candidate). Rank r
 * < K is slot r. When more candidates reach `floor` than the token has lanes (32, or 16; many
 * equal keys), the warp takes the exact round-per-slot path instead (`detail::warp_topk_rounds`);
 * both give the contract's order, so which one ran never shows in the output.
 */

#include <moe_router/config.cuh>
#include <moe_router/numeric.hpp>
#include <moe_router/screening.cuh>
#include <moe_router/warp/warp_score.cuh>

#include <cstdint>

namespace moe_router {

namespace detail {

/// `count + 1` when `a > b`, else `count`, as a comparison and a predicated add: for the
/// comparison's 0 or 1 added, the compiler emitted an add and a predicated move after it.
__device__ __forceinline__ int count_if_greater(int count, std::uint64_t a, std::uint64_t b)
{
  asm("{\n\t.reg .pred p;\n\tsetp.gt.u64 p, %1, %2;\n\t@p add.s32 %0, %0, 1;\n\t}" : "+r"(count) : "l"(a), "l"(b));
  return count;
}

/// The same for 32-bit keys: `count + 1` when `a > b`, else `count`.
__device__ __forceinline__ int count_if_greater(int count, std::uint32_t a, std::uint32_t b)
{
  asm("{\n\t.reg .pred p;\n\tsetp.gt.u32 p, %1, %2;\n\t@p add.s32 %0, %0, 1;\n\t}" : "+r"(count) : "r"(a), "r"(b));
  return count;
}

/// `mask | bit` when `set`, else `mask`, as one predicated OR: for `mask |= set ? bit : 0` the
/// compiler emits a select and adds the selects up, two and a half instructions a bit with the
/// comparison (the tiled kernel's candidate masks, 32 to 48 bits a lane, built as 32-bit words:
/// a 64-bit OR is two instructions).
__device__ __forceinline__ std::uint32_t or_if(std::uint32_t mask, bool set, std::uint32_t bit)
{
  asm("{\n\t.reg .pred p;\n\tsetp.ne.u32 p, %1, 0;\n\t@p or.b32 %0, %0, %2;\n\t}"
      : "+r"(mask)
      : "r"(static_cast<unsigned>(set)), "r"(bit));
  return mask;
}

}  // namespace detail

/// What the selection knows of the calling lane's candidates (from `lane_best_two`, then
/// `warp_select_groups`).
struct lane_candidates {
  std::uint32_t best;    ///< the lane's largest key; `excluded_key` once its group is dropped
  std::uint32_t second;  ///< its second largest (equal to `best` when that key is there twice).
                         ///< Without groups only `topk_floor` reads the two, and any two keys
                         ///< of distinct experts of the lane, the larger first, serve it: the
                         ///< tiled scoring may give a second below the lane's second largest
  bool kept;             ///< may the lane's experts be chosen (false once its group is dropped)
  std::uint32_t floor;   ///< a key at least K kept candidates reach; `excluded_key` = not known
  bool screened = false; ///< are the keys screened (screening.cuh)? Only `tile_topk` takes them
  bool certain = true;   ///< screened: are the kept groups provably the exact ones (false: not
                         ///< proven, or, from `tile_exact_best_two`, nothing bounds them)?
};

/// Offer `key` to a running pair of the two largest keys (a key present twice counts twice).
__device__ __forceinline__ void offer_best_two(std::uint32_t& best, std::uint32_t& second, std::uint32_t key)
{
  second = max(second, min(best, key));
  best = max(best, key);
}

/// The lane's two largest of its V keys, a key present twice counting twice. No communication.
template <int V>
__device__ __forceinline__ lane_candidates lane_best_two(const std::uint32_t (&key)[V])
{
  std::uint32_t best = excluded_key, second = excluded_key;
#pragma unroll
  for (int j = 0; j < V; ++j) offer_best_two(best, second, key[j]);
  return lane_candidates{best, second, true, excluded_key};
}

/**
 * @brief Score the groups and keep the best `topk_group` of them (no-op when G == 1).
 *
 * A group's score is the sum of its two largest choice scores (top2_sum; a value present twice
 * counts twice) or its largest (max), merged over the group's lanes with xor shuffles. Every
 * lane then ranks its group against all G (equal scores: lower group first). Lanes of dropped
 * groups are no longer `kept`. When 2*TG >= K, `floor` becomes the smallest of the kept groups'
 * two best keys (one `token_min`).
 */
template <class Config>
__device__ __forceinline__ void warp_select_groups(int lane, lane_candidates& c)
{
  if constexpr (Config::num_groups > 1) {
    constexpr int L = Config::lanes_per_group;
    std::uint32_t best = c.best, second = c.second;
#pragma unroll
    for (int offset = 1; offset < L; offset *= 2) {
      const std::uint32_t other_best = __shfl_xor_sync(full_warp_mask, best, offset);
      const std::uint32_t other_second = __shfl_xor_sync(full_warp_mask, second, offset);
      second = max(max(second, other_second), min(best, other_best));
      best = max(best, other_best);
    }
    const std::uint32_t group_key = Config::group_score == group_score_kind::top2_sum
                                      ? order_key(add_rn(key_value(best), key_value(second)))
                                      : best;
    const int group = token_lane<Config>(lane) / L;
    int rank = 0;
#pragma unroll
    for (int h = 0; h < Config::num_groups; ++h) {
      const std::uint32_t other = token_shfl<Config>(group_key, h * L);
      // (key, groups - 1 - group) as one 64-bit comparison: the lower group wins equal keys.
      rank = detail::count_if_greater(
        rank, (static_cast<std::uint64_t>(other) << 32) | static_cast<std::uint32_t>(Config::num_groups - 1 - h),
        (static_cast<std::uint64_t>(group_key) << 32) | static_cast<std::uint32_t>(Config::num_groups - 1 - group));
    }
    c.kept = group < Config::num_groups && rank < Config::topk_group;
    if (c.screened) {
      // The kept groups are the exact ones if the exact score of every kept group is certainly
      // above that of every dropped one. The exact group score lies between the same function
      // of the lower bounds and of the upper bounds of the two best keys, rounded outward.
      const float b = key_value(best), s = key_value(second);
      float low = screen_lower(b), high = screen_upper(b);
      if constexpr (Config::group_score == group_score_kind::top2_sum) {
        low = __fadd_rd(low, screen_lower(s));
        high = __fadd_ru(high, screen_upper(s));
      }
      // A lane with a NaN among its screened keys offers nan_key twice: its two best are not
      // known (its other experts' exact keys may be anything). Where a group spans several
      // lanes the merge above puts the other lanes' keys in its place, which still bound the
      // group's score from below but no longer from above: so nothing bounds it from above.
      // (With one lane a group, the merged keys are that lane's, and a NaN stays NaN.)
      if constexpr (L > 1) {
        bool unknown = c.best == nan_key;
#pragma unroll
        for (int offset = 1; offset < L; offset *= 2) unknown |= __shfl_xor_sync(full_warp_mask, unknown, offset) != 0;
        if (unknown) high = __int_as_float(0x7fffffff);
      }
      const std::uint32_t kept_low = token_min<Config>(c.kept ? screen_lower_key(low) : ~0u);
      const std::uint32_t dropped_high =
        token_max<Config>(c.kept || group >= Config::num_groups ? excluded_key : screen_upper_key(high));
      c.certain = kept_low > dropped_high;
    }
    if (!c.kept) c.best = c.second = excluded_key;
    if constexpr (2 * Config::topk_group >= Config::topk) c.floor = token_min<Config>(c.kept ? second : ~0u);
  }
}

/**
 * @brief A lower bound on the token's K-th best key, never below `nan_key` (so that no excluded
 * key reaches it): `c.floor` when the groups gave one, otherwise K rounds, each taking the
 * largest key the lanes offer (every lane offers its best, then its second). At least K kept
 * experts reach it. Every lane gets the same value.
 */
template <class Config>
__device__ __forceinline__ std::uint32_t topk_floor(const lane_candidates& c)
{
  std::uint32_t floor = c.floor;
  if constexpr (!(Config::num_groups > 1 && 2 * Config::topk_group >= Config::topk)) {
    std::uint32_t offer = c.best, next = c.second;
#pragma unroll
    for (int r = 0; r < Config::topk; ++r) {
      floor = token_max<Config>(offer);
      const bool taken = offer == floor;
      offer = taken ? next : offer;
      next = taken ? excluded_key : next;
    }
  }
  return floor > nan_key ? floor : nan_key;
}

/// What `warp_topk` leaves in each lane.
struct warp_topk_result {
  int expert;       ///< token lane k < K: the expert of slot k (before expert_map)
  float score;      ///< token lane k < K: its unbiased score
  float score_sum;  ///< every lane: the K scores summed in slot order (fp32, from 0.0f)
  bool certain = true;  ///< false: screened keys could not prove the choice, and nothing above
                        ///< is meaningful (every lane of the warp gets the same value)
};

/**
 * @brief Shared memory of `warp_topk`: one per token routed at a time (one per warp, or two with
 * 16 lanes per token), owned by the caller (512 bytes). It may be reused between calls of the
 * same lanes, and overlaid with other storage between them after a `__syncwarp()` (a call
 * starts with one but does not end with one).
 */
struct warp_topk_storage {
  union {
    uint4 candidate[warp_lanes];  ///< packed candidates: {key, expert, score bits, unused}
    struct {
      float score[warp_lanes];
      int expert[warp_lanes];
    } slot;  ///< the top-K, slot k at [k]
  };
};

namespace detail {

/// A lane's best two remaining candidates with their positions and scores (the round path).
struct lane_ranked_pair {
  std::uint32_t key[2];
  int position[2];  ///< j in 0..V-1: the expert is lane * V + j
  float score[2];
};

/**
 * @brief The lane's best two of its V keys (larger key first, lower position on equal keys).
 * With `Bounded`, only the keys that rank below (`bound_key`, `bound_position`) take part:
 * those are what remains after the lane's candidates down to that one were taken.
 */
template <int V, bool Bounded = false>
__device__ __forceinline__ lane_ranked_pair lane_best_pair(const std::uint32_t (&key)[V], const float (&score)[V],
                                                           std::uint32_t bound_key = 0, int bound_position = 0)
{
  lane_ranked_pair c{{excluded_key, excluded_key}, {0, 0}, {0.0f, 0.0f}};
#pragma unroll
  for (int j = 0; j < V; ++j) {
    std::uint32_t k = key[j];
    if (Bounded && !(k < bound_key || (k == bound_key && j > bound_position))) k = excluded_key;
    const bool first = k > c.key[0];  // strict: the lower position keeps equal keys
    const bool second = k > c.key[1];
    c.key[1]      = first ? c.key[0] : (second ? k : c.key[1]);
    c.position[1] = first ? c.position[0] : (second ? j : c.position[1]);
    c.score[1]    = first ? c.score[0] : (second ? score[j] : c.score[1]);
    c.key[0]      = first ? k : c.key[0];
    c.position[0] = first ? j : c.position[0];
    c.score[0]    = first ? score[j] : c.score[0];
  }
  return c;
}

/**
 * @brief The top-K in K rounds: each takes the warp's best key with one `__reduce_max_sync`
 * (equal keys: the lowest lane, which holds the lower experts), and the winner moves its second
 * candidate up, or rescans its keys when it has none left. Exact for any keys; the fast path's
 * fallback, and the whole path when K <= 2.
 */
template <class Config>
__device__ __forceinline__ warp_topk_result warp_topk_rounds(const std::uint32_t (&key)[Config::experts_per_lane],
                                                             const float (&score)[Config::experts_per_lane],
                                                             int lane, bool kept)
{
  constexpr int V = Config::experts_per_lane;
  lane_ranked_pair c = lane_best_pair<V>(key, score);
  if (!kept) c.key[0] = c.key[1] = excluded_key;
  warp_topk_result result{0, 0.0f, 0.0f};
  const int tl = token_lane<Config>(lane);
  const unsigned lanes_below = (1u << tl) - 1u;
#pragma unroll
  for (int slot = 0; slot < Config::topk; ++slot) {
    const std::uint32_t best = token_max<Config>(c.key[0]);
    const unsigned holders = token_ballot<Config>(lane, c.key[0] == best);
    const bool won = c.key[0] == best && (holders & lanes_below) == 0;
    const int winner = __ffs(holders) - 1;
    const int position = token_shfl<Config>(c.position[0], winner);
    const float s = token_shfl<Config>(c.score[0], winner);
    result.score_sum = add_rn(result.score_sum, s);
    if (tl == slot) {
      result.expert = winner * V + position;
      result.score = s;
    }
    if (slot + 1 < Config::topk) {
      // The vote keeps the rescan a branch that the warp skips when no lane needs it.
      const bool rescan = V > 2 && won && c.key[1] == excluded_key;
      if (__any_sync(full_warp_mask, rescan)) {
        if (rescan) c = lane_best_pair<V, true>(key, score, c.key[0], c.position[0]);
      }
      if (won && !rescan) {
        c.key[0] = c.key[1];
        c.position[0] = c.position[1];
        c.score[0] = c.score[1];
        c.key[1] = excluded_key;
      }
    }
  }
  return result;
}

/// Bits of a count of 0..V.
template <int V>
struct count_bits {
  static constexpr int value = V < 2 ? 1 : 1 + count_bits<V / 2>::value;
};
template <>
struct count_bits<0> {
  static constexpr int value = 1;
};

}  // namespace detail

/**
 * @brief The K best candidates of the token, in rank order: slot k goes to token lane k.
 * @param key     the lane's V choice keys (from `warp_score`)
 * @param score   the lane's V scores
 * @param c       the lane's candidates after `warp_select_groups`
 * @param storage this warp's shared memory (see `warp_topk_storage`)
 * @param short_chain rank the candidates eight shuffles at a time, their counts summed as a
 *                tree: a shorter dependent chain for a warp whose time is its own chain (a
 *                small batch), a few more instructions for one among many (the same result)
 * @param match_ties (without `short_chain`) find the candidates of equal keys with one match,
 *                and rank by one 32-bit comparison a candidate instead of a 64-bit one: fewer
 *                instructions, but the match takes long to answer (the same result)
 */
template <class Config>
__device__ __forceinline__ warp_topk_result warp_topk(const std::uint32_t (&key)[Config::experts_per_lane],
                                                      const float (&score)[Config::experts_per_lane], int lane,
                                                      const lane_candidates& c, warp_topk_storage& storage,
                                                      bool short_chain = false, bool match_ties = false)
{
  constexpr int V = Config::experts_per_lane;
  constexpr int K = Config::topk;
  static_assert(V <= 32,
                "warp_topk holds a lane's candidates in a 32-bit mask: at most 32 experts a lane (with TokenLanes = 8 "
                "at most 256 experts; the tiled kernel ranks larger shapes from shared memory, tile_topk in "
                "warp_tile_select.cuh; or use TokenLanes = 16 or 32)");
  if constexpr (K <= 2) {
    return detail::warp_topk_rounds<Config>(key, score, lane, c.kept);
  } else {
    // 1. A lower bound on the K-th best key.
    const std::uint32_t lowest = topk_floor<Config>(c);

    // 2. Count the candidates at or above it; place them in expert order. The lane's offset is
    //    a prefix sum of the counts, from one ballot per bit of the count (no shuffle chain).
    unsigned mine = 0;  // bit j: expert lane*V + j is a candidate
#pragma unroll
    for (int j = 0; j < V; ++j) mine |= (c.kept && key[j] >= lowest) ? 1u << j : 0u;
    const int count = __popc(mine);
    const int tl = token_lane<Config>(lane);
    const unsigned lanes_below = (1u << tl) - 1u;
    int offset = 0, total = 0;
#pragma unroll
    for (int b = 0; b < detail::count_bits<V>::value; ++b) {
      const unsigned with_bit = token_ballot<Config>(lane, (count >> b) & 1);
      offset += __popc(with_bit & lanes_below) << b;
      total += __popc(with_bit) << b;
    }
    __syncwarp();  // the previous call's reads of `storage` are done
    warp_topk_result result{0, 0.0f, 0.0f};
    // One token lane per candidate. The branch is warp-uniform: with two tokens per warp, both
    // take the round path when either has too many candidates.
    if (__any_sync(full_warp_mask, total > Config::token_lanes)) {
      result = detail::warp_topk_rounds<Config>(key, score, lane, c.kept);
    } else {
#pragma unroll
      for (int j = 0; j < V; ++j) {
        if ((mine >> j) & 1u) {
          const unsigned expert = static_cast<unsigned>(tl * V + j);
          storage.candidate[offset] = make_uint4(key[j], expert, __float_as_uint(score[j]), 0u);
          ++offset;
        }
      }
      __syncwarp();
      // 3. Candidate i sits in lane i; its rank is how many others beat it: a larger key, or
      //    the same key and a lower expert (a lower i).
      //    As one 64-bit comparison: (key, 31 - i) against (key, 31 - lane).
      //    Lanes past `total` hold key 0, below every candidate. With two tokens per warp the
      //    loop runs to the larger count (a shuffle is a warp collective).
      const uint4 held = tl < total ? storage.candidate[tl] : make_uint4(0u, 0u, 0u, 0u);
      const std::uint64_t me = (static_cast<std::uint64_t>(held.x) << 32) | static_cast<unsigned>(31 - tl);
      const int rounds =
        Config::token_lanes == warp_lanes ? total : static_cast<int>(__reduce_max_sync(full_warp_mask, total));
      auto entry = [&](int i) {  // candidate i's (key, 31 - i)
        return (static_cast<std::uint64_t>(token_shfl<Config>(held.x, i)) << 32) | static_cast<unsigned>(31 - i);
      };
      int rank = 0;
      if (short_chain) {
        // On to the next multiple of eight (i + u stays below the token's lanes): the lanes past
        // `total` beat nothing. H100, DeepSeek-V3 fp32: 2.03 -> 1.98 µs at one token, but 2.5%
        // slower at 8192 tokens, where warps are many (see warp_topk_short_chain_tokens).
        for (int i = 0; i < rounds; i += 8) {
          int b[8];
#pragma unroll
          for (int u = 0; u < 8; ++u) b[u] = entry(i + u) > me ? 1 : 0;
          rank += ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
        }
      } else if (match_ties) {
        // The candidates below with the same key all at once (a candidate's key is never 0),
        // then one 32-bit comparison a step, four steps at a time (as above, the lanes past
        // `total` beat nothing).
        rank = __popc(token_match_any<Config>(lane, held.x) & lanes_below);
        for (int i = 0; i < rounds; i += 4) {
#pragma unroll
          for (int u = 0; u < 4; ++u) rank += token_shfl<Config>(held.x, i + u) > held.x ? 1 : 0;
        }
      } else {
        for (int i = 0; i < rounds; ++i) rank = detail::count_if_greater(rank, entry(i), me);
      }
      __syncwarp();
      if (tl < total && rank < K) {
        storage.slot.score[rank] = __uint_as_float(held.z);
        storage.slot.expert[rank] = static_cast<int>(held.y);
      }
      __syncwarp();
      if (tl < K) {
        result.expert = storage.slot.expert[tl];
        result.score = storage.slot.score[tl];
      }
#pragma unroll
      for (int k = 0; k < K; ++k) result.score_sum = add_rn(result.score_sum, storage.slot.score[k]);
    }
    return result;
  }
}

}  // namespace moe_router
