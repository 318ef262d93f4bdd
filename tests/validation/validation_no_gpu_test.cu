/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// Validation of the device entry points, run as a host test: `route_reference`,
// `route_fused<deepseek_v3_config<>>`, `route<default_route_table>` with each `route_path` and
// `default_route_table::launch` refuse every bad case of bad_params.hpp with cudaErrorInvalidValue
// and a reason that names the parameter, before any CUDA call. No GPU is needed, and none is
// touched: the pointers are host buffers, which a refused call must leave exactly as they were,
// and `num_tokens == 0` must succeed without launching anything (a launch would fail on a
// machine without a GPU).

#include "validation/bad_params.hpp"
#include "validation/entry_points.cuh"

#include <moe_router/dispatch.cuh>
#include <moe_router/error.hpp>
#include <moe_router/model_configs.cuh>
#include <moe_router/reference/reference_row.hpp>
#include <moe_router/route.cuh>
#include <moe_router/types.hpp>

#include <cuda_runtime_api.h>
#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using namespace moe_router;
using namespace moe_router::test;

/// A device entry point, and the limits it validates against.
struct entry_point {
  const char* name;
  bool fused_limits;  ///< held to fused_limits (refuses the fused_only cases too)
  std::function<cudaError_t(const route_params&, route_kernel*)> call;
  bool reports_kernel = true;  ///< sets `route_kernel` (route's out-parameter); else leaves it as it was
};

std::vector<entry_point> entry_points()
{
  auto table = [](route_path path) {
    return [path](const route_params& p, route_kernel* ran) { return call_route_default_table(p, 0, path, ran); };
  };
  return {
      // (these two report no kernel: `ran` is route's out-parameter)
      {"route_reference", false, [](const route_params& p, route_kernel*) { return call_route_reference(p, 0); },
       false},
      {"route_fused<deepseek_v3_config<>>", true,
       [](const route_params& p, route_kernel*) { return call_route_fused_deepseek_v3(p, 0); }, false},
      {"route<default_route_table>, route_path::automatic", false, table(route_path::automatic)},
      {"route<default_route_table>, route_path::fused", true, table(route_path::fused)},
      {"route<default_route_table>, route_path::reference", false, table(route_path::reference)},
      // (the table's own launch, which `route` calls: the fused kernel of the matching entry)
      {"default_route_table::launch", true,
       [](const route_params& p, route_kernel*) { return call_default_table_launch(p, 0); }, false},
  };
}

/// Call `e` on `p` and require a refusal: cudaErrorInvalidValue, a reason, nothing written and
/// (where `e` reports one) no kernel reported as run. Returns the reason.
std::string require_refused(const entry_point& e, const route_params& p, const host_buffers& b)
{
  route_kernel ran = route_kernel::fused;
  const cudaError_t status = e.call(p, &ran);
  const std::string reason = last_error_message();
  INFO(e.name << " returned " << cudaGetErrorName(status) << ": " << reason);
  CHECK(status == cudaErrorInvalidValue);
  CHECK(!reason.empty());
  if (e.reports_kernel) CHECK(ran == route_kernel::none);
  CHECK(b.unchanged());
  return reason;
}

}  // namespace

TEST_CASE("the device entry points refuse every bad case before any CUDA call, with a reason that names it",
          "[validation][no_gpu]")
{
  int refusals = 0;
  for (const entry_point& e : entry_points()) {
    for (const bad_param_case& c : bad_param_cases()) {
      if (c.who == refused_by::fused_only && !e.fused_limits) continue;  // valid there: it would launch
      INFO(e.name << ", case: " << c.what);
      host_buffers b;
      route_params p = b.params();
      c.change(p);
      const std::string reason = require_refused(e, p, b);
      INFO("reason: " << reason);
      CHECK(reason_problem(c, reason) == "");
      ++refusals;
    }
  }
  CHECK(refusals >= 6 * 45);
}

