/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file debug_checks.cuh
 * @brief `MOE_ROUTER_DEBUG_CHECKS`: an opt-in check, before each launch, that every pointer of
 * `route_params` is one the device can read or write.
 *
 * Passing a host pointer where a device pointer belongs is the caller's duty to avoid (the
 * launchers do not check it: asking the driver costs a call per pointer on the launch path).
 * Such a launch faults on the device, and an illegal address ends the CUDA context. With
 * `MOE_ROUTER_DEBUG_CHECKS` defined, the device entry points ask `cudaPointerGetAttributes`
 * about each non-null pointer first and refuse, with `cudaErrorInvalidValue` and the name of
 * the pointer, a plain host allocation the device cannot access (on systems whose devices can
 * read pageable host memory, such as HMM or ATS systems, it is accepted). Pinned host memory
 * (cudaHostAlloc / cudaHostRegister), managed memory and device memory pass, device memory of
 * another GPU too: whether peer access to it is enabled has no query that changes nothing.
 *
 * Define the macro for the whole program (every translation unit that includes the
 * launchers), like `MOE_ROUTER_DEBUG_SYNC`: the launchers are inline functions.
 */

#include <moe_router/error.hpp>
#include <moe_router/types.hpp>

#include <cuda_runtime_api.h>

namespace moe_router {
namespace detail {

/// Whether no non-null pointer of `p` is host memory the current device cannot access; if one
/// is, false with the pointer's name in `last_error_message()`. (Device memory of another GPU
/// passes, peer access enabled or not.)
inline bool debug_check_pointers(const route_params& p)
{
  int device = 0, pageable = 0;
  cudaError_t status = cudaGetDevice(&device);
  if (status == cudaSuccess) status = cudaDeviceGetAttribute(&pageable, cudaDevAttrPageableMemoryAccess, device);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // the query's error is reported here, not by the launch
    return fail("MOE_ROUTER_DEBUG_CHECKS: could not query the device: %s", cudaGetErrorString(status));
  }
  const struct {
    const void* pointer;
    const char* name;
  } pointers[] = {{p.logits, "logits"},         {p.bias, "bias"},
                  {p.expert_map, "expert_map"}, {p.num_valid_tokens, "num_valid_tokens"},
                  {p.weights, "weights"},       {p.ids, "ids"}};
  for (const auto& entry : pointers) {
    if (entry.pointer == nullptr) continue;
    cudaPointerAttributes attributes{};
    status = cudaPointerGetAttributes(&attributes, entry.pointer);
    if (status != cudaSuccess) {
      (void)cudaGetLastError();
      return fail("MOE_ROUTER_DEBUG_CHECKS: cudaPointerGetAttributes(%s) failed: %s", entry.name,
                  cudaGetErrorString(status));
    }
    if (attributes.type == cudaMemoryTypeUnregistered && pageable == 0)
      return fail(
          "%s is a host pointer the device cannot access (allocate it with cudaMalloc, cudaMallocManaged or "
          "cudaHostAlloc) [MOE_ROUTER_DEBUG_CHECKS]",
          entry.name);
  }
  return true;
}

}  // namespace detail
}  // namespace moe_router
