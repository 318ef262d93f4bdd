/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file entry_points.cuh
 * @brief The library's device entry points behind plain (non-template) functions, compiled once
 * in entry_points.cu.
 *
 * `route<default_route_table>` instantiates a fused kernel for each of the table's entries,
 * which is most of a test's compile time. The tests that need it (validation with and without
 * a GPU, differential fuzzing, robustness) link the one object that holds these functions
 * instead of instantiating the table each. Each function forwards its arguments unchanged.
 */

#include <moe_router/dispatch.cuh>
#include <moe_router/route.cuh>
#include <moe_router/types.hpp>

#include <cuda_runtime_api.h>

namespace moe_router {
namespace test {

/// `route_reference(p, stream)`.
cudaError_t call_route_reference(const route_params& p, cudaStream_t stream);

/// `route_fused<deepseek_v3_config<>>(p, stream, options)`: 256/8/4/8, sigmoid, top2_sum,
/// f32 logits, f32 bias, i32 ids.
cudaError_t call_route_fused_deepseek_v3(const route_params& p, cudaStream_t stream, launch_options options = {});

/// `route<default_route_table>(p, stream, path, ran, options)`.
cudaError_t call_route_default_table(const route_params& p, cudaStream_t stream, route_path path,
                                     route_kernel* ran = nullptr, launch_options options = {});

/// `default_route_table::launch(p, stream, options)`.
cudaError_t call_default_table_launch(const route_params& p, cudaStream_t stream, launch_options options = {});

/// Whether `default_route_table` has an entry for `p`.
bool default_table_contains(const route_params& p);

/// Number of entries of `default_route_table`.
int default_table_size();

}  // namespace test
}  // namespace moe_router