TEST_CASE("route_fused refuses parameters of another shape or type, naming the compiled configuration",
          "[validation][no_gpu]")
{
  struct mismatch {
    const char* what;
    void (*change)(route_params&);
    const char* got;  // what the reason must show of the call
  };
  const mismatch cases[] = {
      {"Kimi-K2's shape",
       [](route_params& p) {
         p.num_experts = 384;
         p.num_groups = 1;
         p.topk_group = 1;
       },
       "got E=384 G=1 TG=1 K=8"},
      {"another topk", [](route_params& p) { p.topk = 6; }, "got E=256 G=8 TG=4 K=6"},
      {"another topk_group", [](route_params& p) { p.topk_group = 3; }, "got E=256 G=8 TG=3 K=8"},
      {"softmax scoring", [](route_params& p) { p.scoring = scoring_func::softmax; }, "softmax"},
      {"max group score", [](route_params& p) { p.group_score = group_score_kind::max; }, "max"},
      {"bf16 logits", [](route_params& p) { p.logits_type = data_type::bf16; }, "logits=bf16"},
      {"f16 logits", [](route_params& p) { p.logits_type = data_type::f16; }, "logits=f16"},
      {"bf16 bias", [](route_params& p) { p.bias_type = data_type::bf16; }, "bias=bf16"},
      {"i64 ids", [](route_params& p) { p.ids_type = index_type::i64; }, "ids=i64"},
  };
  const entry_point fused = entry_points()[1];
  for (const mismatch& m : cases) {
    INFO("case: " << m.what);
    host_buffers b;
    route_params p = b.params();
    m.change(p);
    const std::string reason = require_refused(fused, p, b);
    INFO("reason: " << reason);
    CHECK(reason.find("do not match the compiled configuration") != std::string::npos);
    CHECK(reason.find(m.got) != std::string::npos);
    CHECK(reason.find("compiled E=256 G=8 TG=4 K=8 sigmoid top2_sum logits=f32 bias=f32 ids=i32") != std::string::npos);
  }

  // with no bias, the bias type does not matter
  host_buffers b;
  route_params p = b.params();
  p.bias = nullptr;
  p.bias_type = data_type::bf16;
  p.num_tokens = 0;  // nothing to launch: matching is all this checks
  CHECK(call_route_fused_deepseek_v3(p, 0) == cudaSuccess);
  CHECK(std::string(last_error_message()).empty());
}

TEST_CASE("which compiled shapes have a half-warp kernel, and from how many tokens route_fused runs it",
          "[validation][no_gpu]")
{
  // Sigmoid, E <= 256, K <= 16, groups of whole half-warp lanes: the half-warp kernel exists.
  static_assert(fused_half_warp_available<deepseek_v3_config<>>(), "DeepSeek-V3");
  static_assert(fused_half_warp_available<glm_4_5_config<>>(), "GLM-4.5");
  static_assert(fused_half_warp_available<minimax_m2_config<>>(), "MiniMax-M2");
  static_assert(fused_half_warp_available<llama_4_config<>>(), "Llama-4");
  static_assert(fused_half_warp_available<llama_4_scout_config<>>(), "Llama-4 with 16 experts");
  // Softmax, sqrtsoftplus, more than 256 experts, K > 16: only the warp kernel.
  static_assert(!fused_half_warp_available<qwen3_moe_config<>>(), "softmax");
  static_assert(!fused_half_warp_available<deepseek_v2_config<>>(), "softmax with groups");
  static_assert(!fused_half_warp_available<deepseek_v4_flash_config<>>(), "sqrtsoftplus");
  static_assert(!fused_half_warp_available<kimi_k2_config<>>(), "384 experts");
  static_assert(!fused_half_warp_available<experts_512_top22_config<>>(), "512 experts, K = 22");
  static_assert(!fused_half_warp_available<experts_1024_config<>>(), "1024 experts");
  static_assert(!fused_half_warp_available<route_config<256, 8, 4, 20>>(), "K = 20 > 16");
  // At most 10 experts per half-warp lane: from 4096 tokens; more: from 65536.
  CHECK(fused_half_warp_min_tokens<glm_4_5_config<>>() == 4096);
  CHECK(fused_half_warp_min_tokens<llama_4_config<>>() == 4096);
  CHECK(fused_half_warp_min_tokens<llama_4_scout_config<>>() == 4096);
  CHECK(fused_half_warp_min_tokens<deepseek_v3_config<>>() == 65536);
  CHECK(fused_half_warp_min_tokens<minimax_m2_config<>>() == 65536);
  // The kernel route_fused picks: by batch size, unless launch_options::token_lanes forces one.
  static_assert(fused_token_lanes<glm_4_5_config<>>(4095) == 32, "below the half-warp threshold");
  static_assert(fused_token_lanes<glm_4_5_config<>>(4096) == 16, "GLM-4.5, fp32: half-warp from 4096");
  static_assert(fused_token_lanes<glm_4_5_config<>>(8191) == 16, "GLM-4.5, fp32: half-warp up to 8191");
  static_assert(fused_token_lanes<glm_4_5_config<>>(8192) == 8, "GLM-4.5, fp32: tiled from 8192");
  static_assert(fused_token_lanes<glm_4_5_config<__nv_bfloat16>>(4096) == 16, "GLM-4.5, bf16: half-warp from 4096");
  static_assert(fused_token_lanes<glm_4_5_config<__nv_bfloat16>>(1 << 20) == 16, "GLM-4.5, bf16: no tiled kernel");
  static_assert(fused_token_lanes<deepseek_v3_config<>>(1, 16) == 16, "forced half-warp");
  static_assert(fused_token_lanes<deepseek_v3_config<>>(1, 8) == 8, "forced tiled");
  static_assert(fused_token_lanes<deepseek_v3_config<>>(1 << 20, 32) == 32, "forced warp");
  static_assert(fused_token_lanes<deepseek_v3_config<>>(1 << 20, 8, false) == 32, "unaligned rows: no tiled kernel");
  static_assert(fused_token_lanes<deepseek_v3_config<>>(1 << 20, 0, false) == 16, "unaligned rows: half-warp");
  static_assert(fused_token_lanes<kimi_k2_config<>>(1 << 20, 0, false) == 32, "no half-warp kernel");
  // The screened tiled kernel (sigmoid shapes) screens with the tangent in code from sm_90 PTX,
  // measured on compute capability 9.0 only: from that PTX, route_fused runs the warp kernel on
  // later cards. Code for other architectures screens with the exact sigmoid.
  constexpr auto measured = moe_router::detail::screened_code_measured;  // (PTX version, major, minor)
  static_assert(measured(90, 9, 0), "sm_90 code on an H100 or H200");
  static_assert(!measured(90, 10, 0) && !measured(90, 12, 0), "sm_90 PTX compiled by the driver for a later card");
  static_assert(measured(80, 8, 0) && measured(80, 9, 0) && measured(100, 10, 0), "code without the tangent");
  // The 16-lane configuration: 16 experts per lane for DeepSeek-V3, its groups 2 lanes each.
  using half = deepseek_v3_config<>::with_token_lanes<16>;
  static_assert(half::token_lanes == 16 && half::experts_per_lane == 16 && half::lanes_per_group == 2, "layout");
  static_assert(std::is_same<half::with_token_lanes<32>, deepseek_v3_config<>>::value, "round trip");
}

