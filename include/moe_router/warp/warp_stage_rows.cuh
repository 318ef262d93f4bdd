/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file warp_stage_rows.cuh
 * @brief The tiled kernel's shared-memory layout of a warp's token rows (`row_tile`) and the
 * asynchronous copy that stages the rows there (`warp_stage_rows`).
 *
 * With 8 lanes per token (`Config::token_lanes == 8`) a warp routes four consecutive tokens,
 * and token lane l works on experts l*V .. l*V+V-1 (V = E/8, 16 to 64 experts). Loading those
 * straight into registers would make every 16-byte load of the warp touch 32 different
 * 128-byte lines; instead the warp copies its four rows into shared memory with coalesced
 * 16-byte `cp.async` (up to 512 contiguous bytes per instruction, bypassing registers) ahead of routing
 * them, and each lane then reads its own segment from there.
 *
 * Layout: a row is its 8 lanes' segments of V elements, each S whole 16-byte chunks, back to
 * back. Within a segment the chunks are swizzled so that the 8 lanes of a token reading chunk c
 * of their segments (one quarter-warp phase of a 16-byte shared load) hit 8 different bank
 * groups (16-byte columns of the 128-byte bank row): lane l's chunk c sits at place c ^ (l / m)
 * of its segment, where m = 8 / gcd(S, 8) is how many lanes' segments start in different
 * columns. l / m is below gcd(S, 8), a power of two that divides S, so the XOR only permutes
 * the chunks within aligned groups of gcd(S, 8): a permutation of the segment. Swizzling instead
 * of padding keeps a warp's shared memory, which is what limits the resident warps, at the size
 * of its rows. (An XOR of a compile-time chunk number is one instruction a chunk; the rotation
 * (c + l / m) mod S it replaced took an add, a comparison and a conditional subtraction.)
 */

#include <moe_router/config.cuh>
#include <moe_router/warp/token_lanes.cuh>

#include <cstdint>

namespace moe_router {

/**
 * @brief `Rows` rows of `Config`'s E elements of type `Element` in shared memory, each lane
 * segment swizzled (see the file comment). `Element` is the logit type, `std::uint32_t` (choice
 * keys) or `float` (the bias).
 */
template <class Config, class Element, int Rows = warp_lanes / Config::token_lanes>
struct row_tile {
  static_assert(Config::token_lanes == 8, "row_tile is the layout of the tiled kernel (8 lanes per token)");
  /// Elements in a 16-byte chunk.
  static constexpr int chunk_elements = 16 / static_cast<int>(sizeof(Element));
  static_assert(Config::experts_per_lane % chunk_elements == 0 && Config::full_lanes,
                "a lane segment must be whole 16-byte chunks: E must be a multiple of 8 * 16 / sizeof(element)");
  /// S: chunks of one lane's segment.
  static constexpr int segment_chunks = Config::experts_per_lane / chunk_elements;
  /// Chunks of a row.
  static constexpr int row_chunks = Config::token_lanes * segment_chunks;
  static constexpr int rows = Rows;
  /// m: lane l's chunk c sits at place c ^ (l / m) (see the file comment).
  static constexpr int swizzle_divisor =
    8 / (segment_chunks % 8 == 0 ? 8 : segment_chunks % 4 == 0 ? 4 : segment_chunks % 2 == 0 ? 2 : 1);

  uint4 chunk[Rows * row_chunks];

  /// Chunk `c` (0 .. segment_chunks-1) of token lane `tl`'s segment of row `row`.
  __host__ __device__ __forceinline__ static constexpr int segment_chunk(int row, int tl, int c)
  {
    return row * row_chunks + tl * segment_chunks + (c ^ (tl / swizzle_divisor));
  }
  /// Chunk `c` (0 .. row_chunks-1) of row `row`, counted in the row's own order.
  __host__ __device__ __forceinline__ static constexpr int row_chunk(int row, int c)
  {
    return segment_chunk(row, c / segment_chunks, c % segment_chunks);
  }
  /// Element `j` (0 .. V-1) of token lane `tl`'s segment of row `row`: expert tl*V + j.
  __device__ __forceinline__ Element& segment_element(int row, int tl, int j)
  {
    return reinterpret_cast<Element*>(&chunk[segment_chunk(row, tl, j / chunk_elements)])[j % chunk_elements];
  }
  /// Element `e` (an expert, 0 .. E-1) of row `row`.
  __device__ __forceinline__ Element& element(int row, int e)
  {
    return segment_element(row, e / Config::experts_per_lane, e % Config::experts_per_lane);
  }
  __device__ __forceinline__ const Element& segment_element(int row, int tl, int j) const
  {
    return const_cast<row_tile*>(this)->segment_element(row, tl, j);
  }
  __device__ __forceinline__ const Element& element(int row, int e) const
  {
    return const_cast<row_tile*>(this)->element(row, e);
  }
};

namespace detail {

/// Copy 16 bytes from global to shared memory asynchronously (`cp.async`, cached in L2 only);
/// with `valid` false, write 16 zero bytes and read nothing.
__device__ __forceinline__ void copy_chunk_async(uint4* shared, const void* global, bool valid)
{
  const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(address), "l"(global), "r"(valid ? 16 : 0)
               : "memory");
}

/// `copy_chunk_async`, cached in L1 too when `via_l1` (`cp.async.ca`). Both copies are issued,
/// one predicated off: a branch around the warp's copies moved the registers and the schedule
/// of the whole kernel instead (Kimi-K2 fp32 1% to 2% slower at 8192 and 16384 tokens than
/// this, on an H100).
__device__ __forceinline__ void copy_chunk_async(uint4* shared, const void* global, bool valid, bool via_l1)
{
  const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  asm volatile(
    "{\n"
    "  .reg .pred l1;\n"
    "  setp.ne.b32 l1, %3, 0;\n"
    "  @l1 cp.async.ca.shared.global [%0], [%1], 16, %2;\n"
    "  @!l1 cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
    "}\n" ::"r"(address),
    "l"(global), "r"(valid ? 16 : 0), "r"(via_l1 ? 1 : 0)
    : "memory");
}

}  // namespace detail

