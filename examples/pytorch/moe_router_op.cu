// Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
//
// moe_router as a PyTorch custom op: torch.ops.moe_router.route.
//
// The schema mirrors the routing calls of the inference engines (a "biased grouped top-k" with
// the engines' options); the CUDA implementation fills a `moe_router::route_params` from the
// tensors and calls `moe_router::route<default_route_table>`: the fused kernel when the shape
// and element types are compiled in the table, the reference kernel otherwise. It allocates
// the outputs with torch on the logits' device and launches on the current stream; it never
// synchronizes with the host, so it can be captured in a CUDA graph (with `num_valid_tokens`,
// a device tensor, the graph replays with a new token count). The fake (meta) implementation
// that torch.compile traces with is registered in moe_router_op.py.
//
// Built by moe_router_op.py with torch.utils.cpp_extension.load (JIT).

#include <moe_router/dispatch.cuh>
#include <moe_router/error.hpp>
#include <moe_router/model_configs.cuh>
#include <moe_router/types.hpp>
#include <moe_router/validate.hpp>

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <cuda_runtime_api.h>

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>

namespace {

/// An integer for a TORCH_CHECK message, as a string. On the machine the op was tested on (torch
/// 2.11 for CUDA 13.0, the system's g++ 13 and libstdc++), formatting an integer through an
/// iostream crashes any extension that torch's JIT builds, a plain `std::ostringstream << v`
/// in a .cpp file compiled by g++ included; strings stream fine. So a TORCH_CHECK with an
/// integer in its message would end the process instead of raising: integers go through
/// std::to_string, which formats without iostreams.
std::string num(int64_t v) { return std::to_string(v); }

moe_router::data_type to_data_type(at::ScalarType t, const char* what, bool allow_half)
{
  TORCH_CHECK(t == at::kFloat || t == at::kBFloat16 || (t == at::kHalf && allow_half), "moe_router::route: ", what,
              " must be float32, bfloat16", allow_half ? " or float16" : "", " (got ", t, ")");
  return t == at::kFloat      ? moe_router::data_type::f32
         : t == at::kBFloat16 ? moe_router::data_type::bf16
                              : moe_router::data_type::f16;
}

moe_router::scoring_func to_scoring(c10::string_view s)
{
  TORCH_CHECK(s == "sigmoid" || s == "softmax" || s == "sqrtsoftplus",
              "moe_router::route: scoring_func must be \"sigmoid\", \"softmax\" or \"sqrtsoftplus\" (got \"",
              std::string(s), "\")");
  return s == "sigmoid"   ? moe_router::scoring_func::sigmoid
         : s == "softmax" ? moe_router::scoring_func::softmax
                          : moe_router::scoring_func::sqrtsoftplus;
}

moe_router::group_score_kind to_group_score(c10::string_view s)
{
  TORCH_CHECK(s == "top2_sum" || s == "max", "moe_router::route: group_score must be \"top2_sum\" or \"max\" (got \"",
              std::string(s), "\")");
  return s == "top2_sum" ? moe_router::group_score_kind::top2_sum : moe_router::group_score_kind::max;
}

moe_router::route_path to_path(c10::string_view s)
{
  TORCH_CHECK(s == "auto" || s == "fused" || s == "reference",
              "moe_router::route: path must be \"auto\", \"fused\" or \"reference\" (got \"", std::string(s), "\")");
  return s == "auto"    ? moe_router::route_path::automatic
         : s == "fused" ? moe_router::route_path::fused
                        : moe_router::route_path::reference;
}

/**
 * The shape arguments of `route` and `is_compiled` as `route_params` fields, each checked to be
 * an int32 and of the right sign first (a larger value must not wrap into a valid one). Engines
 * pass 0 or 1 for "no groups"; topk_group is then 1 whatever was passed. What the library
 * checks itself (topk <= E, the groups dividing E, its limits) it reports when it is called.
 */
void set_shape(moe_router::route_params& p, const at::Tensor& logits, int64_t topk, int64_t num_expert_group,
               int64_t topk_group, c10::string_view scoring_func, c10::string_view group_score)
{
  TORCH_CHECK(logits.dim() == 2, "moe_router::route: logits must be 2-D [num_tokens, num_experts] (got ",
              num(logits.dim()), "-D)");
  const int64_t E = logits.size(1);
  TORCH_CHECK(E >= 1 && E <= INT32_MAX, "moe_router::route: bad number of experts ", num(E));
  TORCH_CHECK(topk >= 1, "moe_router::route: topk must be >= 1 (got ", num(topk), ")");
  TORCH_CHECK(topk <= INT32_MAX, "moe_router::route: topk is too large (got ", num(topk), ")");
  TORCH_CHECK(num_expert_group >= 0 && num_expert_group <= INT32_MAX,
              "moe_router::route: num_expert_group must be 0 or 1 (no groups) or the number of groups (got ",
              num(num_expert_group), ")");
  const int64_t groups = num_expert_group <= 1 ? 1 : num_expert_group;
  const int64_t kept_groups = groups == 1 ? 1 : topk_group;
  TORCH_CHECK(kept_groups >= 1 && kept_groups <= groups,
              "moe_router::route: topk_group must be in [1, num_expert_group] (got ", num(topk_group), ")");
  p.num_experts = static_cast<int>(E);
  p.num_groups = static_cast<int>(groups);
  p.topk_group = static_cast<int>(kept_groups);
  p.topk = static_cast<int>(topk);
  p.scoring = to_scoring(scoring_func);
  p.group_score = to_group_score(group_score);
}

moe_router::index_type to_index_type(std::optional<at::ScalarType> ids_dtype)
{
  const at::ScalarType t = ids_dtype.value_or(at::kInt);
  TORCH_CHECK(t == at::kInt || t == at::kLong, "moe_router::route: ids_dtype must be torch.int32 or torch.int64 (got ",
              t, ")");
  return t == at::kInt ? moe_router::index_type::i32 : moe_router::index_type::i64;
}

void check_same_device(const at::Tensor& t, const at::Tensor& logits, const char* what)
{
  TORCH_CHECK(t.device() == logits.device(), "moe_router::route: ", what, " must be on the logits' device (",
              logits.device(), "), got ", t.device());
}

/**
 * The CUDA implementation. Shapes: logits [T, E] (any row stride, unit column stride), bias [E],
 * expert_map [E] int32, num_valid_tokens [1] or [] int32; outputs weights [T, K+S] float32 and
 * ids [T, K+S] int32 (or ids_dtype), S = 1 when num_fused_shared_experts > 0.
 */
std::tuple<at::Tensor, at::Tensor> route_cuda(const at::Tensor& logits_in, const std::optional<at::Tensor>& bias_in,
                                              int64_t topk, int64_t num_expert_group, int64_t topk_group,
                                              bool renormalize, double routed_scaling_factor, bool scale_output,
                                              int64_t num_fused_shared_experts,
                                              const std::optional<at::Tensor>& expert_map,
                                              const std::optional<at::Tensor>& num_valid_tokens,
                                              c10::string_view scoring_func, c10::string_view group_score,
                                              std::optional<at::ScalarType> ids_dtype, c10::string_view path,
                                              bool programmatic_dependent_launch, int64_t max_blocks)
{
  moe_router::route_params p;
  set_shape(p, logits_in, topk, num_expert_group, topk_group, scoring_func, group_score);
  TORCH_CHECK(logits_in.is_cuda(), "moe_router::route: logits must be a CUDA tensor");
  const int64_t T = logits_in.size(0), E = logits_in.size(1);
  TORCH_CHECK(num_fused_shared_experts >= 0, "moe_router::route: num_fused_shared_experts must be >= 0 (got ",
              num(num_fused_shared_experts), ")");
  TORCH_CHECK(num_fused_shared_experts <= INT32_MAX, "moe_router::route: num_fused_shared_experts is too large (got ",
              num(num_fused_shared_experts), ")");
  TORCH_CHECK(max_blocks >= 0, "moe_router::route: max_blocks must be 0 (as many as the card holds) or more (got ",
              num(max_blocks), ")");
  TORCH_CHECK(max_blocks <= INT32_MAX, "moe_router::route: max_blocks is too large (got ", num(max_blocks), ")");

  // Rows may be strided (a slice of a wider GEMM output); columns must be contiguous. A stride
  // below E (broadcast rows) is copied, since the library reads row_stride 0 as "E".
  at::Tensor logits = logits_in;
  if (logits.stride(1) != 1 || (T > 1 && logits.stride(0) < E)) logits = logits.contiguous();
  const int64_t row_stride = T > 1 ? logits.stride(0) : E;

  p.logits = logits.data_ptr();
  p.logits_type = to_data_type(logits.scalar_type(), "logits", true);
  p.row_stride = row_stride;
  p.num_tokens = T;

  at::Tensor bias;
  if (bias_in.has_value() && bias_in->defined()) {
    bias = bias_in->contiguous();
    check_same_device(bias, logits, "bias");
    TORCH_CHECK(bias.dim() == 1 && bias.numel() == E, "moe_router::route: bias must be 1-D [num_experts] (",
                num(E), "; got ", num(bias.dim()), "-D, ", num(bias.numel()), " elements)");
    p.bias = bias.data_ptr();
    p.bias_type = to_data_type(bias.scalar_type(), "bias", false);
  }
  at::Tensor map;
  if (expert_map.has_value() && expert_map->defined()) {
    map = expert_map->contiguous();
    check_same_device(map, logits, "expert_map");
    TORCH_CHECK(map.scalar_type() == at::kInt, "moe_router::route: expert_map must be int32 (got ", map.scalar_type(),
                ")");
    TORCH_CHECK(map.dim() == 1 && map.numel() == E, "moe_router::route: expert_map must be 1-D [num_experts] (",
                num(E), "; got ", num(map.dim()), "-D, ", num(map.numel()), " elements)");
    p.expert_map = map.data_ptr<int32_t>();
  }
  if (num_valid_tokens.has_value() && num_valid_tokens->defined()) {
    const at::Tensor& count = *num_valid_tokens;
    check_same_device(count, logits, "num_valid_tokens");
    TORCH_CHECK(count.scalar_type() == at::kInt && count.numel() == 1,
                "moe_router::route: num_valid_tokens must be a one-element int32 tensor");
    p.num_valid_tokens = count.data_ptr<int32_t>();
  }

  p.renormalize = renormalize;
  p.scale_output = scale_output;
  p.routed_scaling_factor = static_cast<float>(routed_scaling_factor);
  p.num_shared_slots = num_fused_shared_experts > 0 ? 1 : 0;
  p.num_shared_experts = num_fused_shared_experts > 0 ? static_cast<int>(num_fused_shared_experts) : 1;

  p.ids_type = to_index_type(ids_dtype);

  // Everything but the outputs is known: check it before they are allocated, so that a bad
  // call gets its reason (a huge topk would otherwise ask for [T, topk + 1] first and fail as
  // out of memory). The pointers, the outputs' among them, are checked when route is called.
  {
    moe_router::route_params shape = p;
    shape.num_tokens = 0;
    TORCH_CHECK(moe_router::validate_params(shape), "moe_router::route: ", moe_router::last_error_message());
  }
  const int64_t slots = topk + p.num_shared_slots;
  const at::ScalarType id_type = p.ids_type == moe_router::index_type::i32 ? at::kInt : at::kLong;
  at::Tensor weights = at::empty({T, slots}, logits.options().dtype(at::kFloat));
  at::Tensor ids = at::empty({T, slots}, logits.options().dtype(id_type));
  p.weights = weights.data_ptr<float>();
  p.ids = ids.data_ptr();

  const c10::cuda::CUDAGuard guard(logits.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  moe_router::launch_options options;
  options.programmatic_dependent_launch = programmatic_dependent_launch;
  options.max_blocks = static_cast<int>(max_blocks);
  const cudaError_t status =
      moe_router::route<moe_router::default_route_table>(p, stream, to_path(path), /*ran=*/nullptr, options);
  TORCH_CHECK(status == cudaSuccess, "moe_router::route: ", cudaGetErrorName(status), ": ",
              *moe_router::last_error_message() ? moe_router::last_error_message() : cudaGetErrorString(status));
  return {weights, ids};
}

/// `route` on CPU tensors: the op runs on the GPU only; say so (rather than the dispatcher's
/// "could not run ... with arguments from the CPU backend").
std::tuple<at::Tensor, at::Tensor> route_cpu(const at::Tensor& logits, const std::optional<at::Tensor>&, int64_t,
                                             int64_t, int64_t, bool, double, bool, int64_t,
                                             const std::optional<at::Tensor>&, const std::optional<at::Tensor>&,
                                             c10::string_view, c10::string_view, std::optional<at::ScalarType>,
                                             c10::string_view, bool, int64_t)
{
  TORCH_CHECK(logits.is_cuda(), "moe_router::route: logits must be a CUDA tensor (got one on ", logits.device(), ")");
  TORCH_CHECK(false, "moe_router::route: called on the CPU with CUDA logits");  // the dispatcher never does
  return {};
}

/// Is there a fused kernel for this call? (The same lookup `route` makes; no GPU work, so it
/// is registered for every device, meta and fake tensors included: it reads only shapes and
/// element types.)
bool is_compiled_any(const at::Tensor& logits, const std::optional<at::Tensor>& bias, int64_t topk,
                     int64_t num_expert_group, int64_t topk_group, c10::string_view scoring_func,
                     c10::string_view group_score, std::optional<at::ScalarType> ids_dtype)
{
  moe_router::route_params p;
  set_shape(p, logits, topk, num_expert_group, topk_group, scoring_func, group_score);
  p.logits_type = to_data_type(logits.scalar_type(), "logits", true);
  if (bias.has_value() && bias->defined()) {
    static const float present = 0.0f;  // `contains` asks only whether there is a bias
    p.bias = &present;
    p.bias_type = to_data_type(bias->scalar_type(), "bias", false);
  }
  p.ids_type = to_index_type(ids_dtype);
  return moe_router::default_route_table::contains(p);
}

}  // namespace

TORCH_LIBRARY(moe_router, m)
{
  m.def(
      "route(Tensor logits, Tensor? bias, int topk, int num_expert_group=1, int topk_group=1, bool renormalize=True, "
      "float routed_scaling_factor=1.0, bool scale_output=False, int num_fused_shared_experts=0, "
      "Tensor? expert_map=None, Tensor? num_valid_tokens=None, str scoring_func=\"sigmoid\", "
      "str group_score=\"top2_sum\", ScalarType? ids_dtype=None, str path=\"auto\", "
      "bool programmatic_dependent_launch=False, int max_blocks=0) -> (Tensor weights, Tensor ids)");
  m.def(
      "is_compiled(Tensor logits, Tensor? bias, int topk, int num_expert_group=1, int topk_group=1, "
      "str scoring_func=\"sigmoid\", str group_score=\"top2_sum\", ScalarType? ids_dtype=None) -> bool");
}

TORCH_LIBRARY_IMPL(moe_router, CUDA, m) { m.impl("route", &route_cuda); }

TORCH_LIBRARY_IMPL(moe_router, CPU, m) { m.impl("route", &route_cpu); }

TORCH_LIBRARY_IMPL(moe_router, CompositeExplicitAutograd, m) { m.impl("is_compiled", &is_compiled_any); }
