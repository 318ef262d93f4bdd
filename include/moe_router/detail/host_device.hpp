/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file host_device.hpp
 * @brief `MOE_ROUTER_HD`: marks the functions that the host reference and the device kernels
 * share, so that a header which uses it still compiles with a plain C++ compiler.
 */

// Every header includes this one (through types.hpp or numeric.hpp) before anything of C++17.
// The CMake target asks for C++17 of the C++ compiler only (`cxx_std_17`: asking it of CUDA too
// would fail in a project that links the target without enabling CUDA); nvcc 12 and 13 compile
// C++17 unless told otherwise.
#if __cplusplus < 201703L
#error "moe_router needs C++17 or later: compile with -std=c++17 (CMake: set CMAKE_CXX_STANDARD and CMAKE_CUDA_STANDARD to 17, or leave nvcc's default)"
#endif

#if defined(__CUDACC__)
#define MOE_ROUTER_HD __host__ __device__ __forceinline__
#else
#define MOE_ROUTER_HD inline
#endif
