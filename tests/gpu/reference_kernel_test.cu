/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// The reference kernel against the host reference: every model shape of the contract and the
// limits of the reference paths, every option and input / output type, random and nasty inputs;
// empty calls, padding from a device-side count, expert maps, validation errors and replays of
// a captured CUDA graph. Inputs are fresh every run; MOE_ROUTER_TEST_SEED replays one.

#include "support/test_harness.cuh"

#include <moe_router/reference/reference_kernel.cuh>

#include <cuda_runtime_api.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using namespace moe_router;
using namespace moe_router::test;

/// The entry point under test.
cudaError_t reference_entry(const route_params& p, cudaStream_t stream) { return route_reference(p, stream); }

/// A shape to test, with the scoring and the options its model uses.
struct model_shape {
  const char* label;
  int num_experts, num_groups, topk_group, topk;
  scoring_func scoring;
  group_score_kind group_score;
  bool bias;
  float factor;
};

constexpr scoring_func sigmoid = scoring_func::sigmoid;
constexpr scoring_func softmax = scoring_func::softmax;
constexpr scoring_func sqrtsoftplus = scoring_func::sqrtsoftplus;
constexpr group_score_kind top2_sum = group_score_kind::top2_sum;
constexpr group_score_kind max_score = group_score_kind::max;

const model_shape shapes[] = {
    // the models of the contract
    {"DeepSeek-V3", 256, 8, 4, 8, sigmoid, top2_sum, true, 2.5f},
    {"Kimi-K2", 384, 1, 1, 8, sigmoid, top2_sum, true, 2.827f},
    {"GLM-4.5", 160, 1, 1, 8, sigmoid, top2_sum, true, 2.5f},
    {"MiniMax-M2", 256, 1, 1, 8, sigmoid, top2_sum, true, 1.0f},
    {"DeepSeek-V2", 160, 8, 3, 6, softmax, max_score, false, 16.0f},
    {"DeepSeek-V2-Lite", 64, 1, 1, 6, softmax, top2_sum, false, 1.0f},
    {"Qwen3-MoE", 128, 1, 1, 8, softmax, top2_sum, false, 1.0f},
    {"Mixtral", 8, 1, 1, 2, softmax, top2_sum, false, 1.0f},
    {"Llama-4 (16 experts)", 16, 1, 1, 1, sigmoid, top2_sum, false, 1.0f},
    {"Llama-4 (128 experts)", 128, 1, 1, 1, sigmoid, top2_sum, false, 1.0f},
    {"DeepSeek-V4-Flash", 256, 1, 1, 6, sqrtsoftplus, top2_sum, true, 1.5f},
    // larger shapes, up to the limits of the reference paths
    {"512 experts, top-10", 512, 1, 1, 10, softmax, top2_sum, false, 1.0f},
    {"512 experts, 8 groups, top-22", 512, 8, 4, 22, sigmoid, top2_sum, true, 2.5f},
    {"1024 experts, 8 groups, top-8", 1024, 8, 4, 8, sqrtsoftplus, top2_sum, true, 1.5f},
    {"4096 experts, top-64", 4096, 1, 1, 64, softmax, top2_sum, false, 1.0f},
    {"4096 experts, 64 groups, top-64", 4096, 64, 8, 64, sigmoid, top2_sum, true, 2.5f},
    // edges
    {"one expert", 1, 1, 1, 1, softmax, top2_sum, false, 1.0f},
    {"three experts, all routed", 3, 1, 1, 3, sigmoid, top2_sum, true, 1.0f},
    {"33 experts (a lane of the canonical sum with one)", 33, 1, 1, 5, softmax, top2_sum, true, 1.0f},
    {"groups of two", 16, 8, 2, 3, sigmoid, top2_sum, true, 2.5f},
    {"every group kept, max group score", 72, 6, 6, 12, sqrtsoftplus, max_score, true, 1.5f},
    {"every expert of the kept groups routed", 64, 8, 2, 16, sigmoid, top2_sum, true, 2.5f},
};