TEST_CASE("which compiled shapes have a tiled kernel, and from how many tokens route_fused runs it",
          "[validation][no_gpu]")
{
  // Element-wise scoring, K <= 8, E <= 512 in whole 16-byte chunks per lane, groups of whole lanes.
  static_assert(fused_tiled_available<deepseek_v3_config<>>(), "DeepSeek-V3");
  static_assert(fused_tiled_available<deepseek_v3_config<__nv_bfloat16>>(), "DeepSeek-V3, bf16");
  static_assert(fused_tiled_available<kimi_k2_config<__nv_bfloat16>>(), "Kimi-K2, bf16");
  static_assert(fused_tiled_available<glm_4_5_config<>>(), "GLM-4.5, fp32: 20 experts per lane");
  static_assert(!fused_tiled_available<glm_4_5_config<__nv_bfloat16>>(), "GLM-4.5, bf16: 40 bytes per lane");
  static_assert(fused_tiled_available<deepseek_v4_flash_config<>>(), "sqrtsoftplus");
  static_assert(fused_tiled_available<llama_4_config<>>(), "Llama-4, 128 experts");
  static_assert(!fused_tiled_available<llama_4_scout_config<>>(), "Llama-4, 16 experts: 2 per lane");
  static_assert(!fused_tiled_available<qwen3_moe_config<>>(), "softmax");
  static_assert(!fused_tiled_available<experts_512_top10_config<>>(), "softmax, K = 10");
  static_assert(!fused_tiled_available<experts_512_top22_config<>>(), "K = 22 > 8");
  static_assert(!fused_tiled_available<experts_1024_config<>>(), "1024 experts");
  static_assert(!fused_tiled_available<route_config<256, 16, 4, 8>>(), "16 groups: half a lane each");
  // The measured crossovers (docs/performance.md).
  CHECK(fused_tiled_min_tokens<deepseek_v3_config<>>() == 6144);  // fp32 with groups
  CHECK(fused_tiled_min_tokens<deepseek_v3_config<__nv_bfloat16>>() == 6144);
  CHECK(fused_tiled_min_tokens<minimax_m2_config<__nv_bfloat16>>() == 5120);  // 2-byte logits, no groups
  CHECK(fused_tiled_min_tokens<minimax_m2_config<>>() == 6144);  // fp32, no groups, 32 experts a lane
  CHECK(fused_tiled_min_tokens<glm_4_5_config<>>() == 8192);     // its half-warp kernel runs from 4096
  CHECK(fused_tiled_min_tokens<kimi_k2_config<>>() == 6144);     // fp32, 48 experts a lane
  // Which tiled kernels screen (measured: docs/performance.md, "Screening"): every sigmoid shape.
  static_assert(tiled_screening<kimi_k2_config<>> && tiled_screening<minimax_m2_config<__nv_bfloat16>> &&
                  tiled_screening<deepseek_v3_config<>> && tiled_screening<glm_4_5_config<>> &&
                  tiled_screening<llama_4_config<>>,
                "sigmoid: screened");
  static_assert(!tiled_screening<deepseek_v4_flash_config<>>, "sqrtsoftplus: no screening");
  CHECK(fused_tiled_min_tokens<kimi_k2_config<__nv_bfloat16>>() == 5120);
  CHECK(fused_tiled_min_tokens<deepseek_v4_flash_config<>>() == 65536);
  CHECK(fused_tiled_min_tokens<deepseek_v4_flash_config<__nv_bfloat16>>() == 7168);
  CHECK(fused_tiled_min_tokens<llama_4_config<>>() == std::numeric_limits<std::int64_t>::max());
  static_assert(fused_token_lanes<deepseek_v3_config<>>(6143) == 32, "below the tiled threshold");
  static_assert(fused_token_lanes<deepseek_v3_config<>>(6144) == 8, "at the tiled threshold");
  static_assert(fused_token_lanes<kimi_k2_config<__nv_bfloat16>>(5119) == 32,
                "Kimi-K2, bf16: the warp kernel below 5120");
  static_assert(fused_token_lanes<kimi_k2_config<__nv_bfloat16>>(5120) == 8, "Kimi-K2, bf16: tiled from 5120");
  static_assert(fused_token_lanes<kimi_k2_config<>>(5120) == 32, "Kimi-K2, fp32: tiled from 6144");
  static_assert(fused_token_lanes<llama_4_config<>>(1 << 20) == 16, "Llama-4: the half-warp kernel");
  // The tiled layout: 32 experts per lane for DeepSeek-V3, a group per lane, swizzled segments.
  using tiled = deepseek_v3_config<>::with_token_lanes<8>;
  static_assert(tiled::experts_per_lane == 32 && tiled::lanes_per_group == 1, "layout");
  using logit_tile = row_tile<tiled, float>;
  static_assert(logit_tile::segment_chunks == 8 && logit_tile::swizzle_divisor == 1 && logit_tile::rows == 4, "tile");
  static_assert(sizeof(logit_tile) == 4 * 256 * sizeof(float), "no padding");
  static_assert(row_tile<deepseek_v3_config<__nv_bfloat16>::with_token_lanes<8>, __nv_bfloat16>::swizzle_divisor == 2,
                "bf16: 4 chunks per segment, two segments per 128 bytes");
}

