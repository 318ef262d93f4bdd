/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file cuda_error.cuh
 * @brief `MOE_ROUTER_CUDA_TRY`, the checking macro for examples and users, and the launch
 * helper of the library's entry points (`MOE_ROUTER_DEBUG_SYNC`).
 */

#include <moe_router/error.hpp>

#include <cuda_runtime_api.h>

#include <cstdio>
#include <utility>

/**
 * @brief Evaluate `call` (a `cudaError_t` expression); on failure print where, the CUDA error
 * and moe_router's reason to stderr, and return the error from the enclosing function. The
 * reason is `last_error_message()`: the last moe_router call's on this thread ("" after a
 * success), so for a failed call of another API it may be an earlier moe_router failure's.
 */
#define MOE_ROUTER_CUDA_TRY(call)                                                                      \
  do {                                                                                                 \
    const cudaError_t moe_router_status_ = (call);                                                     \
    if (moe_router_status_ != cudaSuccess) {                                                           \
      std::fprintf(stderr, "%s:%d: %s failed: %s%s%s\n", __FILE__, __LINE__, #call,                    \
                   cudaGetErrorString(moe_router_status_), *::moe_router::last_error_message() ? ": " : "", \
                   ::moe_router::last_error_message());                                                \
      return moe_router_status_;                                                                       \
    }                                                                                                  \
  } while (0)

namespace moe_router {
namespace detail {

/**
 * @brief Launch `kernel(args...)` and return the launch's own status (never an earlier error
 * left pending by someone else). A failure is recorded in `last_error_message()` and cleared
 * from the runtime's last-error slot, so that it is reported once. With `MOE_ROUTER_DEBUG_SYNC`
 * defined it also waits for the stream and returns the kernel's error (not usable while
 * capturing a CUDA graph).
 */
template <class... KernelArgs, class... Args>
cudaError_t launch_kernel(const cudaLaunchConfig_t& config, void (*kernel)(KernelArgs...), Args&&... args)
{
  cudaError_t status = cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
#if defined(MOE_ROUTER_DEBUG_SYNC)
  if (status == cudaSuccess) status = cudaStreamSynchronize(config.stream);
#endif
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    fail("kernel launch failed: %s", cudaGetErrorString(status));
  }
  return status;
}

}  // namespace detail
}  // namespace moe_router
