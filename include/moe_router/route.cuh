/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file route.cuh
 * @brief The fused kernel's host launcher, `route_fused<Config>` (the compiled shape), and how it
 * picks the warp, half-warp or tiled kernel. Parameters in, `cudaError_t` out; nothing is
 * allocated and nothing waits for the device, so it can be captured in a CUDA graph. (Any shape:
 * `route_reference`, reference/reference_kernel.cuh; a run-time shape: `route<Table>`,
 * dispatch.cuh.)
 */

#include <moe_router/config.cuh>
#include <moe_router/cuda_error.cuh>
#include <moe_router/detail/debug_checks.cuh>
#include <moe_router/error.hpp>
#include <moe_router/kernel/fused_route_kernel.cuh>
#include <moe_router/kernel/tiled_route_kernel.cuh>
#include <moe_router/reference/reference_kernel.cuh>
#include <moe_router/types.hpp>
#include <moe_router/validate.hpp>

#include <cuda_runtime_api.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace moe_router {

/// Limits of the fused kernel (any compiled shape is within them).
constexpr route_limits fused_limits{1024, warp_lanes};

/// How a launcher launches.
struct launch_options {
  /// Launch with programmatic dependent launch (Hopper): the kernel may start while the
  /// previous kernel of the stream (e.g. the router GEMM) finishes, and waits on it before it
  /// reads anything. Off by default. The warp and half-warp kernels take it; the tiled kernel
  /// (large batches, see `fused_token_lanes`) is launched without it, as it was slower with it.
  bool programmatic_dependent_launch = false;
  /// Lanes per token of the fused kernel: 0 (the default) chooses by batch size, 32 forces a
  /// warp per token, 16 a half-warp per token where the shape allows it
  /// (`fused_half_warp_available<Config>()`), 8 the tiled kernel where the shape allows it
  /// (`fused_tiled_available<Config>()`) and the rows are 16-byte aligned (unaligned rows run
  /// with 32 lanes; so do sigmoid shapes built from sm_90 PTX on a card other than 9.0:
  /// `detail::screened_code_measured`). Asking for a kernel the shape does not have is an error.
  int token_lanes = 0;
  /// At most this many blocks in the fused kernel's grid; 0 (the default): as many as the card
  /// holds at once, fewer for few tokens. The kernels are persistent (each warp walks the tokens
  /// with the grid's stride), so any positive count routes every row: fewer blocks leave SMs to
  /// kernels running beside this one (the hardware places the blocks), and each warp then
  /// routes more rows or tiles. Must be 0 or more.
  int max_blocks = 0;
};

/**
 * @brief Does `Config` have a half-warp (16 lanes per token) fused kernel?
 *
 * It does where its shape gains from 16 lanes per token (two tokens per warp). The cross-lane
 * steps then serve two tokens per instruction, while each lane's own work doubles; measured on
 * an H200 that pays for sigmoid scoring when a lane holds at most 16 experts (E <= 256; more
 * costs registers and occupancy). sqrtsoftplus (whose per-expert work dominates: +4% at best),
 * softmax (summed in a 32-lane order), K > 16 and group shapes that do not fall on whole
 * half-warp lanes keep 32 lanes.
 */
template <class Config>
constexpr bool fused_half_warp_available()
{
  return Config::scoring == scoring_func::sigmoid && Config::num_experts <= 256 && Config::topk <= 16 &&
         detail::groups_fill_lanes(Config::num_experts, Config::num_groups, 16);
}

