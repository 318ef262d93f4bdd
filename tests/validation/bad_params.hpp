/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file bad_params.hpp
 * @brief The table of bad `route_params` that every entry point must refuse, shared by the
 * validation tests of the host reference (validation_host_test.cpp), of the device entry points
 * without a GPU (validation_no_gpu_test.cu) and with one (validation_gpu_test.cu).
 *
 * Each case starts from a valid DeepSeek-V3 call (`make_base_params`: 256 experts, 8 groups,
 * keep 4, top-8, sigmoid, top2_sum, f32 logits and bias, i32 ids, an expert map, a count, three
 * tokens), which matches `deepseek_v3_config<>`, and changes one thing. The reason of the
 * refusal must contain the offending parameter's name and, where the library prints it, the
 * offending value. Plain C++.
 */

#include <moe_router/types.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace moe_router {
namespace test {

/// Which entry points refuse a case.
enum class refused_by {
  every_path,  ///< every entry point (host reference, reference kernel, fused kernel, dispatch)
  fused_only   ///< only the paths held to `fused_limits` (E <= 1024, K <= 32); valid elsewhere
};

/// One bad call: a change to the base parameters and what the reason must say.
struct bad_param_case {
  const char* what;               ///< the change, for messages
  void (*change)(route_params&);  ///< applied to the base parameters
  const char* mentions;           ///< the parameter the reason must name
  const char* value;              ///< and the offending value as printed ("" if not printed)
  refused_by who = refused_by::every_path;
};

/// Tokens of the base call.
constexpr std::int64_t base_tokens = 3;

/**
 * @brief The base call, valid on every path, over caller-owned buffers: `logits` of
 * `base_tokens * 256` floats, `bias` of 256 floats, `expert_map` of 256 int32, `count` of one
 * int32 (holding `base_tokens`), `weights` and `ids` of `base_tokens * 70` elements (floats and
 * int64, so that changes of K or of the ids type stay inside them).
 */
inline route_params make_base_params(const void* logits, const void* bias, const std::int32_t* expert_map,
                                     const std::int32_t* count, float* weights, void* ids)
{
  route_params p;
  p.num_experts = 256;
  p.num_groups = 8;
  p.topk_group = 4;
  p.topk = 8;
  p.scoring = scoring_func::sigmoid;
  p.group_score = group_score_kind::top2_sum;
  p.logits = logits;
  p.logits_type = data_type::f32;
  p.num_tokens = base_tokens;
  p.bias = bias;
  p.bias_type = data_type::f32;
  p.expert_map = expert_map;
  p.num_valid_tokens = count;
  p.renormalize = true;
  p.scale_output = true;
  p.routed_scaling_factor = 2.5f;
  p.weights = weights;
  p.ids = ids;
  p.ids_type = index_type::i32;
  return p;
}

namespace detail {
template <class T>
const T* shift_bytes(const T* p, int bytes)
{
  return reinterpret_cast<const T*>(reinterpret_cast<const char*>(p) + bytes);
}
template <class T>
T* shift_bytes(T* p, int bytes)
{
  return reinterpret_cast<T*>(reinterpret_cast<char*>(p) + bytes);
}
}  // namespace detail

/// Every bad case. The pointer cases offset the base pointers, which are aligned to 16 bytes.
inline const std::vector<bad_param_case>& bad_param_cases()
{
  using detail::shift_bytes;
  static const std::vector<bad_param_case> cases = {
      // ---- null pointers with tokens to route
      {"null logits", [](route_params& p) { p.logits = nullptr; }, "logits", "null"},
      {"null weights", [](route_params& p) { p.weights = nullptr; }, "weights", "null"},
      {"null ids", [](route_params& p) { p.ids = nullptr; }, "ids", "null"},
      // ---- shape
      {"no experts", [](route_params& p) { p.num_experts = 0; }, "num_experts", "got 0"},
      {"negative experts", [](route_params& p) { p.num_experts = -256; }, "num_experts", "got -256"},
      {"no groups", [](route_params& p) { p.num_groups = 0; }, "num_groups", "got 0"},
      {"negative groups", [](route_params& p) { p.num_groups = -8; }, "num_groups", "got -8"},
      {"E not a multiple of G", [](route_params& p) { p.num_groups = 7; }, "num_groups", "(7)"},
      {"TG > G", [](route_params& p) { p.topk_group = 9; }, "topk_group", "got 9"},
      {"TG < 1", [](route_params& p) { p.topk_group = 0; }, "topk_group", "got 0"},
      {"K == 0", [](route_params& p) { p.topk = 0; }, "topk must be >= 1", "got 0"},
      {"negative K", [](route_params& p) { p.topk = -8; }, "topk must be >= 1", "got -8"},
      {"K > TG * E / G",
       [](route_params& p) {
         p.num_groups = 16;
         p.topk_group = 1;
         p.topk = 17;
       },
       "topk (17)", "1 * 16 = 16"},
      {"K > TG * E / G with one group",
       [](route_params& p) {
         p.num_experts = 8;
         p.num_groups = 1;
         p.topk_group = 1;
         p.topk = 9;
       },
       "topk (9)", "1 * 8 = 8"},
      {"top2_sum group score with one expert per group",
       [](route_params& p) {
         p.num_experts = 16;
         p.num_groups = 16;
         p.topk_group = 2;
         p.topk = 2;
       },
       "top2_sum", "num_groups 16"},
      {"stride between 0 and E", [](route_params& p) { p.row_stride = 255; }, "row_stride", "255"},
      {"stride 1", [](route_params& p) { p.row_stride = 1; }, "row_stride", "(1)"},
      {"negative stride", [](route_params& p) { p.row_stride = -256; }, "row_stride", "-256"},
      {"negative num_tokens", [](route_params& p) { p.num_tokens = -1; }, "num_tokens", "got -1"},
      {"very negative num_tokens", [](route_params& p) { p.num_tokens = std::numeric_limits<std::int64_t>::min(); },
       "num_tokens", "got -9223372036854775808"},
      // ---- options
      {"two shared slots", [](route_params& p) { p.num_shared_slots = 2; }, "num_shared_slots", "got 2"},
      {"negative shared slots", [](route_params& p) { p.num_shared_slots = -1; }, "num_shared_slots", "got -1"},
      {"no shared expert for the shared slot",
       [](route_params& p) {
         p.num_shared_slots = 1;
         p.num_shared_experts = 0;
       },
       "num_shared_experts", "got 0"},
      {"negative shared experts for the shared slot",
       [](route_params& p) {
         p.num_shared_slots = 1;
         p.num_shared_experts = -3;
       },
       "num_shared_experts", "got -3"},
      {"shared ids past int32",
       [](route_params& p) {
         p.num_shared_slots = 1;
         p.num_shared_experts = std::numeric_limits<std::int32_t>::max();
       },
       "num_shared_experts", "2147483647"},
      {"num_tokens times the row stride past 2^56 elements",
       [](route_params& p) {
         p.row_stride = std::int64_t{1} << 30;
         p.num_tokens = std::int64_t{1} << 27;
       },
       "num_tokens", "134217728"},
      {"num_tokens times the K + 1 output slots past 2^56 elements (K = E)",
       [](route_params& p) {
         p.num_experts = 8;
         p.num_groups = 1;
         p.topk_group = 1;
         p.topk = 8;
         p.row_stride = 0;
         p.num_tokens = (std::int64_t{1} << 56) / 9 + 1;
       },
       "num_tokens", "output slots (9)"},
      {"scaling factor 0", [](route_params& p) { p.routed_scaling_factor = 0.0f; }, "routed_scaling_factor", "got 0"},
      {"scaling factor -0", [](route_params& p) { p.routed_scaling_factor = -0.0f; }, "routed_scaling_factor",
       "got -0"},
      {"negative scaling factor", [](route_params& p) { p.routed_scaling_factor = -2.5f; }, "routed_scaling_factor",
       "got -2.5"},
      {"infinite scaling factor", [](route_params& p) { p.routed_scaling_factor = INFINITY; }, "routed_scaling_factor",
       "got inf"},
      {"-inf scaling factor", [](route_params& p) { p.routed_scaling_factor = -INFINITY; }, "routed_scaling_factor",
       "got -inf"},
      {"NaN scaling factor", [](route_params& p) { p.routed_scaling_factor = NAN; }, "routed_scaling_factor", "nan"},
      // ---- enum values out of range
      {"unknown scoring function", [](route_params& p) { p.scoring = static_cast<scoring_func>(7); }, "scoring", "(7)"},
      {"negative scoring function", [](route_params& p) { p.scoring = static_cast<scoring_func>(-1); }, "scoring",
       "(-1)"},
      {"unknown group score", [](route_params& p) { p.group_score = static_cast<group_score_kind>(5); }, "group_score",
       "(5)"},
      {"unknown group score with one group",
       [](route_params& p) {
         p.num_groups = 1;
         p.topk_group = 1;
         p.group_score = static_cast<group_score_kind>(2);
       },
       "group_score", "(2)"},
      {"unknown logits type", [](route_params& p) { p.logits_type = static_cast<data_type>(9); }, "logits_type",
       "got 9"},
      {"f16 bias", [](route_params& p) { p.bias_type = data_type::f16; }, "bias_type", "got f16"},
      {"unknown bias type", [](route_params& p) { p.bias_type = static_cast<data_type>(9); }, "bias_type",
       "got unknown, 9"},
      {"unknown ids type", [](route_params& p) { p.ids_type = static_cast<index_type>(5); }, "ids_type", "got 5"},
      // ---- beyond the limits of the reference paths (4096 / 64), so of every path
      {"E beyond the reference limit",
       [](route_params& p) {
         p.num_experts = 8192;
         p.num_groups = 1;
         p.topk_group = 1;
       },
       "num_experts", "8192"},
      {"E one beyond the reference limit",
       [](route_params& p) {
         p.num_experts = 4097;
         p.num_groups = 1;
         p.topk_group = 1;
       },
       "num_experts", "4097"},
      {"K beyond the reference limit",
       [](route_params& p) {
         p.num_groups = 1;
         p.topk_group = 1;
         p.topk = 65;
       },
       "topk", "65"},
      // ---- beyond the fused kernel's limits (1024 / 32) only
      {"E beyond the fused limit",
       [](route_params& p) {
         p.num_experts = 2048;
         p.num_groups = 1;
         p.topk_group = 1;
       },
       "num_experts", "2048", refused_by::fused_only},
      {"E one beyond the fused limit",
       [](route_params& p) {
         p.num_experts = 1025;
         p.num_groups = 1;
         p.topk_group = 1;
       },
       "num_experts", "1025", refused_by::fused_only},
      {"K beyond the fused limit",
       [](route_params& p) {
         p.num_groups = 1;
         p.topk_group = 1;
         p.topk = 33;
       },
       "topk", "33", refused_by::fused_only},
      // ---- misaligned pointers
      {"misaligned f32 logits", [](route_params& p) { p.logits = shift_bytes(p.logits, 2); }, "logits", "aligned"},
      {"misaligned bf16 logits",
       [](route_params& p) {
         p.logits = shift_bytes(p.logits, 1);
         p.logits_type = data_type::bf16;
       },
       "logits", "aligned"},
      {"misaligned f16 logits",
       [](route_params& p) {
         p.logits = shift_bytes(p.logits, 3);
         p.logits_type = data_type::f16;
       },
       "logits", "aligned"},
      {"misaligned f32 bias", [](route_params& p) { p.bias = shift_bytes(p.bias, 2); }, "bias", "aligned"},
      {"misaligned bf16 bias",
       [](route_params& p) {
         p.bias = shift_bytes(p.bias, 1);
         p.bias_type = data_type::bf16;
       },
       "bias", "aligned"},
      {"misaligned weights", [](route_params& p) { p.weights = shift_bytes(p.weights, 2); }, "weights", "aligned"},
      {"misaligned i32 ids", [](route_params& p) { p.ids = shift_bytes(p.ids, 2); }, "ids", "aligned"},
      {"misaligned i64 ids",
       [](route_params& p) {
         p.ids = shift_bytes(p.ids, 4);
         p.ids_type = index_type::i64;
       },
       "ids", "aligned"},
      {"misaligned expert_map", [](route_params& p) { p.expert_map = shift_bytes(p.expert_map, 2); }, "expert_map",
       "aligned"},
      {"misaligned num_valid_tokens", [](route_params& p) { p.num_valid_tokens = shift_bytes(p.num_valid_tokens, 1); },
       "num_valid_tokens", "aligned"},
      {"num_valid_tokens aligned to 2 bytes only",
       [](route_params& p) { p.num_valid_tokens = shift_bytes(p.num_valid_tokens, 2); }, "num_valid_tokens",
       "aligned"},
  };
  return cases;
}

/// What the outputs hold before a call.
constexpr float weight_pattern = -12345.0f;
constexpr std::int64_t id_pattern = 0x5a5a5a5a5a5a5a5aLL;

/// Host buffers of the base call, filled with patterns; `unchanged()` says whether any byte moved.
/// The device entry points get them too when no GPU is needed (nothing may be launched).
struct host_buffers {
  struct arrays {
    alignas(16) float logits[base_tokens * 256];
    alignas(16) float bias[256];
    alignas(16) std::int32_t expert_map[256];
    alignas(16) std::int32_t count[4];
    alignas(16) float weights[base_tokens * 70];
    alignas(16) std::int64_t ids[base_tokens * 70];
  };
  arrays a;