TEST_CASE("the tiled kernel's block size keeps the resident warps a multiple of four, as many as fit",
          "[validation][no_gpu]")
{
  // 228 KB of shared memory per SM, 1 KB of it reserved per block, at most 64 warps.
  static_assert(moe_router::detail::balanced_resident_warps(20224, 2) == 20, "10 blocks of 2 warps");
  static_assert(moe_router::detail::balanced_resident_warps(16128, 2) == 24, "13 blocks of 2 warps: 26, down to 24");
  static_assert(moe_router::detail::balanced_resident_warps(28928, 2) == 12, "7 blocks of 2 warps: 14, down to 12");
  static_assert(moe_router::detail::balanced_resident_warps(1024, 4) == 64, "at most 64 warps");
  // One logit tile with screened keys in place, unless two still leave 24 warps (GLM-4.5);
  // a key tile and one logit tile with 2-byte logits.
  static_assert(tiled_logit_tiles<deepseek_v3_config<>::with_token_lanes<8>> == 1, "DeepSeek-V3: 20 warps with two");
  static_assert(tiled_logit_tiles<kimi_k2_config<>::with_token_lanes<8>> == 1, "Kimi-K2: 12 warps with two");
  static_assert(tiled_logit_tiles<minimax_m2_config<>::with_token_lanes<8>> == 1, "MiniMax-M2: 20 warps with two");
  static_assert(tiled_logit_tiles<glm_4_5_config<>::with_token_lanes<8>> == 2, "GLM-4.5: 28 warps with two");
  static_assert(tiled_logit_tiles<deepseek_v4_flash_config<>::with_token_lanes<8>> == 2,
                "DeepSeek-V4-Flash: no screening, its registers limit the warps");
  static_assert(tiled_logit_tiles<deepseek_v3_config<__nv_bfloat16>::with_token_lanes<8>> == 1, "a key tile");
  // Four-warp blocks where four-warp ones fit more warps and two-warp ones leave 16 warps or
  // fewer (Kimi-K2 with bf16 logits), or, with one tile refilled after routing, fewer than 32
  // (Kimi-K2 with fp32 logits; DeepSeek-V3 has 32).
  static_assert(tiled_warps_per_block<kimi_k2_config<>::with_token_lanes<8>>() == 4, "Kimi-K2: 24 -> 28 warps");
  static_assert(tiled_blocks_per_sm<kimi_k2_config<>::with_token_lanes<8>>() == 7, "Kimi-K2: 7 blocks of 4 warps");
  // ... of which route_fused's grid takes 4 an SM (tiled_grid_blocks_per_sm); the others take all that fit.
  static_assert(tiled_grid_blocks_per_sm<kimi_k2_config<>::with_token_lanes<8>>() == 4 &&
                  tiled_grid_blocks_per_sm<kimi_k2_config<__nv_bfloat16>::with_token_lanes<8>>() == 0 &&
                  tiled_grid_blocks_per_sm<deepseek_v3_config<>::with_token_lanes<8>>() == 0 &&
                  tiled_grid_blocks_per_sm<minimax_m2_config<>::with_token_lanes<8>>() == 0,
                "Kimi-K2 fp32: 4 of its 7 blocks an SM");
  static_assert(tiled_warps_per_block<minimax_m2_config<>::with_token_lanes<8>>() == 2, "MiniMax-M2: 32 warps");
  static_assert(tiled_blocks_per_sm<deepseek_v3_config<>::with_token_lanes<8>>() == 16,
                "DeepSeek-V3: 16 blocks of 2 warps");
  static_assert(tiled_refill_after_routing<deepseek_v3_config<>::with_token_lanes<8>> &&
                  !tiled_refill_after_routing<glm_4_5_config<>::with_token_lanes<8>> &&
                  !tiled_refill_after_routing<deepseek_v3_config<__nv_bfloat16>::with_token_lanes<8>>,
                "refilled after routing: one tile with the keys in place");
  // The launch bounds ask for the blocks shared memory allows, but not more than leave 64
  // registers a thread (with screened keys; 96 without).
  static_assert(tiled_min_blocks_per_sm<deepseek_v3_config<>::with_token_lanes<8>>() == 16 &&
                  tiled_min_blocks_per_sm<kimi_k2_config<__nv_bfloat16>::with_token_lanes<8>>() == 5,
                "DeepSeek-V3: 32 warps; Kimi-K2 bf16: 20");
  static_assert(tiled_blocks_per_sm<llama_4_config<__nv_bfloat16>::with_token_lanes<8>>() == 22 &&
                  tiled_min_blocks_per_sm<llama_4_config<__nv_bfloat16>::with_token_lanes<8>>() == 16,
                "Llama-4 bf16: 44 warps by shared memory, 32 with 64 registers");
  static_assert(tiled_blocks_per_sm<deepseek_v4_flash_config<__nv_bfloat16>::with_token_lanes<8>>() == 12 &&
                  tiled_min_blocks_per_sm<deepseek_v4_flash_config<__nv_bfloat16>::with_token_lanes<8>>() == 10,
                "DeepSeek-V4-Flash bf16 (not screened): 24 warps by shared memory, 20 with 96 registers");
  static_assert(tiled_warps_per_block<kimi_k2_config<__nv_bfloat16>::with_token_lanes<8>>() == 4,
                "Kimi-K2, bf16: 16 -> 20 warps");
  static_assert(tiled_warps_per_block<deepseek_v3_config<>::with_token_lanes<8>>() == 2, "DeepSeek-V3: 32 warps");
  static_assert(sizeof(tiled_block_storage<deepseek_v3_config<>::with_token_lanes<8>>) == 12032,
                "DeepSeek-V3: 1024 bytes of bias, two warps of 4096 bytes of logits and 1408 of top-K storage");
  static_assert(tiled_warps_per_block<deepseek_v3_config<__nv_bfloat16>::with_token_lanes<8>>() == 2,
                "DeepSeek-V3, bf16: 24 warps");
  static_assert(tiled_warps_per_block<minimax_m2_config<__nv_bfloat16>::with_token_lanes<8>>() == 2,
                "MiniMax-M2, bf16: 24 warps");
  static_assert(tiled_warps_per_block<glm_4_5_config<>::with_token_lanes<8>>() == 2, "GLM-4.5: 28 warps");
  static_assert(sizeof(tiled_block_storage<kimi_k2_config<__nv_bfloat16>::with_token_lanes<8>>) ==
                  sizeof(tiled_block_layout<kimi_k2_config<__nv_bfloat16>::with_token_lanes<8>, 4, 1>),
                "the storage is the chosen layout");
}

