/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// The one translation unit of the tests that instantiates `route<default_route_table>` (and
// with it `route_fused<deepseek_v3_config<>>`): see entry_points.cuh.

#include "validation/entry_points.cuh"

#include <moe_router/model_configs.cuh>

namespace moe_router {
namespace test {

cudaError_t call_route_reference(const route_params& p, cudaStream_t stream) { return route_reference(p, stream); }

cudaError_t call_route_fused_deepseek_v3(const route_params& p, cudaStream_t stream, launch_options options)
{
  return route_fused<deepseek_v3_config<>>(p, stream, options);
}

cudaError_t call_route_default_table(const route_params& p, cudaStream_t stream, route_path path, route_kernel* ran,
                                     launch_options options)
{
  return route<default_route_table>(p, stream, path, ran, options);
}

cudaError_t call_default_table_launch(const route_params& p, cudaStream_t stream, launch_options options)
{
  return default_route_table::launch(p, stream, options);
}

bool default_table_contains(const route_params& p) { return default_route_table::contains(p); }

int default_table_size() { return default_route_table::size; }

}  // namespace test
}  // namespace moe_router