/**
 * @brief From this many tokens on, `route_fused` runs `Config`'s half-warp kernel (when it has
 * one). Below it a token's latency matters more than the instructions it saves.
 *
 * With at most 10 experts per half-warp lane, from 4096 tokens. Measured on an H100 with the
 * benchmark's inputs, every kernel forced (benchmarks/kernel_sweep.cu), µs, 32 -> 16 lanes at
 * 4096 and 6144 tokens: GLM-4.5 (160 experts) fp32 4.05 -> 3.96 and 5.24 -> 4.89, bf16 4.24 ->
 * 3.84 and 5.51 -> 4.63; Llama-4 (128) fp32 2.59 -> 2.59 and 3.32 -> 3.08, bf16 2.70 -> 2.51 and
 * 3.40 -> 2.97; Llama-4 Scout (16) 2.15 -> 1.77 and 2.56 -> 2.03. Below, at 3072 tokens, from
 * 5% faster to 2.4% slower, and at 2048 up to 9% slower (GLM-4.5 fp32).
 *
 * With 16 experts a lane (DeepSeek-V3, 256 experts: 127 registers, half the resident warps) it
 * is slower up to 8192 tokens, even at 32768 and 1.07x to 1.12x faster at 131072 on an H200
 * (docs/performance.md), so that threshold sits between those two (65536 itself was not
 * measured).
 */
template <class Config>
constexpr std::int64_t fused_half_warp_min_tokens()
{
  return (Config::num_experts + 15) / 16 <= 10 ? 4096 : 65536;
}

/**
 * @brief Does `Config` have a tiled fused kernel (8 lanes per token, four tokens per warp, rows
 * staged in shared memory; kernel/tiled_route_kernel.cuh)?
 *
 * It does for element-wise scoring (sigmoid, sqrtsoftplus), K <= 8, E <= 512 with each lane's
 * E/8 logits whole 16-byte chunks (E a multiple of 32 for fp32 logits, of 64 for 2-byte ones),
 * and groups of whole lanes (G = 1, 2, 4 or 8): DeepSeek-V3, Kimi-K2, MiniMax-M2, Llama-4
 * (128 experts), DeepSeek-V4-Flash, and GLM-4.5 with fp32 logits.
 */
template <class Config>
constexpr bool fused_tiled_available()
{
  constexpr int E = Config::num_experts;
  constexpr int chunk = 16 / static_cast<int>(sizeof(typename Config::logit_type));
  return Config::scoring != scoring_func::softmax && Config::topk <= 8 && E <= 512 && E % (8 * chunk) == 0 &&
         detail::groups_fill_lanes(E, Config::num_groups, 8);
}

/**
 * @brief From this many tokens on, `route_fused` runs `Config`'s tiled kernel (when it has one
 * and the rows are 16-byte aligned); below, a token's latency matters more than the
 * instructions the tiled kernel saves (a warp routes four tokens one after another).
 *
 * The crossovers measured with every kernel forced (benchmarks/kernel_sweep.cu; H100, the
 * benchmark's inputs, µs; docs/performance.md, "Between"):
 * - 6144 tokens with sigmoid scores (screened), unless the half-warp kernel runs from 4096
 *   (`fused_half_warp_min_tokens`). Warp -> tiled kernel at 6144 tokens: DeepSeek-V3 fp32 7.23
 *   -> 6.57, bf16 7.17 -> 6.15; Kimi-K2 fp32 7.80 -> 7.35, bf16 7.64 -> 6.45; MiniMax-M2 fp32
 *   7.04 -> 5.89, bf16 6.94 -> 5.41. At 5120 the warp kernel still wins for DeepSeek-V3 (5.69
 *   against 6.49 with fp32 logits, 5.61 against 6.04 with bf16) and is as fast with fp32
 *   logits and no groups (Kimi-K2 6.97 against 7.02, MiniMax-M2 5.54 against 5.55).
 * - 5120 with sigmoid scores, 2-byte logits and no groups: there the tiled kernel already wins
 *   (Kimi-K2 bf16 6.77 -> 6.35 µs, MiniMax-M2 bf16 5.45 -> 5.19; at 4096 the warp kernel is
 *   faster for MiniMax-M2, 4.68 against 5.14, and Kimi-K2 is within 2%).
 * - 8192 where the half-warp kernel runs from 4096 (GLM-4.5 fp32: 16 lanes 5.68 µs at 7168
 *   tokens against 5.97 tiled, 5.96 against 6.30 at 8192).
 * - 7168 for 2-byte logits with sqrtsoftplus scores (DeepSeek-V4-Flash bf16: 7.79 warp against
 *   8.57 tiled at 6144 tokens, 10.12 against 9.35 at 7168; measured again, 7.83 to 7.86 against
 *   8.55 to 8.60, and 10.14 to 10.22 against 9.28 to 9.36).
 * - 65536 for sqrtsoftplus with 4-byte logits (DeepSeek-V4-Flash: even at 32768, 67.4 against
 *   72.5 µs at 65536 on an H200: its per-expert work dominates).
 * - Never with K < 6 (Llama-4, top-1): the half-warp kernel is as fast at every size measured,
 *   so the tiled kernel runs only when asked for.
 */