TEST_CASE("the tiled layout: a token's 8 lanes reading the same chunk of their segments hit 8 bank groups",
          "[validation][no_gpu]")
{
  // Every chunk count per segment of the compiled tiled shapes (2 to 16), and every chunk.
  auto check = [](auto tile) {
    using tile_t = decltype(tile);
    for (int c = 0; c < tile_t::segment_chunks; ++c) {
      unsigned columns = 0;
      for (int tl = 0; tl < 8; ++tl) columns |= 1u << (tile_t::segment_chunk(1, tl, c) % 8);
      INFO("segment of " << tile_t::segment_chunks << " chunks, chunk " << c);
      CHECK(columns == 0xffu);
    }
    // And the swizzle is a permutation of each segment.
    for (int tl = 0; tl < 8; ++tl) {
      unsigned long long places = 0;
      for (int c = 0; c < tile_t::segment_chunks; ++c)
        places |= 1ull << (tile_t::segment_chunk(0, tl, c) - tl * tile_t::segment_chunks);
      CHECK(places == (1ull << tile_t::segment_chunks) - 1);
    }
  };
  check(row_tile<deepseek_v3_config<>::with_token_lanes<8>, float>{});                          // S = 8
  check(row_tile<deepseek_v3_config<__nv_bfloat16>::with_token_lanes<8>, __nv_bfloat16>{});    // S = 4
  check(row_tile<kimi_k2_config<>::with_token_lanes<8>, float>{});                              // S = 12
  check(row_tile<kimi_k2_config<__nv_bfloat16>::with_token_lanes<8>, __nv_bfloat16>{});        // S = 6
  check(row_tile<glm_4_5_config<>::with_token_lanes<8>, float>{});                              // S = 5
  check(row_tile<llama_4_config<__nv_bfloat16>::with_token_lanes<8>, __nv_bfloat16>{});        // S = 2
  check(row_tile<route_config<512, 1, 1, 8, scoring_func::sigmoid, group_score_kind::top2_sum, float, float,
                              std::int32_t, 8>,
                 float>{});  // S = 16
}