/// The 12 cases of a shape: every logits type with every ids type, every bias type, the four
/// renormalize / scale_output conventions, each map kind, shared slots, padding, strides and
/// token counts; the rotation is offset by the shape so that the shapes see different pairings.
std::vector<case_desc> cases_of(const model_shape& m, int shape_index)
{
  static const data_type logits_types[] = {data_type::f32, data_type::bf16, data_type::f16};
  static const std::int64_t token_counts[] = {1, 31, 32, 33, 1000, 31, 32, 33, 1, 100, 33, 200};
  std::vector<case_desc> out;
  for (int j = 0; j < 12; ++j) {
    case_desc d;
    d.label = m.label;
    d.num_experts = m.num_experts;
    d.num_groups = m.num_groups;
    d.topk_group = m.topk_group;
    d.topk = m.topk;
    d.scoring = m.scoring;
    d.group_score = m.group_score;
    d.logits_type = logits_types[j % 3];
    d.ids_type = (j / 2) % 2 == 0 ? index_type::i32 : index_type::i64;
    const int bias = (j / 3 + shape_index + (m.bias ? 1 : 0)) % 3;  // none, f32, bf16
    d.has_bias = bias != 0;
    d.bias_type = bias == 2 ? data_type::bf16 : data_type::f32;
    const int convention = (j + shape_index) % 4;
    d.renormalize = convention < 2;
    d.scale_output = convention % 2 == 0;
    d.routed_scaling_factor = m.factor != 1.0f ? m.factor : (j % 2 == 0 ? 2.5f : 1.0f);
    d.num_shared_slots = j % 4 == 1 || j % 4 == 2 ? 1 : 0;
    d.num_shared_experts = j % 4 == 1 ? 1 : 3 + j % 5;
    d.expert_map = static_cast<map_kind>((j + 2 * shape_index) % 4);
    d.num_tokens = token_counts[j];
    d.has_num_valid = j % 3 == 2 || j == 7 || j == 10;
    d.num_valid_tokens = j == 7    ? static_cast<std::int32_t>(d.num_tokens + 5)
                         : j == 10 ? -3
                                   : static_cast<std::int32_t>(d.num_tokens - d.num_tokens / 3 - (j % 2));
    d.row_stride = j % 2 == 1 ? m.num_experts + 1 + j % 5 : 0;
    d.flavour = j % 3 == 1 ? input_flavour::random : input_flavour::nasty;
    out.push_back(d);
  }
  return out;
}

/// What the comparisons with the host found over several cases.
struct comparison_stats {
  std::int64_t cases = 0, rows = 0, near_tie_rows = 0, subnormal_weights = 0;
  int max_weight_ulps = 0;
  void add(const test_case& c, const check_result& r)
  {
    ++cases;
    rows += c.num_tokens();
    near_tie_rows += r.near_tie_rows;
    max_weight_ulps = std::max(max_weight_ulps, r.max_weight_ulps);
    subnormal_weights += r.subnormal_weights;
    // MOE_ROUTER_TEST_VERBOSE=1 shows which ids differed from the host's and by how little
    const char* verbose = std::getenv("MOE_ROUTER_TEST_VERBOSE");
    if (verbose != nullptr && *verbose != '\0' && *verbose != '0' && !r.near_ties.empty())
      std::printf("near ties in %s\n%s", c.describe().c_str(), r.near_ties.c_str());
  }
  void print(const char* label) const
  {
    std::printf(
        "  %-50s %2lld cases, %4lld rows: %lld near-tie rows, weights within %d ulp of the host's (%lld more "
        "within what subnormal scores allow)\n",
        label, static_cast<long long>(cases), static_cast<long long>(rows), static_cast<long long>(near_tie_rows),
        max_weight_ulps, static_cast<long long>(subnormal_weights));
  }
};

/// Run `c` on the reference kernel and hold it to the host reference and the invariants. A
/// many-to-one map is checked through the unmapped run (its logical ids cannot be recovered).
void check_reference_case(const test_case& c, comparison_stats& stats)
{
  INFO(c.describe() << "\nreplay with " << replay_note());
  const route_outputs device = run_device(c, reference_entry);
  MOE_ROUTER_REQUIRE_OK(check_invariants(c, device));
  if (!c.expert_map.empty() && !map_is_injective(c.expert_map)) {
    const test_case u = without_map(c);
    const route_outputs unmapped = run_device(u, reference_entry);
    MOE_ROUTER_REQUIRE_OK(check_mapping(c, unmapped, device));
    MOE_ROUTER_REQUIRE_OK(check_invariants(u, unmapped));
    const check_result r = check_against_host(u, unmapped, run_host(u));
    MOE_ROUTER_REQUIRE_OK(r);
    stats.add(u, r);
  } else {
    const check_result r = check_against_host(c, device, run_host(c));
    MOE_ROUTER_REQUIRE_OK(r);
    stats.add(c, r);
  }
}

/// A small nasty case of DeepSeek-V3's shape, for the tests that are not about shapes.
case_desc deepseek_v3_desc(std::int64_t num_tokens)
{
  case_desc d;
  d.label = "DeepSeek-V3";
  d.num_experts = 256;
  d.num_groups = 8;
  d.topk_group = 4;
  d.topk = 8;
  d.scoring = scoring_func::sigmoid;
  d.has_bias = true;
  d.renormalize = true;
  d.scale_output = true;
  d.routed_scaling_factor = 2.5f;
  d.num_tokens = num_tokens;
  d.flavour = input_flavour::nasty;
  return d;
}

}  // namespace