/**
 * @brief Start copying rows `first_row`, `first_row + stride`, ... (the warp's `rows` tokens; 0
 * to 4, the others zero-filled) into `tile`, as one `cp.async` group. All 32 lanes call it,
 * each issuing up to ceil(row chunks / 32) 16-byte copies a row; lane i of a row's copy q
 * moves its chunk 32q + i, so each instruction reads up to 512 contiguous bytes of a row
 * (coalesced).
 * Requires 16-byte aligned rows (`first_row` and `stride * sizeof(logit_type)`).
 * Wait with `warp_wait_rows`.
 * @tparam MayCopyViaL1 compile the choice of `via_l1` in (else the copies go through L2 only,
 *         with one instruction each, whatever `via_l1` says)
 * @param via_l1 allocate the rows' lines in L1 as well (`cp.async.ca`), so that reading some
 *               of their logits again from global memory soon after finds them there; else L2
 *               only (`cp.async.cg`). Warp-uniform.
 */
template <class Config, bool MayCopyViaL1 = false>
__device__ __forceinline__ void warp_stage_rows(const typename Config::logit_type* first_row, std::int64_t stride,
                                                int rows, int lane,
                                                row_tile<Config, typename Config::logit_type>& tile,
                                                bool via_l1 = false)
{
  using tile_t = row_tile<Config, typename Config::logit_type>;
  // Copy q of a row moves its chunk 32q + lane, which lands at the same place of every row;
  // where a row is not whole copies of 32 chunks, the lanes past its end skip its last copy.
  // So the places are worked out once per lane and the address once per row. (The four rows
  // copied as one run of chunks, each copy's row and place worked out on its own, cost about
  // 20 instructions a copy: 160 a tile of DeepSeek-V3 with fp32 logits, against about 40.)
  constexpr int copies_per_row = (tile_t::row_chunks + warp_lanes - 1) / warp_lanes;
  int place[copies_per_row];
#pragma unroll
  for (int q = 0; q < copies_per_row; ++q) {
    const int c = q * warp_lanes + lane;
    place[q] = tile_t::row_chunk(0, tile_t::row_chunks % warp_lanes == 0 || c < tile_t::row_chunks ? c : 0);
  }
#pragma unroll
  for (int row = 0; row < tile_t::rows; ++row) {
    const bool valid = row < rows;
    const uint4* source = reinterpret_cast<const uint4*>(first_row + (valid ? row * stride : 0)) + lane;
#pragma unroll
    for (int q = 0; q < copies_per_row; ++q)
      if (tile_t::row_chunks % warp_lanes == 0 || q * warp_lanes + lane < tile_t::row_chunks) {
        uint4* destination = &tile.chunk[row * tile_t::row_chunks + place[q]];
        if constexpr (MayCopyViaL1)
          detail::copy_chunk_async(destination, source + q * warp_lanes, valid, via_l1);
        else
          detail::copy_chunk_async(destination, source + q * warp_lanes, valid);
      }
  }
  asm volatile("cp.async.commit_group;" ::: "memory");
}

/// Wait until the calling warp's copies but the `Pending` most recent groups have landed,
/// then make every lane's copies visible to the whole warp.
template <int Pending>
__device__ __forceinline__ void warp_wait_rows()
{
  asm volatile("cp.async.wait_group %0;" ::"n"(Pending) : "memory");
  __syncwarp();
}

}  // namespace moe_router