namespace {

/// `options` is refused with `reason` (part of the message) before any CUDA call: by
/// `route_fused<deepseek_v3_config<>>`, and by `route<default_route_table>` on every path, for a
/// shape the table holds (`p`) and one it does not.
void require_options_refused(const route_params& p, const launch_options& options, const char* reason)
{
  CHECK(call_route_fused_deepseek_v3(p, 0, options) == cudaErrorInvalidValue);
  CHECK(std::string(last_error_message()).find(reason) != std::string::npos);
  route_params uncompiled = p;
  uncompiled.num_experts = 96;
  uncompiled.num_groups = 4;
  uncompiled.topk_group = 2;
  uncompiled.topk = 5;
  REQUIRE_FALSE(default_table_contains(uncompiled));
  for (const route_path path : {route_path::fused, route_path::automatic, route_path::reference}) {
    for (const route_params& shape : {p, uncompiled}) {
      INFO("route_path " << static_cast<int>(path) << ", E = " << shape.num_experts);
      CHECK(call_route_default_table(shape, 0, path, nullptr, options) == cudaErrorInvalidValue);
      CHECK(std::string(last_error_message()).find(reason) != std::string::npos);
    }
  }
}

}  // namespace

TEST_CASE("route_fused refuses a launch_options::token_lanes it cannot honour", "[validation][no_gpu]")
{
  host_buffers b;
  route_params p = b.params();
  p.num_tokens = 0;  // refused before anything would launch
  for (const int lanes : {-1, 1, 4, 24, 64}) {
    INFO("token_lanes = " << lanes);
    launch_options options;
    options.token_lanes = lanes;
    require_options_refused(p, options, "token_lanes must be 0");
  }
  for (const int lanes : {0, 16, 32, 8}) {  // DeepSeek-V3 has all three kernels
    INFO("token_lanes = " << lanes);
    launch_options options;
    options.token_lanes = lanes;
    CHECK(call_route_fused_deepseek_v3(p, 0, options) == cudaSuccess);
  }
  // Qwen3-MoE (softmax) has no half-warp kernel: asking for one is an error that says why.
  p.num_experts = 128;
  p.num_groups = 1;
  p.topk_group = 1;
  p.scoring = scoring_func::softmax;
  launch_options half;
  half.token_lanes = 16;
  REQUIRE(default_table_contains(p));
  CHECK(call_route_default_table(p, 0, route_path::fused, nullptr, half) == cudaErrorInvalidValue);
  CHECK(std::string(last_error_message()).find("no half-warp fused kernel") != std::string::npos);
  half.token_lanes = 32;
  CHECK(call_route_default_table(p, 0, route_path::fused, nullptr, half) == cudaSuccess);
  // Nor a tiled kernel.
  launch_options tiled;
  tiled.token_lanes = 8;
  CHECK(call_route_default_table(p, 0, route_path::fused, nullptr, tiled) == cudaErrorInvalidValue);
  CHECK(std::string(last_error_message()).find("no tiled fused kernel") != std::string::npos);
}

