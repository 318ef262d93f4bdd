/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file tiled_route_kernel.cuh
 * @brief The tiled routing kernel: eight lanes per token, four tokens per warp, rows staged in
 * shared memory; for large batches.
 *
 * At large batches routing is bound by instruction issue, and the cross-lane steps (group
 * selection, the bound on the K-th key, packing and ranking the candidates, the epilogue) cost
 * about as much per warp whatever the lanes per token. With 8 lanes each of those instructions
 * serves four tokens. Each lane then works on V = E/8 experts, too many for registers, so the
 * warp copies its rows into shared memory ahead of routing them (`warp_stage_rows`), writes the
 * choice keys there (`tile_score_keys`) and selects from them (`tile_topk`).
 *
 * Test hook: a translation unit that defines `MOE_ROUTER_TILED_PATH_HOOK(path, lane)` before it
 * includes this header has every lane of a warp invoke it once for each tile it routes from
 * screened keys: `path` 0 when the screened keys decided, 1 when the kept groups needed the
 * lanes' exact best two, 2 when the tile was scored again with exact keys. It is how the tests
 * know that screening decides, and not only that the output is exact. It must expand to one
 * statement, and be defined the same in every translation unit of a program or in none (the
 * kernels are templates: two definitions of one instantiation break the one-definition rule).
 * Left undefined, as the library uses it, it compiles to nothing.
 */

#include <moe_router/config.cuh>
#include <moe_router/detail/kernel_loop.cuh>
#include <moe_router/types.hpp>
#include <moe_router/warp/warp_epilogue.cuh>
#include <moe_router/warp/warp_select.cuh>
#include <moe_router/warp/warp_stage_rows.cuh>
#include <moe_router/warp/warp_tile_select.cuh>

#include <cstddef>
#include <cstdint>

