/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file model_configs.cuh
 * @brief Named `route_config`s of the models the library is built and tested for, and the
 * default dispatch table made of them.
 */

#include <moe_router/config.cuh>
#include <moe_router/dispatch.cuh>

#include <cuda_bf16.h>

#include <cstdint>

namespace moe_router {

// clang-format off
/// DeepSeek-V3/R1/V3.1: 256 experts, 8 groups, keep 4, top-8, sigmoid + bias, top-2-sum groups.
template <class LogitT = float, class BiasT = float, class IdT = std::int32_t>
using deepseek_v3_config = route_config<256, 8, 4, 8, scoring_func::sigmoid, group_score_kind::top2_sum, LogitT, BiasT, IdT>;
/// Kimi-K2: 384 experts, top-8, sigmoid + bias.
template <class LogitT = float, class BiasT = float, class IdT = std::int32_t>
using kimi_k2_config = route_config<384, 1, 1, 8, scoring_func::sigmoid, group_score_kind::top2_sum, LogitT, BiasT, IdT>;
/// GLM-4.5: 160 experts, top-8, sigmoid + bias.
template <class LogitT = float, class BiasT = float, class IdT = std::int32_t>
using glm_4_5_config = route_config<160, 1, 1, 8, scoring_func::sigmoid, group_score_kind::top2_sum, LogitT, BiasT, IdT>;
/// MiniMax-M2: 256 experts, top-8, sigmoid + bias.
template <class LogitT = float, class BiasT = float, class IdT = std::int32_t>
using minimax_m2_config = route_config<256, 1, 1, 8, scoring_func::sigmoid, group_score_kind::top2_sum, LogitT, BiasT, IdT>;
/// DeepSeek-V2: 160 experts, 8 groups, keep 3, top-6, softmax, max group score.
template <class LogitT = float, class BiasT = float, class IdT = std::int32_t>
using deepseek_v2_config = route_config<160, 8, 3, 6, scoring_func::softmax, group_score_kind::max, LogitT, BiasT, IdT>;
/// DeepSeek-V2-Lite: 64 experts, top-6, softmax.
template <class LogitT = float, class BiasT = float, class IdT = std::int32_t>
using deepseek_v2_lite_config = route_config<64, 1, 1, 6, scoring_func::softmax, group_score_kind::top2_sum, LogitT, BiasT, IdT>;
/// Qwen3-MoE: 128 experts, top-8, softmax.
template <class LogitT = float, class BiasT = float, class IdT = std::int32_t>
using qwen3_moe_config = route_config<128, 1, 1, 8, scoring_func::softmax, group_score_kind::top2_sum, LogitT, BiasT, IdT>;
/// Mixtral: 8 experts, top-2, softmax.
template <class LogitT = float, class BiasT = float, class IdT = std::int32_t>
using mixtral_config = route_config<8, 1, 1, 2, scoring_func::softmax, group_score_kind::top2_sum, LogitT, BiasT, IdT>;
/// Llama-4 (Maverick): 128 experts, top-1, sigmoid.
template <class LogitT = float, class BiasT = float, class IdT = std::int32_t>
using llama_4_config = route_config<128, 1, 1, 1, scoring_func::sigmoid, group_score_kind::top2_sum, LogitT, BiasT, IdT>;
/// Llama-4 (Scout): 16 experts, top-1, sigmoid.
template <class LogitT = float, class BiasT = float, class IdT = std::int32_t>
using llama_4_scout_config = route_config<16, 1, 1, 1, scoring_func::sigmoid, group_score_kind::top2_sum, LogitT, BiasT, IdT>;
/// DeepSeek-V4-Flash: 256 experts, top-6, sqrtsoftplus + bias (scaling factor 1.5 at run time).
template <class LogitT = float, class BiasT = float, class IdT = std::int32_t>
using deepseek_v4_flash_config = route_config<256, 1, 1, 6, scoring_func::sqrtsoftplus, group_score_kind::top2_sum, LogitT, BiasT, IdT>;
/// 512 experts, top-10, softmax (Qwen3-Next class).
template <class LogitT = float, class BiasT = float, class IdT = std::int32_t>
using experts_512_top10_config = route_config<512, 1, 1, 10, scoring_func::softmax, group_score_kind::top2_sum, LogitT, BiasT, IdT>;
/// 512 experts, top-22, sigmoid + bias.
template <class LogitT = float, class BiasT = float, class IdT = std::int32_t>
using experts_512_top22_config = route_config<512, 1, 1, 22, scoring_func::sigmoid, group_score_kind::top2_sum, LogitT, BiasT, IdT>;
/// 1024 experts, 8 groups, keep 4, top-8, sigmoid + bias.
template <class LogitT = float, class BiasT = float, class IdT = std::int32_t>
using experts_1024_config = route_config<1024, 8, 4, 8, scoring_func::sigmoid, group_score_kind::top2_sum, LogitT, BiasT, IdT>;

/// Every model shape above for one set of element types.
template <class LogitT, class BiasT = float, class IdT = std::int32_t>
using model_route_table = route_table<
  deepseek_v3_config<LogitT, BiasT, IdT>, kimi_k2_config<LogitT, BiasT, IdT>, glm_4_5_config<LogitT, BiasT, IdT>,
  minimax_m2_config<LogitT, BiasT, IdT>, deepseek_v2_config<LogitT, BiasT, IdT>, deepseek_v2_lite_config<LogitT, BiasT, IdT>,
  qwen3_moe_config<LogitT, BiasT, IdT>, mixtral_config<LogitT, BiasT, IdT>, llama_4_config<LogitT, BiasT, IdT>,
  llama_4_scout_config<LogitT, BiasT, IdT>, deepseek_v4_flash_config<LogitT, BiasT, IdT>,
  experts_512_top10_config<LogitT, BiasT, IdT>, experts_512_top22_config<LogitT, BiasT, IdT>,
  experts_1024_config<LogitT, BiasT, IdT>>;

/// The default table: every model shape with fp32 and bf16 logits, fp32 bias, int32 ids.
/// Other element types run on the reference kernel unless a table of their own is made.
using default_route_table = route_table_union<model_route_table<float>, model_route_table<__nv_bfloat16>>;
// clang-format on

}  // namespace moe_router
