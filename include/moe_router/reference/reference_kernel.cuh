/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file reference_kernel.cuh
 * @brief The runtime-shaped reference kernel: any shape within `reference_limits`
 * (E <= 4096, K <= 64), every option, one thread per token running `reference_route_row`.
 *
 * Slow and obviously right. It serves verification and the shapes nobody compiled a fused
 * kernel for. CUDA-graph safe: no allocation, no host synchronization, and the padding count
 * is read on the device.
 */

#include <moe_router/cuda_error.cuh>
#include <moe_router/detail/debug_checks.cuh>
#include <moe_router/error.hpp>
#include <moe_router/reference/reference_row.hpp>
#include <moe_router/types.hpp>
#include <moe_router/validate.hpp>

#include <cuda_runtime_api.h>

#include <cstdint>

namespace moe_router {
namespace reference {

/// One block of one thread per token (grid-stride), its row scratch in dynamic shared memory.
/// (A template only so that every translation unit that includes this header shares one kernel.)
template <int Unused = 0>
__global__ void reference_route_kernel(route_params p)
{
  extern __shared__ float reference_scratch[];
  std::int64_t num_valid = p.num_tokens;
  if (p.num_valid_tokens != nullptr) num_valid = *p.num_valid_tokens < 0 ? 0 : *p.num_valid_tokens;
  const row_scratch scratch = make_row_scratch(reference_scratch, p.num_experts);
  for (std::int64_t t = blockIdx.x; t < p.num_tokens; t += gridDim.x) reference_route_row(p, t, num_valid, scratch);
}

}  // namespace reference

/**
 * @brief Route `p` with the reference kernel on `stream`.
 * @return cudaSuccess; cudaErrorInvalidValue (nothing launched, nothing written, reason in
 * `last_error_message()`) when `p` breaks the contract or exceeds `reference_limits`; or the
 * launch error. `num_tokens == 0` launches nothing and succeeds.
 */
inline cudaError_t route_reference(const route_params& p, cudaStream_t stream = 0)
{
  detail::clear_error();
  if (!validate_params(p, reference_limits)) return cudaErrorInvalidValue;
  if (p.num_tokens == 0) return cudaSuccess;
#if defined(MOE_ROUTER_DEBUG_CHECKS)
  if (!detail::debug_check_pointers(p)) return cudaErrorInvalidValue;
#endif
  constexpr std::int64_t max_blocks = 1 << 20;
  const unsigned blocks = static_cast<unsigned>(p.num_tokens < max_blocks ? p.num_tokens : max_blocks);
  const std::size_t shared_bytes = static_cast<std::size_t>(reference::row_scratch_bytes(p.num_experts));
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(blocks);
  config.blockDim = dim3(1);
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  return detail::launch_kernel(config, reference::reference_route_kernel<>, p);
}

}  // namespace moe_router
