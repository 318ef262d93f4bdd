/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// Validation of the host entry points, `validate_params` and `host_route`: every bad case of
// bad_params.hpp is refused with a reason that names the parameter, nothing is written (neither
// the outputs nor the inputs), and the limits of each path hold at their edges. Plain C++: runs
// in CI without a GPU.

#include "validation/bad_params.hpp"

#include <moe_router/error.hpp>
#include <moe_router/reference/host_reference.hpp>
#include <moe_router/types.hpp>
#include <moe_router/validate.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace {

using namespace moe_router;
using namespace moe_router::test;

/// The limits of the fused kernel (route.cuh's `fused_limits`, which needs CUDA to include).
constexpr route_limits fused_path_limits{1024, 32};

}  // namespace

TEST_CASE("the base call of the validation tests is valid and routes on the host", "[validation][host]")
{
  host_buffers b;
  const route_params p = b.params();
  REQUIRE(validate_params(p, reference_limits));
  REQUIRE(validate_params(p, fused_path_limits));
  REQUIRE(host_route(p));
  CHECK(std::string(last_error_message()).empty());
  for (std::int64_t t = 0; t < base_tokens; ++t)
    for (int k = 0; k < p.topk; ++k) {
      const std::int32_t id = reinterpret_cast<const std::int32_t*>(b.a.ids)[t * p.topk + k];
      CHECK(id >= 0);
      CHECK(id < 256);
    }
}

TEST_CASE("validate_params and host_route refuse every bad case with a reason that names it and write nothing",
          "[validation][host]")
{
  int checked = 0;
  for (const bad_param_case& c : bad_param_cases()) {
    INFO("case: " << c.what);
    host_buffers b;
    route_params p = b.params();
    c.change(p);

    // The fused kernel's limits refuse every case.
    CHECK_FALSE(validate_params(p, fused_path_limits));
    const std::string fused_reason = last_error_message();
    INFO("reason with the fused limits: " << fused_reason);
    CHECK(reason_problem(c, fused_reason) == "");

    if (c.who == refused_by::fused_only) {
      // valid within the reference limits (the base buffers are too small to route it here;
      // the largest shapes route in the test below)
      CHECK(validate_params(p, reference_limits));
      continue;
    }
    CHECK_FALSE(validate_params(p, reference_limits));
    const std::string reason = last_error_message();
    INFO("reason: " << reason);
    CHECK(reason_problem(c, reason) == "");

    // host_route: false, the same reason, not a byte written
    CHECK_FALSE(host_route(p));
    CHECK(std::string(last_error_message()) == reason);
    CHECK(b.unchanged());
    ++checked;
  }
  CHECK(checked >= 45);
}

TEST_CASE("a refused call leaves its reason until the next call, which clears it on success", "[validation][host]")
{
  host_buffers b;
  route_params p = b.params();
  p.num_groups = 7;
  CHECK_FALSE(host_route(p));
  const std::string reason = last_error_message();
  CHECK(reason.find("num_groups") != std::string::npos);
  CHECK(std::string(last_error_message()) == reason);  // reading it does not clear it
  p.num_groups = 8;
  CHECK(host_route(p));
  CHECK(std::string(last_error_message()).empty());

  // validate_params on its own too
  p.topk = 0;
  CHECK_FALSE(validate_params(p));
  CHECK(std::string(last_error_message()).find("topk") != std::string::npos);
  p.topk = 8;
  CHECK(validate_params(p));
  CHECK(std::string(last_error_message()).empty());
}

TEST_CASE("an f16 bias type is refused with a bias and let through without one; an unknown one never",
          "[validation][host]")
{
  host_buffers b;
  route_params p = b.params();
  p.bias_type = data_type::f16;
  CHECK_FALSE(validate_params(p));
  CHECK(std::string(last_error_message()).find("bias_type must be f32 or bf16 (got f16, 2)") != std::string::npos);
  CHECK_FALSE(host_route(p));
  CHECK(b.unchanged());

  // Without a bias the type is never read: the call routes as with the default type.
  p.bias = nullptr;
  CHECK(validate_params(p));
  CHECK(validate_params(p, fused_path_limits));
  REQUIRE(host_route(p));
  CHECK(std::string(last_error_message()).empty());
  host_buffers c;
  route_params q = c.params();
  q.bias = nullptr;
  REQUIRE(host_route(q));
  CHECK(std::memcmp(b.a.ids, c.a.ids, sizeof b.a.ids) == 0);
  CHECK(std::memcmp(b.a.weights, c.a.weights, sizeof b.a.weights) == 0);

  // A value that is none of the enum's is refused either way.
  q.bias_type = static_cast<data_type>(9);
  CHECK_FALSE(validate_params(q));
  CHECK(std::string(last_error_message()).find("bias_type") != std::string::npos);
}