template <class Config>
constexpr std::int64_t fused_tiled_min_tokens()
{
  constexpr bool four_byte_logits = sizeof(typename Config::logit_type) == 4;
  if (Config::topk < 6) return std::numeric_limits<std::int64_t>::max();
  if (Config::scoring == scoring_func::sqrtsoftplus) return four_byte_logits ? 65536 : 7168;
  // Where the half-warp kernel runs from 4096 tokens it stays up to 8192 (GLM-4.5).
  constexpr bool half_warp_first =
    fused_half_warp_available<Config>() && fused_half_warp_min_tokens<Config>() < 8192;
  if (Config::scoring != scoring_func::sigmoid || half_warp_first) return 8192;
  return !four_byte_logits && Config::num_groups == 1 ? 5120 : 6144;
}

/// Whether every row of `p.logits` starts on a 16-byte boundary (the first row and the row
/// stride in bytes), as the tiled kernel's copies need: where not, `route_fused` runs another.
inline bool logit_rows_aligned(const route_params& p)
{
  return reinterpret_cast<std::uintptr_t>(p.logits) % 16 == 0 && p.stride() * size_of(p.logits_type) % 16 == 0;
}

/// Lanes per token of the kernel `route_fused<Config>` runs for `num_tokens` tokens with
/// `token_lanes` (`launch_options::token_lanes`, assumed valid) on rows that are (or are not)
/// 16-byte aligned (`logit_rows_aligned`): 8, 16 or 32.
template <class Config>
constexpr int fused_token_lanes(std::int64_t num_tokens, int token_lanes = 0, bool rows_aligned = true)
{
  if (token_lanes == 32) return 32;
  if (fused_tiled_available<Config>() && rows_aligned &&
      (token_lanes == 8 || (token_lanes == 0 && num_tokens >= fused_tiled_min_tokens<Config>())))
    return 8;
  if (!fused_half_warp_available<Config>() || token_lanes == 8) return 32;
  return token_lanes == 16 || num_tokens >= fused_half_warp_min_tokens<Config>() ? 16 : 32;
}

