/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file host_device.hpp
 * @brief `MOE_ROUTER_HD`: marks the functions that the host reference and the device kernels
 * share, so that a header which uses it still compiles with a plain C++ compiler.
 */

#if defined(__CUDACC__)
#define MOE_ROUTER_HD __host__ __device__ __forceinline__
#else
#define MOE_ROUTER_HD inline
#endif