TEST_CASE("the reference kernel routes like the host reference on every shape, option and type", "[reference]")
{
  for (int si = 0; si < static_cast<int>(sizeof(shapes) / sizeof(shapes[0])); ++si) {
    const model_shape& m = shapes[si];
    DYNAMIC_SECTION(m.label)
    {
      comparison_stats stats;
      const std::vector<case_desc> descs = cases_of(m, si);
      // Under compute-sanitizer (MOE_ROUTER_UNDER_SANITIZER, set by scripts/gpu-check.sh
      // --sanitize) the one-thread-per-token kernel is tens of times slower: a third of the
      // cases, at most 100 tokens each.
      const bool sanitizer = std::getenv("MOE_ROUTER_UNDER_SANITIZER") != nullptr;
      for (std::size_t j = 0; j < descs.size(); ++j) {
        if (sanitizer && j % 3 != 0) continue;
        case_desc d = descs[j];
        if (sanitizer && d.num_tokens > 100) d.num_tokens = 100;
        // the seed depends on the shape and the case only: the same whichever sections run
        const test_case c = make_case(d, derive_seed(base_seed(), 100 * static_cast<std::uint64_t>(si) + j));
        check_reference_case(c, stats);
      }
      stats.print(m.label);
    }
  }
}

TEST_CASE("an empty call succeeds, launches nothing and writes nothing", "[reference]")
{
  INFO("replay with " << replay_note());
  for (const int ids64 : {0, 1}) {
    case_desc d = deepseek_v3_desc(0);
    d.ids_type = ids64 ? index_type::i64 : index_type::i32;
    d.num_shared_slots = 1;
    d.has_num_valid = true;
    d.num_valid_tokens = 5;
    const test_case c = make_case(d, derive_seed(base_seed(), 10000 + ids64));
    device_case dev(c);

    // a direct call: success, and every guard element around the (empty) outputs untouched
    const route_outputs out = dev.run(reference_entry);
    CHECK(out.weights.empty());
    CHECK(dev.untouched());

    // captured: the graph holds no node at all
    cuda_stream stream;
    cuda_graph graph;
    MOE_ROUTER_TEST_CUDA(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeThreadLocal));
    const cudaError_t status = route_reference(dev.params(), stream.get());
    MOE_ROUTER_TEST_CUDA(cudaStreamEndCapture(stream.get(), &graph.graph));
    REQUIRE(status == cudaSuccess);
    std::size_t nodes = 1;
    MOE_ROUTER_TEST_CUDA(cudaGraphGetNodes(graph.graph, nullptr, &nodes));
    CHECK(nodes == 0);

    // null pointers are fine when there is nothing to read or write
    route_params p = dev.params();
    p.logits = nullptr;
    p.weights = nullptr;
    p.ids = nullptr;
    p.num_valid_tokens = nullptr;
    CHECK(route_reference(p, stream.get()) == cudaSuccess);
    CHECK(*last_error_message() == '\0');
    stream.synchronize();
    CHECK(dev.untouched());
  }
}

TEST_CASE("rows at or past the device-side count are padding, whatever the count", "[reference]")
{
  INFO("replay with " << replay_note());
  case_desc d = deepseek_v3_desc(64);
  d.has_num_valid = true;
  d.num_shared_slots = 1;
  d.num_shared_experts = 2;
  d.ids_type = index_type::i64;
  test_case c = make_case(d, derive_seed(base_seed(), 20000));
  device_case dev(c);
  for (const std::int32_t n : {0, 1, 31, 32, 33, 63, 64, 65, 1000, -1, INT_MIN, INT_MAX}) {
    c.desc.num_valid_tokens = n;  // what the host and the checkers read
    dev.set_num_valid(n);
    INFO(c.describe());
    const route_outputs out = dev.run(reference_entry);
    MOE_ROUTER_REQUIRE_OK(check_invariants(c, out));
    MOE_ROUTER_REQUIRE_OK(check_against_host(c, out, run_host(c)));
  }
}

TEST_CASE("an expert map changes the routed ids and nothing else", "[reference]")
{
  INFO("replay with " << replay_note());
  for (const map_kind kind : {map_kind::permutation, map_kind::injective, map_kind::arbitrary}) {
    for (const index_type ids : {index_type::i32, index_type::i64}) {
      case_desc d = deepseek_v3_desc(33);
      d.expert_map = kind;
      d.ids_type = ids;
      d.num_shared_slots = 1;
      d.num_shared_experts = 4;
      d.has_num_valid = true;
      d.num_valid_tokens = 30;
      const test_case c =
          make_case(d, derive_seed(base_seed(), 30000 + 2 * static_cast<int>(kind) + static_cast<int>(ids)));
      INFO(c.describe());
      const route_outputs mapped = run_device(c, reference_entry);
      const route_outputs unmapped = run_device(without_map(c), reference_entry);
      MOE_ROUTER_REQUIRE_OK(check_mapping(c, unmapped, mapped));
      MOE_ROUTER_REQUIRE_OK(check_invariants(c, mapped));
    }
  }
}