  host_buffers()
  {
    std::memset(&a, 0, sizeof a);
    for (int i = 0; i < base_tokens * 256; ++i) a.logits[i] = static_cast<float>((i * 37) % 101) / 17.0f - 3.0f;
    for (int e = 0; e < 256; ++e) {
      a.bias[e] = static_cast<float>(e % 7) * 0.01f;
      a.expert_map[e] = 255 - e;
    }
    a.count[0] = static_cast<std::int32_t>(base_tokens);
    for (float& w : a.weights) w = weight_pattern;
    for (std::int64_t& id : a.ids) id = id_pattern;
    std::memcpy(&snapshot_, &a, sizeof a);
  }
  route_params params() { return make_base_params(a.logits, a.bias, a.expert_map, a.count, a.weights, a.ids); }
  bool unchanged() const { return std::memcmp(&snapshot_, &a, sizeof a) == 0; }

 private:
  arrays snapshot_;  // as filled
};

/// Whether `reason` names the case's parameter and value; the check's message otherwise.
inline std::string reason_problem(const bad_param_case& c, const std::string& reason)
{
  if (reason.empty()) return "no reason given";
  if (reason.find(c.mentions) == std::string::npos)
    return std::string("the reason does not mention \"") + c.mentions + "\"";
  if (reason.find(c.value) == std::string::npos)
    return std::string("the reason does not show the value \"") + c.value + "\"";
  return "";
}

}  // namespace test
}  // namespace moe_router
