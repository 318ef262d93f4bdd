/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// Validation of the device entry points on a GPU, over device buffers: every bad case of
// bad_params.hpp is refused by `route_reference`, `route_fused<deepseek_v3_config<>>`,
// `route<default_route_table>` (each `route_path`) and `default_route_table::launch` with
// cudaErrorInvalidValue, a reason that names the parameter, no CUDA error left behind and
// every output and guard byte as it was;
// empty calls capture no graph node; the shapes only the fused kernel refuses route correctly
// on the reference kernel; and after all of it, valid calls still route.

#include "support/test_harness.cuh"
#include "validation/bad_params.hpp"
#include "validation/entry_points.cuh"

#include <moe_router/dispatch.cuh>
#include <moe_router/error.hpp>
#include <moe_router/types.hpp>

#include <cuda_runtime_api.h>
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace {

using namespace moe_router;
using namespace moe_router::test;

using entry_function = std::function<cudaError_t(const route_params&, cudaStream_t)>;

struct entry_point {
  const char* name;
  bool fused_limits;  ///< held to fused_limits
  entry_function call;
};

std::vector<entry_point> entry_points()
{
  auto table = [](route_path path) {
    return [path](const route_params& p, cudaStream_t s) { return call_route_default_table(p, s, path); };
  };
  return {
      {"route_reference", false, [](const route_params& p, cudaStream_t s) { return call_route_reference(p, s); }},
      {"route_fused<deepseek_v3_config<>>", true,
       [](const route_params& p, cudaStream_t s) { return call_route_fused_deepseek_v3(p, s); }},
      {"route<default_route_table>, route_path::automatic", false, table(route_path::automatic)},
      {"route<default_route_table>, route_path::fused", true, table(route_path::fused)},
      {"route<default_route_table>, route_path::reference", false, table(route_path::reference)},
      {"default_route_table::launch", true,
       [](const route_params& p, cudaStream_t s) { return call_default_table_launch(p, s); }},
  };
}

/// The base call of bad_params.hpp as a test case: DeepSeek-V3's shape, f32 logits and bias,
/// i32 ids, a permutation map and a device-side count.
case_desc base_desc(std::int64_t num_tokens = base_tokens)
{
  case_desc d;
  d.label = "validation base call (DeepSeek-V3)";
  d.num_experts = 256;
  d.num_groups = 8;
  d.topk_group = 4;
  d.topk = 8;
  d.scoring = scoring_func::sigmoid;
  d.group_score = group_score_kind::top2_sum;
  d.has_bias = true;
  d.renormalize = true;
  d.scale_output = true;
  d.routed_scaling_factor = 2.5f;
  d.expert_map = map_kind::permutation;
  d.has_num_valid = true;
  d.num_valid_tokens = static_cast<std::int32_t>(num_tokens);
  d.num_tokens = num_tokens;
  d.flavour = input_flavour::nasty;
  return d;
}

/// Leave a reason behind that names no parameter, so that an entry point that refuses without
/// setting its own reason is caught by the checks of the reason that follow.
void leave_unrelated_reason()
{
  REQUIRE(call_route_default_table(route_params{}, 0, static_cast<route_path>(3)) == cudaErrorInvalidValue);
  REQUIRE(std::string(last_error_message()).find("unknown route_path") != std::string::npos);
}

/// Under compute-sanitizer (scripts/gpu-check.sh --sanitize sets MOE_ROUTER_UNDER_SANITIZER), the
/// large reference-kernel cases are made smaller: the sanitizer slows every shared-memory access.
bool under_sanitizer()
{
  const char* tool = std::getenv("MOE_ROUTER_UNDER_SANITIZER");
  return tool != nullptr && *tool != '\0';
}

}  // namespace

TEST_CASE("every device entry point refuses every bad case on device buffers and writes nothing", "[validation][gpu]")
{
  INFO("replay with " << replay_note());
  const test_case c = make_case(base_desc(), derive_seed(base_seed(), 1));
  int refusals = 0;
  for (const entry_point& e : entry_points()) {
    for (const bad_param_case& bad : bad_param_cases()) {
      if (bad.who == refused_by::fused_only && !e.fused_limits) continue;  // valid there
      INFO(e.name << ", case: " << bad.what);
      leave_unrelated_reason();
      const std::string reason = require_rejected(c, e.call, bad.change);
      INFO("reason: " << reason);
      CHECK(reason_problem(bad, reason) == "");
      ++refusals;
    }
  }
  std::printf("  %d refusals checked on device buffers\n", refusals);
}

TEST_CASE("route_fused, route_path::fused and route_table::launch refuse shapes and types they were not compiled for",
          "[validation][gpu]")
{
  INFO("replay with " << replay_note());
  const test_case c = make_case(base_desc(), derive_seed(base_seed(), 2));
  const std::vector<entry_point> entries = entry_points();
  const entry_point& fused = entries[1];
  const entry_point& fused_path = entries[3];
  const entry_point& table_launch = entries[5];

  const std::string kimi = require_rejected(c, fused.call, [](route_params& p) {
    p.num_experts = 384;
    p.num_groups = 1;
    p.topk_group = 1;
  });
  CHECK(kimi.find("compiled E=256 G=8 TG=4 K=8 sigmoid top2_sum logits=f32 bias=f32 ids=i32") != std::string::npos);
  const std::string bf16 = require_rejected(c, fused.call, [](route_params& p) { p.logits_type = data_type::bf16; });
  CHECK(bf16.find("logits=bf16") != std::string::npos);

  const auto uncompiled_shape = [](route_params& p) {
    p.num_experts = 96;
    p.num_groups = 4;
    p.topk_group = 2;
    p.topk = 5;
  };
  const std::string uncompiled = require_rejected(c, fused_path.call, uncompiled_shape);
  CHECK(uncompiled.find("no fused kernel is compiled for E=96 G=4 TG=2 K=5") != std::string::npos);
  CHECK(uncompiled.find("compiled: 256/8/4/8 sigmoid top2_sum f32 f32 i32") != std::string::npos);
  // the table's own launch gives the same reason, and nothing is launched either way
  leave_unrelated_reason();
  CHECK(require_rejected(c, table_launch.call, uncompiled_shape) == uncompiled);

  const std::string path = require_rejected(
      c,
      [](const route_params& p, cudaStream_t s) { return call_route_default_table(p, s, static_cast<route_path>(3)); },
      [](route_params&) {});
  CHECK(path.find("route_path") != std::string::npos);
}