TEST_CASE("ids type, storage type, row stride and repetition change nothing", "[reference]")
{
  INFO("replay with " << replay_note());
  std::uint64_t index = 40000;
  for (const data_type logits_type : {data_type::bf16, data_type::f16, data_type::f32}) {
    case_desc d = deepseek_v3_desc(100);
    d.logits_type = logits_type;
    d.bias_type = data_type::bf16;
    d.row_stride = 259;
    d.num_shared_slots = 1;
    d.num_shared_experts = 3;
    const test_case c = make_case(d, derive_seed(base_seed(), index++));
    INFO(c.describe());
    const route_outputs base = run_device(c, reference_entry);

    // the same call again
    MOE_ROUTER_REQUIRE_OK(check_bitwise_equal(c, base, run_device(c, reference_entry), "first run", "second run"));

    // int64 ids: the same values
    test_case wide_ids = c;
    wide_ids.desc.ids_type = index_type::i64;
    MOE_ROUTER_REQUIRE_OK(
        check_bitwise_equal(c, base, run_device(wide_ids, reference_entry), "int32 ids", "int64 ids"));

    // the same values in f32, contiguous, with an f32 bias
    const test_case f32 = relayout(c, data_type::f32, 0, data_type::f32);
    MOE_ROUTER_REQUIRE_OK(
        check_bitwise_equal(c, base, run_device(f32, reference_entry), "as generated", "f32, contiguous"));

    // a wider gap of garbage
    const test_case gapped = relayout(c, logits_type, 256 + 64, data_type::bf16);
    MOE_ROUTER_REQUIRE_OK(
        check_bitwise_equal(c, base, run_device(gapped, reference_entry), "stride 259", "stride 320"));
  }
}

TEST_CASE("validation errors return cudaErrorInvalidValue with a reason and write nothing", "[reference]")
{
  INFO("replay with " << replay_note());
  const test_case c = make_case(deepseek_v3_desc(32), derive_seed(base_seed(), 50000));
  SECTION("experts not a multiple of the groups")
  {
    require_rejected(c, reference_entry, [](route_params& p) { p.num_groups = 7; });
  }
  SECTION("topk larger than the kept groups hold")
  {
    require_rejected(c, reference_entry, [](route_params& p) { p.topk = 4 * 32 + 1; });
  }
  SECTION("a row stride smaller than the experts")
  {
    require_rejected(c, reference_entry, [](route_params& p) { p.row_stride = 255; });
  }
  SECTION("a routed scaling factor that is not finite and positive")
  {
    require_rejected(c, reference_entry, [](route_params& p) { p.routed_scaling_factor = 0.0f; });
    require_rejected(c, reference_entry, [](route_params& p) { p.routed_scaling_factor = NAN; });
  }
  SECTION("null logits with tokens to route")
  {
    require_rejected(c, reference_entry, [](route_params& p) { p.logits = nullptr; });
  }
  SECTION("a shape beyond the reference limits")
  {
    require_rejected(c, reference_entry, [](route_params& p) {
      p.num_experts = 8192;
      p.num_groups = 1;
      p.topk_group = 1;
    });
    require_rejected(c, reference_entry, [](route_params& p) {
      p.num_groups = 1;
      p.topk_group = 1;
      p.topk = 65;
    });
  }
}

TEST_CASE("a captured graph replays with the count written to the device between replays", "[reference][graph]")
{
  INFO("replay with " << replay_note());
  case_desc d = deepseek_v3_desc(100);
  d.has_num_valid = true;
  d.num_valid_tokens = 100;
  d.num_shared_slots = 1;
  d.num_shared_experts = 1;
  d.logits_type = data_type::bf16;
  test_case c = make_case(d, derive_seed(base_seed(), 60000));
  device_case dev(c);

  cuda_stream stream;
  cuda_graph graph;
  MOE_ROUTER_TEST_CUDA(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeThreadLocal));
  const cudaError_t status = route_reference(dev.params(), stream.get());
  MOE_ROUTER_TEST_CUDA(cudaStreamEndCapture(stream.get(), &graph.graph));
  INFO("route_reference while capturing: " << cudaGetErrorName(status) << " " << last_error_message());
  REQUIRE(status == cudaSuccess);
  cuda_graph_exec exec;
  MOE_ROUTER_TEST_CUDA(cudaGraphInstantiate(&exec.exec, graph.graph, 0));

  replay_with_counts(c, dev, exec.exec, stream, {100, 0, 37, 1, 99, 250, -4, 64}, reference_entry, "direct call");
}