TEST_CASE("num_tokens == 0 succeeds with null pointers everywhere and writes nothing", "[validation][host]")
{
  host_buffers b;
  route_params p = b.params();
  p.num_tokens = 0;
  p.logits = nullptr;
  p.bias = nullptr;
  p.expert_map = nullptr;
  p.num_valid_tokens = nullptr;
  p.weights = nullptr;
  p.ids = nullptr;
  CHECK(validate_params(p, reference_limits));
  CHECK(validate_params(p, fused_path_limits));
  CHECK(host_route(p));
  CHECK(std::string(last_error_message()).empty());

  // misaligned pointers are not looked at either
  route_params q = b.params();
  q.num_tokens = 0;
  q.logits = reinterpret_cast<const char*>(b.a.logits) + 1;
  q.weights = reinterpret_cast<float*>(reinterpret_cast<char*>(b.a.weights) + 2);
  q.expert_map = reinterpret_cast<const std::int32_t*>(reinterpret_cast<const char*>(b.a.expert_map) + 1);
  CHECK(host_route(q));
  CHECK(b.unchanged());

  // but the shape and the options are still checked
  p.topk = 0;
  CHECK_FALSE(host_route(p));
  CHECK(std::string(last_error_message()).find("topk") != std::string::npos);
  p.topk = 8;
  p.routed_scaling_factor = NAN;
  CHECK_FALSE(host_route(p));
  CHECK(std::string(last_error_message()).find("routed_scaling_factor") != std::string::npos);
}

TEST_CASE("the limits of each path hold at their edges", "[validation][host]")
{
  struct edge {
    int experts, topk;
    bool reference_ok, fused_ok;
  };
  const edge edges[] = {
      {1, 1, true, true},      {1024, 32, true, true},  {1025, 8, true, false},   {1024, 33, true, false},
      {4096, 64, true, false}, {4097, 8, false, false}, {4096, 65, false, false}, {2048, 1, true, false},
  };
  for (const edge& e : edges) {
    INFO("E = " << e.experts << ", K = " << e.topk);
    route_params p;
    p.num_experts = e.experts;
    p.topk = e.topk;
    p.num_tokens = 0;
    CHECK(validate_params(p, reference_limits) == e.reference_ok);
    if (!e.reference_ok)
      CHECK(std::string(last_error_message()).find("larger than this path supports (") != std::string::npos);
    CHECK(validate_params(p, fused_path_limits) == e.fused_ok);
    if (!e.fused_ok)
      CHECK(std::string(last_error_message()).find("larger than this path supports (") != std::string::npos);
  }
  CHECK(reference_limits.max_experts == 4096);
  CHECK(reference_limits.max_topk == 64);
}

TEST_CASE("each bound of validate_params accepts its last valid value and refuses the next", "[validation][host]")
{
  // The bad cases above lie well past each bound; these sit on it, so that a bound moved by
  // one (`<` for `<=`) fails here.
  struct edge {
    const char* what;
    void (*change)(route_params&);
    bool valid;
    const char* mentions;  ///< the parameter a refusal names
  };
  constexpr std::int32_t int32_max = std::numeric_limits<std::int32_t>::max();
  const edge edges[] = {
      {"row_stride == E", [](route_params& p) { p.row_stride = 256; }, true, ""},
      {"row_stride == E - 1", [](route_params& p) { p.row_stride = 255; }, false, "row_stride"},
      {"shared ids up to exactly INT32_MAX",
       [](route_params& p) {
         p.num_shared_slots = 1;
         p.num_shared_experts = int32_max - 255;  // E + NS - 1 == INT32_MAX
       },
       true, ""},
      {"shared ids one past INT32_MAX",
       [](route_params& p) {
         p.num_shared_slots = 1;
         p.num_shared_experts = int32_max - 254;
       },
       false, "num_shared_experts"},
      {"num_tokens times the row stride exactly 2^56 elements",
       [](route_params& p) {
         p.row_stride = std::int64_t{1} << 30;
         p.num_tokens = std::int64_t{1} << 26;
       },
       true, ""},
      {"num_tokens times the row stride one row past 2^56 elements",
       [](route_params& p) {
         p.row_stride = std::int64_t{1} << 30;
         p.num_tokens = (std::int64_t{1} << 26) + 1;
       },
       false, "num_tokens"},
      {"num_valid_tokens 4-byte aligned (the next int32)",
       [](route_params& p) { p.num_valid_tokens = p.num_valid_tokens + 1; }, true, ""},
  };
  for (const edge& e : edges) {
    INFO("case: " << e.what);
    host_buffers b;
    route_params p = b.params();
    e.change(p);
    CHECK(validate_params(p, reference_limits) == e.valid);
    const std::string reason = last_error_message();
    if (e.valid) {
      CHECK(reason.empty());
    } else {
      CHECK(reason.find(e.mentions) != std::string::npos);
    }
  }
}

TEST_CASE("the largest shape of the reference paths routes on the host", "[validation][host]")
{
  const int E = 4096, K = 64;
  std::vector<float> logits(2 * E);
  for (int i = 0; i < 2 * E; ++i) logits[static_cast<std::size_t>(i)] = static_cast<float>((i * 7919) % 4099) / 1000.0f;
  std::vector<float> weights(2 * K, weight_pattern);
  std::vector<std::int64_t> ids(2 * K, id_pattern);
  route_params p;
  p.num_experts = E;
  p.topk = K;
  p.scoring = scoring_func::softmax;
  p.logits = logits.data();
  p.num_tokens = 2;
  p.weights = weights.data();
  p.ids = ids.data();
  p.ids_type = index_type::i64;
  REQUIRE(host_route(p));
  for (int t = 0; t < 2; ++t)
    for (int k = 0; k < K; ++k) {
      CHECK(ids[static_cast<std::size_t>(t * K + k)] >= 0);
      CHECK(ids[static_cast<std::size_t>(t * K + k)] < E);
      CHECK(weights[static_cast<std::size_t>(t * K + k)] != weight_pattern);
    }
}