TEST_CASE("an empty call succeeds on every entry point, writes nothing and captures no graph node", "[validation][gpu]")
{
  INFO("replay with " << replay_note());
  const test_case c = make_case(base_desc(), derive_seed(base_seed(), 3));
  for (const entry_point& e : entry_points()) {
    INFO(e.name);
    device_case dev(c);
    for (const bool null_pointers : {false, true}) {
      route_params p = dev.params();
      p.num_tokens = 0;
      if (null_pointers) {
        p.logits = nullptr;
        p.bias = nullptr;
        p.expert_map = nullptr;
        p.num_valid_tokens = nullptr;
        p.weights = nullptr;
        p.ids = nullptr;
      }
      cuda_stream stream;
      cuda_graph graph;
      MOE_ROUTER_TEST_CUDA(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeThreadLocal));
      const cudaError_t status = e.call(p, stream.get());
      MOE_ROUTER_TEST_CUDA(cudaStreamEndCapture(stream.get(), &graph.graph));
      INFO("returned " << cudaGetErrorName(status) << ": " << last_error_message());
      CHECK(status == cudaSuccess);
      std::size_t nodes = 1;
      MOE_ROUTER_TEST_CUDA(cudaGraphGetNodes(graph.graph, nullptr, &nodes));
      CHECK(nodes == 0);
      CHECK(e.call(p, stream.get()) == cudaSuccess);  // and outside a capture
      stream.synchronize();
      MOE_ROUTER_TEST_CUDA(cudaGetLastError());
      CHECK(dev.untouched());
    }
  }

  // route() reports that it ran nothing
  device_case dev(c);
  route_params p = dev.params();
  p.num_tokens = 0;
  for (const route_path path : {route_path::automatic, route_path::fused, route_path::reference}) {
    route_kernel ran = route_kernel::fused;
    CHECK(call_route_default_table(p, 0, path, &ran) == cudaSuccess);
    CHECK(ran == route_kernel::none);
  }
  MOE_ROUTER_TEST_CUDA(cudaDeviceSynchronize());
  CHECK(dev.untouched());
}

TEST_CASE("shapes beyond the fused kernel's limits route on the reference kernel", "[validation][gpu]")
{
  INFO("replay with " << replay_note());
  struct shape {
    int experts, groups, topk_group, topk;
  };
  const shape shapes[] = {{2048, 1, 1, 8}, {1025, 1, 1, 4}, {256, 1, 1, 33}, {4096, 64, 8, 64}};
  std::uint64_t index = 100;
  for (const shape& s : shapes) {
    case_desc d = base_desc(under_sanitizer() ? 8 : 40);
    d.label = "beyond the fused limits";
    d.num_experts = s.experts;
    d.num_groups = s.groups;
    d.topk_group = s.topk_group;
    d.topk = s.topk;
    d.num_valid_tokens = static_cast<std::int32_t>(d.num_tokens - 3);
    d.num_shared_slots = 1;
    d.num_shared_experts = 2;
    const test_case c = make_case(d, derive_seed(base_seed(), index++));
    INFO(c.describe());

    // route_path::fused refuses it, automatic runs the reference kernel, and both agree with
    // the reference kernel called directly and with the host
    const std::string reason = require_rejected(
        c, [](const route_params& p, cudaStream_t st) { return call_route_default_table(p, st, route_path::fused); },
        [](route_params&) {});
    CHECK(reason.find("larger than this path supports") != std::string::npos);
    route_kernel ran = route_kernel::none;
    const route_outputs automatic = run_device(c, [&ran](const route_params& p, cudaStream_t st) {
      return call_route_default_table(p, st, route_path::automatic, &ran);
    });
    CHECK(ran == route_kernel::reference);
    const route_outputs reference = run_device(c, call_route_reference);
    MOE_ROUTER_REQUIRE_OK(check_bitwise_equal(c, automatic, reference, "route_path::automatic", "route_reference"));
    MOE_ROUTER_REQUIRE_OK(check_invariants(c, reference));
    MOE_ROUTER_REQUIRE_OK(check_against_host(c, reference, run_host(c)));
  }
}

TEST_CASE("after every refusal, valid calls on every entry point still route", "[validation][gpu]")
{
  INFO("replay with " << replay_note());
  const test_case c = make_case(base_desc(under_sanitizer() ? 65 : 257), derive_seed(base_seed(), 4));
  INFO(c.describe());
  const route_outputs host = run_host(c);
  const route_outputs first = run_device(c, call_route_reference);
  MOE_ROUTER_REQUIRE_OK(check_against_host(c, first, host));
  for (const entry_point& e : entry_points()) {
    INFO(e.name);
    // a refused call, then the same call made valid again
    require_rejected(c, e.call, [](route_params& p) { p.num_groups = 7; });
    const route_outputs out = run_device(c, e.call);
    MOE_ROUTER_REQUIRE_OK(check_bitwise_equal(c, out, first, e.name, "route_reference"));
    MOE_ROUTER_REQUIRE_OK(check_invariants(c, out));
  }
}