TEST_CASE("route_fused refuses a negative launch_options::max_blocks", "[validation][no_gpu]")
{
  host_buffers b;
  route_params p = b.params();
  p.num_tokens = 0;  // refused before anything would launch
  for (const int max_blocks : {-1, -132, std::numeric_limits<int>::min()}) {
    INFO("max_blocks = " << max_blocks);
    launch_options options;
    options.max_blocks = max_blocks;
    require_options_refused(p, options, "max_blocks must be 0");
  }
  for (const int max_blocks : {0, 1, 7, std::numeric_limits<int>::max()}) {
    INFO("max_blocks = " << max_blocks);
    launch_options options;
    options.max_blocks = max_blocks;
    CHECK(call_route_fused_deepseek_v3(p, 0, options) == cudaSuccess);
    CHECK(call_route_default_table(p, 0, route_path::automatic, nullptr, options) == cudaSuccess);
  }
}

TEST_CASE("route_path::fused and the table's launch, with a shape the table does not hold, list the compiled shapes",
          "[validation][no_gpu]")
{
  const entry_point fused_path = entry_points()[3], table_launch = entry_points()[5];
  struct uncompiled {
    const char* what;
    void (*change)(route_params&);
    const char* got;
  };
  const uncompiled cases[] = {
      {"96 experts in 4 groups",
       [](route_params& p) {
         p.num_experts = 96;
         p.num_groups = 4;
         p.topk_group = 2;
         p.topk = 5;
       },
       "E=96 G=4 TG=2 K=5 sigmoid top2_sum logits=f32"},
      {"the max group score on DeepSeek-V3's shape", [](route_params& p) { p.group_score = group_score_kind::max; },
       "E=256 G=8 TG=4 K=8 sigmoid max logits=f32"},
      {"f16 logits of DeepSeek-V3", [](route_params& p) { p.logits_type = data_type::f16; }, "logits=f16"},
      {"int64 ids of DeepSeek-V3", [](route_params& p) { p.ids_type = index_type::i64; }, "ids=i64"},
      {"a bf16 bias of DeepSeek-V3", [](route_params& p) { p.bias_type = data_type::bf16; }, "bias=bf16"},
  };
  for (const entry_point& e : {fused_path, table_launch}) {
    for (const uncompiled& u : cases) {
      INFO(e.name << ", case: " << u.what);
      host_buffers b;
      route_params p = b.params();
      u.change(p);
      CHECK_FALSE(default_table_contains(p));
      // The reason is this call's, not one left by an earlier refusal.
      route_params bad = p;
      bad.num_experts = 0;
      REQUIRE(call_route_reference(bad, 0) == cudaErrorInvalidValue);
      const std::string reason = require_refused(e, p, b);
      INFO("reason: " << reason);
      CHECK(reason.find("no fused kernel is compiled for") != std::string::npos);
      CHECK(reason.find(u.got) != std::string::npos);
      CHECK(reason.find("compiled: 256/8/4/8 sigmoid top2_sum f32 f32 i32") != std::string::npos);
      CHECK(reason.find("384/1/1/8 sigmoid f32 f32 i32") != std::string::npos);
      CHECK(reason.find("1024/8/4/8 sigmoid top2_sum bf16 f32 i32") != std::string::npos);  // the last: none cut
      CHECK(reason.find("...") == std::string::npos);
    }
  }
}