namespace moe_router {

/// Are the choice keys written over the logits they come from (4-byte logits: the same
/// layout)? Otherwise they get a tile of their own.
template <class Config>
constexpr bool tiled_keys_in_place = sizeof(typename Config::logit_type) == sizeof(std::uint32_t);

/**
 * @brief Does the tiled kernel of `Config` choose from screened keys (screening.cuh)? Every
 * shape with sigmoid scores does: the screened sigmoid saves about 14 instructions an expert,
 * which at every size measured but one repays what a token pays for it (the candidates' exact
 * scores read again from L2, and with groups the proof of the kept groups). Measured on an
 * H200, tiled kernel forced, µs, exact -> screened: DeepSeek-V3 fp32 78.3 -> 72.9 at 131072
 * tokens and 13.8 -> 13.4 to 13.5 at 16384, bf16 72.2 -> 65.8 and 21.1 -> 19.7 to 19.9 at
 * 32768; GLM-4.5 fp32 55.3 -> 49.1 and 6.19 -> 6.0 at 8192. The one loss is DeepSeek-V3 at
 * 8192 tokens, a single wave (fp32 9.34 -> 9.61 to 9.73, bf16 8.04 -> 8.44 to 8.47;
 * docs/performance.md, "Screening").
 */
template <class Config>
constexpr bool tiled_screening = screenable(Config::scoring);

/**
 * @brief One warp's shared memory in the tiled kernel: its logit tiles (`LogitTiles`, 1 or 2),
 * the key tile unless the keys overwrite the logits, and `tile_topk`'s storage for each of its
 * tokens. `tiled_logit_tiles` says how many logit tiles; see there.
 */
template <class Config, int LogitTiles, bool KeysInPlace = tiled_keys_in_place<Config>>
struct tiled_warp_storage {
  static_assert(LogitTiles == 1, "with a key tile the logit tile is refilled right after scoring");
  static constexpr int tokens = warp_lanes / Config::token_lanes;
  row_tile<Config, typename Config::logit_type> logits[LogitTiles];
  row_tile<Config, std::uint32_t> key_tile;
  tile_topk_storage topk[tokens];
  __device__ __forceinline__ row_tile<Config, std::uint32_t>& keys(int) { return key_tile; }
};
template <class Config, int LogitTiles>
struct tiled_warp_storage<Config, LogitTiles, true> {
  static_assert(LogitTiles == 1 || LogitTiles == 2, "one or two logit tiles");
  static constexpr int tokens = warp_lanes / Config::token_lanes;
  row_tile<Config, typename Config::logit_type> logits[LogitTiles];
  tile_topk_storage topk[tokens];
  static_assert(sizeof(row_tile<Config, typename Config::logit_type>) == sizeof(row_tile<Config, std::uint32_t>),
                "keys in place need the logits' layout");
  __device__ __forceinline__ row_tile<Config, std::uint32_t>& keys(int tile)
  {
    return reinterpret_cast<row_tile<Config, std::uint32_t>&>(logits[tile]);
  }
};

/// A block's dynamic shared memory with `Warps` warps of `LogitTiles` logit tiles each: the bias
/// as one row, then each warp's storage.
template <class Config, int Warps, int LogitTiles>
struct tiled_block_layout {
  row_tile<Config, float, 1> bias;
  tiled_warp_storage<Config, LogitTiles> warp[Warps];
};

namespace detail {
/// Registers of a Hopper SM (H100, H200; 32-bit, 255 at most per thread).
constexpr int sm_registers = 64 * 1024;
/// Shared memory of a Hopper SM (H100, H200) and what the runtime reserves of it per block.
constexpr std::size_t sm_shared_bytes = 228 * 1024;
constexpr std::size_t block_reserved_shared_bytes = 1024;

/// Warps of `warps`-warp blocks of `block_bytes` shared memory each that a Hopper SM holds, as
/// a multiple of its four schedulers (see `launch_fused`; registers not counted).
__host__ __device__ constexpr int balanced_resident_warps(std::size_t block_bytes, int warps)
{
  const int blocks = static_cast<int>(sm_shared_bytes / (block_bytes + block_reserved_shared_bytes));
  const int resident = blocks * warps < 64 ? blocks * warps : 64;
  return resident - resident % schedulers_per_sm;
}
}  // namespace detail

/**
 * @brief How many logit tiles a warp of the tiled kernel of `Config` keeps: 1, refilled as soon
 * as the warp is done with it, or 2, the next loading while the warp routes this one.
 *
 * Shared memory is what limits the resident warps. With 2-byte logits the keys get a tile of
 * their own, the logits are done with once scored, and one tile is refilled right after
 * scoring. With 4-byte logits the keys overwrite the logits, so the tile is busy until the
 * top-K is chosen: one tile exposes its copy to the warp, two hide it but leave fewer warps.
 * One tile, refilled after routing, the other warps hiding its copy, where two would leave
 * fewer than 24 resident warps (6 a scheduler) and the keys are screened; else two. Without
 * screening the kernels need more registers, and those, not shared memory, limit the warps:
 * DeepSeek-V4-Flash (sqrtsoftplus, 90 registers) stays at 20 warps with one tile.
 *
 * Measured on an H100, tiled kernel forced, two tiles -> one, µs: DeepSeek-V3 fp32 (20 -> 32
 * warps) 73.8 -> 65.0 at 131072 tokens and 23.7 -> 20.8 at 32768; Kimi-K2 fp32 (16 -> 24)
 * 96.2 -> 90.0 and 30.8 -> 28.7; MiniMax-M2 fp32 (20 -> 32) 66.6 -> 60.4 and 21.9 -> 19.1.
 * GLM-4.5 (28 -> 44 warps) gained at 131072 tokens (51.1 -> 49.3) but lost 11% at 32768 (14.2 ->
 * 15.9), so it keeps two. On an H200, DeepSeek-V4-Flash fp32 with one tile lost 2% to 2.5% from
 * 32768 tokens on (118.4 -> 121.4 µs at 131072): it keeps two (docs/performance.md, "One
 * tile").
 */
template <class Config>
constexpr int tiled_logit_tiles = [] {
  if constexpr (tiled_keys_in_place<Config>) {
    constexpr int warps_with_two = detail::balanced_resident_warps(sizeof(tiled_block_layout<Config, 2, 2>), 2);
    return !tiled_screening<Config> || warps_with_two >= 24 ? 2 : 1;
  } else {
    return 1;
  }
}();

/// Is the tile refilled after routing (one tile, the keys in place; see `tiled_logit_tiles`)?
template <class Config>
constexpr bool tiled_refill_after_routing = tiled_keys_in_place<Config> && tiled_logit_tiles<Config> == 1;

/**
 * @brief Warps per block of the tiled kernel of `Config`: 2, or 4 where four-warp blocks fit
 * more warps per SM (a block's bias row and reserved kilobyte are shared by more warps) and
 * two-warp blocks would leave at most 16 resident warps (shared memory is the limit), or, with
 * one tile refilled after routing (whose `__launch_bounds__` then make the registers fit the
 * warps, see `tiled_min_blocks_per_sm`), fewer than 32.
 *
 * Measured on an H200 at 131072 tokens: Kimi-K2 (12 -> 16 warps with fp32 logits and two tiles,
 * 16 -> 20 with bf16) 10% to 12% faster with 4; DeepSeek-V3, MiniMax-M2, GLM-4.5 and
 * DeepSeek-V4-Flash, with 20 or more warps either way, as fast or faster with 2 (with bf16
 * logits at 8192 and 32768 tokens 4% to 8% faster; MiniMax-M2 bf16, 24 -> 28 warps, lost 1% to
 * 8% with 4: its 80 registers allow only 24). With one tile, on an H100, tiled kernel forced,
 * two builds alternated twice: Kimi-K2 fp32 (24 -> 28 warps, 80 -> 72 registers) 0.2% to 1.6%
 * faster with 4 from 16384 tokens (89.8 and 90.4 -> 89.2 and 89.2 µs at 131072); DeepSeek-V3
 * and MiniMax-M2 fp32 (32 -> 36 warps, 64 -> 56 registers) 2% to 15% slower (docs/performance.md,
 * "One tile").
 */
template <class Config>
__host__ __device__ constexpr int tiled_warps_per_block()
{
  constexpr int tiles = tiled_logit_tiles<Config>;
  constexpr int two = detail::balanced_resident_warps(sizeof(tiled_block_layout<Config, 2, tiles>), 2);
  constexpr int four = detail::balanced_resident_warps(sizeof(tiled_block_layout<Config, 4, tiles>), 4);
  return (two <= 16 || (tiled_refill_after_routing<Config> && two < 32)) && four > two ? 4 : 2;
}

/// One warp's storage in the tiled kernel of `Config`.
template <class Config>
using tiled_warp_storage_of = tiled_warp_storage<Config, tiled_logit_tiles<Config>>;

/// The tiled kernel's dynamic shared memory (one block of `tiled_warps_per_block<Config>()`).
template <class Config>
using tiled_block_storage = tiled_block_layout<Config, tiled_warps_per_block<Config>(), tiled_logit_tiles<Config>>;

/**
 * @brief The blocks of the tiled kernel of `Config` that shared memory lets an SM hold (as
 * `launch_fused` rounds them); its `__launch_bounds__` minimum starts from them
 * (`tiled_min_blocks_per_sm`).
 */
template <class Config>
__host__ __device__ constexpr int tiled_blocks_per_sm()
{
  return detail::balanced_resident_warps(sizeof(tiled_block_storage<Config>), tiled_warps_per_block<Config>()) /
         tiled_warps_per_block<Config>();
}

/**
 * @brief The blocks per SM the tiled kernel of `Config` asks for in its `__launch_bounds__`:
 * the blocks shared memory allows (`tiled_blocks_per_sm`), but no more than leave each thread 64
 * registers where the keys are screened (every sigmoid shape) and 96 where they are not.
 *
 * Why a minimum: the compiler may then use the registers those blocks leave. Without one it
 * kept the routing's result live across the next tile's copy in fewer registers and spilled
 * (Kimi-K2 fp32: 64 registers and 12 bytes of spills, against 80 and none with 12 blocks), and
 * elsewhere spilled a loop-invariant value to save registers it did not need to save
 * (DeepSeek-V3 with fp16 logits: 64 registers and 4 bytes of spills, 80 and none with the
 * minimum, the same 24 warps; small changes to the code did the same to bf16).
 *
 * Screened: Llama-4 (36 warps with fp32 logits, 44 with bf16) gets 32 warps' worth: asking
 * for 44, bf16 took 40 registers and spilled 84 bytes. Not screened (DeepSeek-V4-Flash): with
 * no minimum the compiler chose its registers and, after a small change (5bd1bec's swizzle),
 * squeezed the bf16 kernel into 80 with 8 bytes of spills; asking for the blocks shared memory
 * allows took fp32 from 90 to 76 registers and up to 2.4% longer (H100, 120.1 -> 123.0 µs at
 * 131072 tokens), and a minimum of 1 let it take up to 121 registers, fewer warps than shared
 * memory allows. With the blocks that leave 96 registers (10 blocks of 2 warps, what it held
 * with its own choice of 92 or 93) it takes 80 to 82 and spills nothing.
 */
template <class Config>
__host__ __device__ constexpr int tiled_min_blocks_per_sm()
{
  constexpr int blocks = tiled_blocks_per_sm<Config>();
  constexpr int registers = tiled_screening<Config> ? 64 : 96;
  constexpr int with_registers = detail::sm_registers / (registers * tiled_warps_per_block<Config>() * warp_lanes);
  return blocks < with_registers ? blocks : with_registers;
}

/**
 * @brief At most this many blocks of the tiled kernel of `Config` an SM in `route_fused`'s grid
 * (0: as many as fit, `tiled_blocks_per_sm`), for batches of at most
 * `tiled_grid_cap_max_rounds` tiles a warp of that grid: 4 where one tile a warp is refilled
 * after routing in four-warp blocks (Kimi-K2 with fp32 logits: 7 fit, 28 warps), 0 elsewhere.
 *
 * Measured on an H100 (tiled kernel forced, µs, 7 -> 4 blocks an SM, three alternated rounds
 * of `scripts/ab-headers.sh`): Kimi-K2 fp32 23.05 -> 21.76 at 24576 tokens, 28.92 -> 26.50 at
 * 32768, 46.47 -> 46.10 at 65536, 86.05 -> 84.58 at 131072 (within 1% at 8192 and 16384; the
 * other shapes within the noise, unchanged); again, 4 -> 7 blocks, best of three: 36.35 ->
 * 37.93 at 49152, 46.37 -> 46.83 at 65536, 84.87 -> 86.46 at 131072. On an H200 the same way,
 * 7 -> 4 blocks: 13.12 -> 12.84 at 16384, 20.67 -> 19.42 at 24576, 25.19 -> 23.91 at 32768,
 * 31.88 -> 32.28 at 49152, but 38.45 -> 41.09 at 65536, 54.47 -> 58.90 at 98304 and 68.13 ->
 * 74.66 at 131072. Hence the bound on the batch, 6 tiles a warp of the smaller grid (50688
 * tokens on 132 SMs): the larger batches take all 7 blocks, 7% to 9% faster on the H200 and 1%
 * to 2% slower on the H100. With the grid held by `launch_options::max_blocks`
 * first: 3 blocks were 4% to 11% slower than 7, 5 and 6 within -4% to +1%; Kimi-K2 bf16 (5 fit)
 * lost 5% to 8% from 32768 tokens with 4, and DeepSeek-V3 and MiniMax-M2 with fp32 logits (16
 * two-warp blocks fit) with 12 lost up to 11% at 16384 and 32768 tokens while gaining 1% to 4%
 * from 65536: they keep what fits. Why fewer warps help Kimi-K2 fp32 is not known (a guess: its
 * 7 blocks take 222 KB of the SM's 256 KB of shared memory and L1, and its candidates' logits
 * are read again through L1).
 */
template <class Config>
constexpr int tiled_grid_blocks_per_sm()
{
  return tiled_refill_after_routing<Config> && tiled_warps_per_block<Config>() == 4 ? 4 : 0;
}

/// `tiled_grid_blocks_per_sm`'s grid is taken by batches of at most this many tiles (4 tokens
/// each) a warp of it; larger batches take as many blocks as fit.
constexpr int tiled_grid_cap_max_rounds = 6;

/**
 * @brief Where the tile is refilled after routing (`tiled_refill_after_routing`: 4-byte logits,
 * screened keys written over them), batches whose logits take at most this many bytes copy
 * their rows through L1 as well as L2 (`warp_stage_rows`'s `via_l1`), larger ones through L2
 * only.
 *
 * A batch this small is likely to sit in L2 (the benchmark keeps sets of up to half an H100's
 * 50 MB there), and its one or two waves of warps wait on each one's chain: the screened
 * candidates' logits, read again from global memory for their exact keys, are then found in
 * L1. From HBM the copies that allocate in L1 (which shares the SM with the tiles) are slower.
 * Measured on an H100, tiled kernel forced, µs, L2 only -> L1 too (every kernel, one build):
 * Kimi-K2 fp32 9.82 -> 8.96 at 8192 tokens and 15.28 -> 14.04 at 16384 (24 MiB); DeepSeek-V3
 * fp32 9.08 -> 8.39 at 8192; MiniMax-M2 fp32 7.45 -> 6.98 at 8192; the bf16 kernels 1% to 5%
 * faster up to 24 MiB; but from 32 MiB, inputs from HBM, DeepSeek-V3 fp32 64.6 -> 70.4 at
 * 131072 and MiniMax-M2 fp32 11% slower at 32768. The other kernels keep their copies as they
 * were: with the choice compiled in, Kimi-K2 bf16 lost 3% to 4% from 65536 tokens and GLM-4.5
 * 1% to 5% at every size (their registers and schedule moved). On an H200 (60 MB of L2), 48 MiB
 * instead of 24 was slower from 32 MiB: DeepSeek-V3 fp32 17.35 -> 18.70 µs at 32768 tokens,
 * MiniMax-M2 fp32 +13% to +15% from 32768, Kimi-K2 fp32 +4.8% at 24576 (36 MiB).
 */
constexpr std::int64_t tiled_l1_copy_max_bytes = std::int64_t{24} << 20;

namespace detail {
/// The tiled kernel's body (see `tiled_route_kernel`).
template <class Config>
__device__ __forceinline__ void tiled_route(const route_params& p)
{
  static_assert(Config::token_lanes == 8, "the tiled kernel routes a token with 8 lanes");
  constexpr int warps_per_block = tiled_warps_per_block<Config>();
  constexpr int tokens_per_warp = warp_lanes / Config::token_lanes;
  using logit_type = typename Config::logit_type;
  using bias_type = typename Config::bias_type;
  extern __shared__ uint4 dynamic_shared[];
  auto& shared = *reinterpret_cast<tiled_block_storage<Config>*>(dynamic_shared);
  const int lane = static_cast<int>(threadIdx.x) % warp_lanes;
  const int warp = static_cast<int>(threadIdx.x) / warp_lanes;
  const int row = lane / Config::token_lanes;  // which of the warp's tokens this lane routes
  tiled_warp_storage_of<Config>& storage = shared.warp[warp];
  // Warp w of block b routes tokens (b*W + w)*4 .. +3, then the next four `step` tokens on.
  const std::int64_t warp_first =
    (static_cast<std::int64_t>(blockIdx.x) * warps_per_block + warp) * tokens_per_warp;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * warps_per_block * tokens_per_warp;

  // Everything below may be written by the kernel before us.
  detail::wait_for_previous_kernel();

  const logit_type* logits = static_cast<const logit_type*>(p.logits);
  const std::int64_t stride = p.stride();
  const std::int64_t num_tokens = p.num_tokens;
  const std::int64_t num_valid = detail::valid_token_count(p);
  // Rows of the four tokens from `base` that have logits to read (padding rows are not read).
  auto rows_from = [&](std::int64_t base) {
    const std::int64_t left = num_valid - base;
    return static_cast<int>(left < 0 ? 0 : (left < tokens_per_warp ? left : tokens_per_warp));
  };
  constexpr bool may_copy_via_l1 = tiled_refill_after_routing<Config>;
  const bool via_l1 = may_copy_via_l1 && num_tokens * Config::num_experts *
                                             static_cast<std::int64_t>(sizeof(logit_type)) <=
                                           tiled_l1_copy_max_bytes;
  if (warp_first < num_tokens)
    warp_stage_rows<Config, may_copy_via_l1>(logits + warp_first * stride, stride, rows_from(warp_first), lane,
                                             storage.logits[0], via_l1);

  // The bias, once per block, as one row of the key layout: b (zero without a bias), or
  // 0.5 + b where the kernel screens.
  const auto* bias = static_cast<const bias_type*>(p.bias);
  for (int e = static_cast<int>(threadIdx.x); e < Config::num_experts; e += warps_per_block * warp_lanes)
  {
    // Screened kernels keep 0.5 + b here for `screen_key` (one instruction an expert less) and
    // read the exact b, needed only for the few candidates' exact keys, from global memory.
    const float b = bias != nullptr ? detail::element_traits<bias_type>::to_float(bias[e]) : 0.0f;
    shared.bias.element(0, e) = tiled_screening<Config> ? screen_bias(b) : b;
  }
  __syncthreads();

  detail::shared_slot_cursor shared_slot(p, warp_first + row, step);

  // The next four rows (an empty group past the end) are copied into the other tile before this
  // one is routed (two tiles), or into this tile once the warp is done with it: right after
  // scoring with a key tile, after routing with the keys in place (see tiled_logit_tiles).
  constexpr bool keys_in_place = tiled_keys_in_place<Config>;
  constexpr bool two_tiles = tiled_logit_tiles<Config> == 2;
  constexpr bool refill_after_routing = tiled_refill_after_routing<Config>;
  int current = 0;  // the tile routed now
  for (std::int64_t base = warp_first; base < num_tokens; base += step) {
    const std::int64_t next = base + step;
    const int next_rows = next < num_tokens ? rows_from(next) : 0;
    auto stage_next = [&] {
      warp_stage_rows<Config, may_copy_via_l1>(logits + (next_rows > 0 ? next : base) * stride, stride, next_rows,
                                               lane, storage.logits[current ^ (two_tiles ? 1 : 0)], via_l1);
    };
    if constexpr (two_tiles) {
      stage_next();
      warp_wait_rows<1>();
    } else {
      warp_wait_rows<0>();
    }
    const std::int64_t t = base + row;
    const bool routed = base < num_valid;  // warp-uniform: some token of the four has a row
    warp_topk_result result{};
    if (routed) {
      auto& keys = storage.keys(current);
      lane_candidates scored =
        tile_score_keys<Config, tiled_screening<Config>>(storage.logits[current], shared.bias, keys, lane);
      if constexpr (!keys_in_place) {
        __syncwarp();  // every lane has read its logits
        stage_next();
      }
      const logit_type* token_row = logits + (t < num_valid ? t : base) * stride;
      auto exact_bias = [&](int e) {
        if constexpr (tiled_screening<Config>)
          return bias != nullptr ? detail::element_traits<bias_type>::to_float(__ldg(bias + e)) : 0.0f;
        else
          return shared.bias.element(0, e);
      };
      auto score_of = [&](int e) {
        return elementwise_score(Config::scoring, detail::element_traits<logit_type>::to_float(token_row[e]));
      };
#if defined(MOE_ROUTER_TILED_PATH_HOOK)
      int path = 0;  // 0: the screened keys decided; 1: the groups needed exact keys; 2: the whole tile did
#endif
#pragma unroll 1
      for (;;) {  // at most twice: screened keys, then exact ones if the screened could not decide
        lane_candidates c = scored;
        warp_select_groups<Config>(lane, c);
        if (c.screened && !__all_sync(full_warp_mask, c.certain)) {
          // Group scores too close for the screen: the groups from the lanes' exact best two.
          c = tile_exact_best_two<Config>(keys, scored, exact_bias, lane, score_of);
          warp_select_groups<Config>(lane, c);
          c.screened = true;  // the key tile still holds screened keys
#if defined(MOE_ROUTER_TILED_PATH_HOOK)
          path = 1;
#endif
        }
        result = tile_topk<Config>(keys, lane, c, storage.topk[row], exact_bias, score_of);
        if (result.certain) break;  // warp-uniform
        __syncwarp();               // every lane is done with the screened keys
        scored = tile_score_keys_from_row<Config>(token_row, exact_bias, keys, lane);
#if defined(MOE_ROUTER_TILED_PATH_HOOK)
        path = 2;
#endif
      }
#if defined(MOE_ROUTER_TILED_PATH_HOOK)
      if constexpr (tiled_screening<Config>) MOE_ROUTER_TILED_PATH_HOOK(path, lane);
#endif
      if constexpr (!refill_after_routing)
        warp_store_row<Config>(result, lane, p, t, shared_slot.id(Config::num_experts), t < num_valid);
    } else if constexpr (!keys_in_place) {
      stage_next();
    }
    if constexpr (refill_after_routing) {
      // The copy before the stores, from one place for both branches above: issued after the
      // stores, Kimi-K2 fp32 at 131072 tokens took 6% longer (H100: 99.4 against 93.3 µs).
      __syncwarp();  // every lane is done with the keys
      stage_next();
      if (routed) warp_store_row<Config>(result, lane, p, t, shared_slot.id(Config::num_experts), t < num_valid);
    }
    if (t >= num_valid && t < num_tokens) warp_store_padding_row<Config>(lane, p, t);
    shared_slot.advance();
    __syncwarp();  // every lane is done with this tile before it is refilled
    if constexpr (two_tiles) current ^= 1;
  }
  asm volatile("cp.async.wait_all;" ::: "memory");
}
}  // namespace detail

/// The tiled kernel of `Config` (8 lanes per token). `p` was validated by the launcher, and its
/// rows are 16-byte aligned. (Its `__launch_bounds__`: see `tiled_min_blocks_per_sm`.)
template <class Config>
__global__ void __launch_bounds__(tiled_warps_per_block<Config>() * warp_lanes, tiled_min_blocks_per_sm<Config>())
  tiled_route_kernel(const route_params p)
{
  detail::tiled_route<Config>(p);
}

}  // namespace moe_router
