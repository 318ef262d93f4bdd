/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file moe_router.cuh
 * @brief One include for the whole library.
 */

#include <moe_router/config.cuh>
#include <moe_router/cuda_error.cuh>
#include <moe_router/dispatch.cuh>
#include <moe_router/error.hpp>
#include <moe_router/kernel/fused_route_kernel.cuh>
#include <moe_router/kernel/tiled_route_kernel.cuh>
#include <moe_router/model_configs.cuh>
#include <moe_router/numeric.hpp>
#include <moe_router/reference/host_reference.hpp>
#include <moe_router/reference/reference_kernel.cuh>
#include <moe_router/reference/reference_row.hpp>
#include <moe_router/route.cuh>
#include <moe_router/types.hpp>
#include <moe_router/validate.hpp>
#include <moe_router/warp/token_lanes.cuh>
#include <moe_router/warp/warp_epilogue.cuh>
#include <moe_router/warp/warp_load_logits.cuh>
#include <moe_router/warp/warp_route_token.cuh>
#include <moe_router/warp/warp_score.cuh>
#include <moe_router/warp/warp_select.cuh>
#include <moe_router/warp/warp_stage_rows.cuh>
#include <moe_router/warp/warp_tile_select.cuh>