TEST_CASE("route refuses a route_path value that is not one of the enum's", "[validation][no_gpu]")
{
  for (const int value : {3, -1, 42}) {
    INFO("route_path " << value);
    host_buffers b;
    const route_params p = b.params();
    route_kernel ran = route_kernel::fused;
    const cudaError_t status = call_route_default_table(p, 0, static_cast<route_path>(value), &ran);
    const std::string reason = last_error_message();
    INFO("reason: " << reason);
    CHECK(status == cudaErrorInvalidValue);
    CHECK(reason.find("route_path") != std::string::npos);
    CHECK(reason.find(std::to_string(value)) != std::string::npos);
    CHECK(ran == route_kernel::none);
    CHECK(b.unchanged());
  }
}

TEST_CASE("num_tokens == 0 succeeds with null pointers everywhere and launches nothing", "[validation][no_gpu]")
{
  // Without a GPU (as in CI) any launch would fail: success shows that nothing was launched. On
  // a GPU validation_gpu_test shows it instead, by the nodes of a captured graph (none).
  for (const entry_point& e : entry_points()) {
    INFO(e.name);
    for (const int shared : {0, 1}) {
      host_buffers b;
      route_params p = b.params();
      p.num_tokens = 0;
      p.logits = nullptr;
      p.bias = nullptr;
      p.expert_map = nullptr;
      p.num_valid_tokens = nullptr;
      p.weights = nullptr;
      p.ids = nullptr;
      p.num_shared_slots = shared;
      route_kernel ran = route_kernel::fused;
      const cudaError_t status = e.call(p, &ran);
      INFO("returned " << cudaGetErrorName(status) << ": " << last_error_message());
      CHECK(status == cudaSuccess);
      CHECK(std::string(last_error_message()).empty());
      if (e.reports_kernel) CHECK(ran == route_kernel::none);

      // without a bias its type is not looked at
      p.bias_type = data_type::f16;
      CHECK(e.call(p, &ran) == cudaSuccess);
      CHECK(std::string(last_error_message()).empty());

      // a bad shape is still refused
      p.num_groups = 7;
      CHECK(e.call(p, &ran) == cudaErrorInvalidValue);
      CHECK(std::string(last_error_message()).find("num_groups") != std::string::npos);
    }
  }
}

TEST_CASE("a refused call's reason is replaced by the next call's outcome", "[validation][no_gpu]")
{
  host_buffers b;
  route_params p = b.params();
  p.topk = 0;
  CHECK(call_route_reference(p, 0) == cudaErrorInvalidValue);
  CHECK(std::string(last_error_message()).find("topk") != std::string::npos);
  p.topk = 8;
  p.row_stride = 3;
  CHECK(call_route_fused_deepseek_v3(p, 0) == cudaErrorInvalidValue);
  CHECK(std::string(last_error_message()).find("row_stride") != std::string::npos);
  p.row_stride = 0;
  p.num_tokens = 0;
  CHECK(call_route_default_table(p, 0, route_path::fused) == cudaSuccess);
  CHECK(std::string(last_error_message()).empty());
}

// reference_row.hpp is "host or device" (api.md): a user's kernel sizes and carves the scratch of
// one row and routes it. Compiled here, not run: the header's functions must be callable from
// device code (`row_scratch_bytes` was a host-only constexpr function).
__device__ void reference_row_in_a_user_kernel(const moe_router::route_params& p, std::int64_t t, void* buffer)
{
  static_assert(moe_router::reference::row_scratch_bytes(256) == 9 * 256, "9 bytes an expert");
  if (moe_router::reference::row_scratch_bytes(p.num_experts) > 0)
    moe_router::reference::reference_route_row(p, t, p.num_tokens,
                                                moe_router::reference::make_row_scratch(buffer, p.num_experts));
}