namespace detail {

/// Are `options` values `launch_options` allows (`token_lanes` 0, 32, 16 or 8; `max_blocks` 0 or
/// more)? Records the reason when not. (Whether the shape has that kernel is `route_fused`'s
/// check.)
inline bool validate_launch_options(const launch_options& options)
{
  const int lanes = options.token_lanes;
  if (lanes != 0 && lanes != 32 && lanes != 16 && lanes != 8)
    return fail("launch_options::token_lanes must be 0 (by batch size), 32, 16 or 8; got %d", lanes);
  if (options.max_blocks < 0)
    return fail("launch_options::max_blocks must be 0 (as many as the card holds) or more; got %d", options.max_blocks);
  return true;
}

/// The kernel of `KernelConfig` (by its lanes per token), its block and its shared memory.
template <class KernelConfig>
struct fused_kernel_of {
  static constexpr bool tiled = KernelConfig::token_lanes == 8;
  static constexpr int warps()
  {
    if constexpr (tiled)
      return tiled_warps_per_block<KernelConfig>();
    else
      return fused_warps_per_block;
  }
  static constexpr int warps_per_block = warps();
  static constexpr int block_threads = warps_per_block * warp_lanes;
  static constexpr int tokens_per_block = warps_per_block * (warp_lanes / KernelConfig::token_lanes);
  static constexpr std::size_t shared_bytes()
  {
    if constexpr (tiled)
      return sizeof(tiled_block_storage<KernelConfig>);
    else
      return 0;
  }
  static constexpr std::size_t dynamic_shared_bytes = shared_bytes();
  static constexpr auto kernel()
  {
    if constexpr (tiled)
      return tiled_route_kernel<KernelConfig>;
    else
      return fused_route_kernel<KernelConfig>;
  }
};

/// May a screened tiled kernel (`tiled_screening`) whose code came from PTX of `ptx_version`
/// run on a card of compute capability `major`.`minor`? Code for sm_90 screens with the MUFU's
/// approximate tangent, whose error screening_test measured on 9.0 (H100, H200) and nowhere
/// else (screening.cuh); code for any other architecture screens with the exact sigmoid. A
/// build that carries compute_90 PTX (`-arch=sm_90`, CMake's `90`) also runs on later cards,
/// compiled there by the driver, tangent included: those take the warp kernel instead.
constexpr bool screened_code_measured(int ptx_version, int major, int minor)
{
  return ptx_version != 90 || (major == 9 && minor == 0);
}

/// `screened_code_measured` for `device` (false where it cannot be queried: the warp kernel
/// then runs, and its launch reports the error).
inline bool screened_code_measured_on_device(int ptx_version, int device)
{
  if (ptx_version != 90) return true;
  int major = 0, minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return screened_code_measured(ptx_version, major, minor);
}

/// Launch the fused kernel of `KernelConfig` over `p` (validated) with a persistent grid.
template <class KernelConfig>
cudaError_t launch_fused(const route_params& p, cudaStream_t stream, launch_options options)
{
  using kernel_of = fused_kernel_of<KernelConfig>;
  constexpr int tokens_per_block = kernel_of::tokens_per_block;
  int device = 0, sms = 0;
  cudaError_t status = cudaGetDevice(&device);
  if (status == cudaSuccess) status = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    fail("could not query the device: %s", cudaGetErrorString(status));
    return status;
  }
  // A persistent grid: as many blocks as are resident at once, fewer for few tokens or for
  // `options.max_blocks`. The kernel's setup is per device (the shared-memory attribute applies
  // to the current device only, and the occupancy is that device's): done once for each of the
  // first `cached_devices` devices (and again after a failed query), on every call for the
  // others. The attribute outlives `cudaDeviceReset` (CUDA 13.0, capture_setup_test).
  constexpr int cached_devices = 64;
  static std::atomic<int> cached_blocks_per_sm[cached_devices];  // 0: not set up yet
  static std::atomic<int> cached_ptx_version[cached_devices];
  const bool cached = device >= 0 && device < cached_devices;
  int blocks_per_sm = cached ? cached_blocks_per_sm[device].load(std::memory_order_acquire) : 0;
  int ptx_version = cached ? cached_ptx_version[device].load(std::memory_order_relaxed) : 0;
  if (blocks_per_sm == 0) {
    int blocks = 0;
    cudaFuncAttributes attributes{};
    // The failing call's own status is returned (the error it leaves behind is cleared).
    if (kernel_of::dynamic_shared_bytes > 48 * 1024)
      status = cudaFuncSetAttribute(kernel_of::kernel(), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(kernel_of::dynamic_shared_bytes));
    if (status == cudaSuccess)
      status = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel_of::kernel(), kernel_of::block_threads,
                                                             kernel_of::dynamic_shared_bytes);
    if (status == cudaSuccess) status = cudaFuncGetAttributes(&attributes, kernel_of::kernel());
    if (status != cudaSuccess) {
      (void)cudaGetLastError();
      fail("could not query the fused kernel: %s", cudaGetErrorString(status));
      return status;
    }
    blocks_per_sm = blocks > 0 ? blocks : 1;
    ptx_version = attributes.ptxVersion;
    if (cached) {
      cached_ptx_version[device].store(ptx_version, std::memory_order_relaxed);
      cached_blocks_per_sm[device].store(blocks_per_sm, std::memory_order_release);  // after the version
    }
  }
  if constexpr (kernel_of::tiled && tiled_screening<KernelConfig>) {
    // (A query only where the code screens with the tangent, and for large batches or the tiled
    // kernel forced, whose kernel costs far more.)
    if (!screened_code_measured_on_device(ptx_version, device))
      return launch_fused<typename KernelConfig::template with_token_lanes<warp_lanes>>(p, stream, options);
  }
  if constexpr (kernel_of::tiled) {
    // Fewer blocks an SM where they measured faster, for batches of a few rounds of them.
    constexpr int cap = tiled_grid_blocks_per_sm<KernelConfig>();
    if (cap > 0 && blocks_per_sm > cap &&
        p.num_tokens <= std::int64_t{tiled_grid_cap_max_rounds} * sms * cap * tokens_per_block)
      blocks_per_sm = cap;
  }
  // Every warp routes the same share of the tokens, so an SM is as slow as its busiest
  // scheduler (four per SM, a warp's slot fixes its scheduler): keep the resident warps a
  // multiple of four. 26 warps of the tiled kernel (two-warp blocks) took 5% longer than 24,
  // and 18 took 8% longer than 16 (H200, 131072 tokens).
  if (kernel_of::warps_per_block < schedulers_per_sm) {
    constexpr int blocks_per_set = schedulers_per_sm / kernel_of::warps_per_block;
    if (blocks_per_sm >= blocks_per_set) blocks_per_sm -= blocks_per_sm % blocks_per_set;
  }
  const std::int64_t needed = (p.num_tokens + tokens_per_block - 1) / tokens_per_block;
  std::int64_t blocks = static_cast<std::int64_t>(sms) * blocks_per_sm;  // all resident at once
  if (needed < blocks) blocks = needed;
  if (options.max_blocks > 0 && options.max_blocks < blocks) blocks = options.max_blocks;

  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>(blocks));
  config.blockDim = dim3(kernel_of::block_threads);
  config.dynamicSmemBytes = kernel_of::dynamic_shared_bytes;
  config.stream = stream;
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &attribute;
  // Only a kernel compiled for sm_90 or later waits on the grid dependency (griddepcontrol);
  // an older build (PTX JIT-compiled on Hopper, say) is launched without the attribute. So is
  // the tiled kernel: behind a kernel that writes the logits (benchmarks/pdl_bench.cu, H200),
  // PDL took 0.2 to 0.4 µs off the warp and half-warp kernels up to 8192 tokens, but made the
  // tiled kernel slower at every size measured, by 0.3 to 21 µs (DeepSeek-V3 fp32 7.3 -> 9.4
  // µs at 8192 tokens; docs/performance.md, "Programmatic dependent launch").
  const bool pdl = options.programmatic_dependent_launch && ptx_version >= 90 && !kernel_of::tiled;
  config.numAttrs = pdl ? 1 : 0;
  return launch_kernel(config, kernel_of::kernel(), p);
}

}  // namespace detail

/**
 * @brief Route `p` with the fused kernel of `Config` on `stream`.
 * @return cudaSuccess; cudaErrorInvalidValue (nothing launched or written, reason in
 * `last_error_message()`) when `p` breaks the contract or does not match `Config` (shape,
 * scoring, group score, logits/bias/id types), or when `options` holds a value it does not
 * allow or asks for a kernel the shape does not have; or the launch error. `num_tokens == 0`
 * launches nothing and succeeds.
 */
template <class Config>
cudaError_t route_fused(const route_params& p, cudaStream_t stream = 0, launch_options options = {})
{
  // Small batches and unaligned rows run a warp per token whatever `Config::token_lanes` says.
  constexpr bool fits_a_warp = detail::groups_fill_lanes(Config::num_experts, Config::num_groups, warp_lanes);
  static_assert(fits_a_warp,
                "route_fused runs a warp per token (TokenLanes = 32) for small batches and unaligned rows, so the "
                "shape must fit 32 lanes too: with NumGroups > 1, NumExperts / NumGroups must be "
                "ceil(NumExperts / 32) times a power of two (change NumGroups; or call the device pieces from your "
                "own kernel with this Config, or route_reference)");
  detail::clear_error();
  if (!validate_params(p, fused_limits)) return cudaErrorInvalidValue;
  if (!Config::matches(p)) {
    detail::fail(
      "route_params do not match the compiled configuration: got E=%d G=%d TG=%d K=%d %s %s logits=%s bias=%s ids=%s, "
      "compiled E=%d G=%d TG=%d K=%d %s %s logits=%s bias=%s ids=%s",
      p.num_experts, p.num_groups, p.topk_group, p.topk, to_string(p.scoring), to_string(p.group_score),
      to_string(p.logits_type), p.bias ? to_string(p.bias_type) : "none", to_string(p.ids_type), Config::num_experts,
      Config::num_groups, Config::topk_group, Config::topk, to_string(Config::scoring), to_string(Config::group_score),
      to_string(Config::logits_data_type), to_string(Config::bias_data_type), to_string(Config::ids_index_type));
    return cudaErrorInvalidValue;
  }
  if (!detail::validate_launch_options(options)) return cudaErrorInvalidValue;
  if (options.token_lanes == 16 && !fused_half_warp_available<Config>()) {
    detail::fail("this configuration has no half-warp fused kernel (E=%d K=%d %s): launch_options::token_lanes = 16 "
                 "needs sigmoid scoring, E <= 256, K <= 16 and groups of whole half-warp lanes",
                 Config::num_experts, Config::topk, to_string(Config::scoring));
    return cudaErrorInvalidValue;
  }
  if (options.token_lanes == 8 && !fused_tiled_available<Config>()) {
    detail::fail("this configuration has no tiled fused kernel (E=%d K=%d %s): launch_options::token_lanes = 8 needs "
                 "sigmoid or sqrtsoftplus scoring, K <= 8, E <= 512 and a multiple of 8 lanes' 16-byte chunks, and "
                 "groups of whole lanes",
                 Config::num_experts, Config::topk, to_string(Config::scoring));
    return cudaErrorInvalidValue;
  }
  if (p.num_tokens == 0) return cudaSuccess;
#if defined(MOE_ROUTER_DEBUG_CHECKS)
  if (!detail::debug_check_pointers(p)) return cudaErrorInvalidValue;
#endif

  // (p.logits_type is Config's: matches(p) above)
  const int lanes = fused_token_lanes<Config>(p.num_tokens, options.token_lanes, logit_rows_aligned(p));
  if constexpr (fused_tiled_available<Config>()) {
    if (lanes == 8) return detail::launch_fused<typename Config::template with_token_lanes<8>>(p, stream, options);
  }
  if constexpr (fused_half_warp_available<Config>()) {
    if (lanes == 16) return detail::launch_fused<typename Config::template with_token_lanes<16>>(p, stream, options);
  }
  if constexpr (fits_a_warp) {
    return detail::launch_fused<typename Config::template with_token_lanes<32>>(p, stream, options);
  } else {
    return cudaErrorInvalidValue;  // never compiled: the static_assert above
  }
}

}  // namespace moe_router
