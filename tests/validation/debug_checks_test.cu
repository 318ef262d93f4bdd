/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// MOE_ROUTER_DEBUG_CHECKS (defined for this test by CMake): with it, the device entry points
// refuse a plain host pointer where a device pointer belongs, naming the pointer, before
// anything is launched; device, managed and pinned host memory pass; an empty call is not
// checked; and the checks may run while a CUDA graph is captured. On a system whose device
// reads pageable host memory (HMM / ATS), host pointers are valid and the calls must succeed.

#if !defined(MOE_ROUTER_DEBUG_CHECKS)
#error "this test is built with MOE_ROUTER_DEBUG_CHECKS"
#endif

#include "support/test_harness.cuh"

#include <moe_router/model_configs.cuh>
#include <moe_router/reference/reference_kernel.cuh>
#include <moe_router/route.cuh>

#include <cuda_runtime_api.h>
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace moe_router;
using namespace moe_router::test;

using config = mixtral_config<>;  // 8 experts, top-2, softmax: small and quick to compile

cudaError_t fused_entry(const route_params& p, cudaStream_t stream) { return route_fused<config>(p, stream); }
cudaError_t reference_entry(const route_params& p, cudaStream_t stream) { return route_reference(p, stream); }

case_desc mixtral_desc(std::int64_t num_tokens)
{
  case_desc d;
  d.label = "Mixtral";
  d.num_experts = 8;
  d.topk = 2;
  d.scoring = scoring_func::softmax;
  d.has_bias = true;
  d.expert_map = map_kind::permutation;
  d.has_num_valid = true;
  d.num_valid_tokens = static_cast<std::int32_t>(num_tokens - 1);
  d.num_tokens = num_tokens;
  return d;
}

bool device_reads_pageable_memory()
{
  int device = 0, pageable = 0;
  MOE_ROUTER_TEST_CUDA(cudaGetDevice(&device));
  MOE_ROUTER_TEST_CUDA(cudaDeviceGetAttribute(&pageable, cudaDevAttrPageableMemoryAccess, device));
  return pageable != 0;
}

}  // namespace

TEST_CASE("with MOE_ROUTER_DEBUG_CHECKS a host pointer is refused and named before anything is launched",
          "[debug_checks]")
{
  INFO("replay with " << replay_note());
  const test_case c = make_case(mixtral_desc(64), derive_seed(base_seed(), 1));
  const bool pageable = device_reads_pageable_memory();
  std::printf("  device reads pageable host memory: %s\n", pageable ? "yes (host pointers are valid)" : "no");

  // plain host memory, as big as each device array
  std::vector<float> host_floats(static_cast<std::size_t>(64 * 8 + 64), 0.5f);
  std::vector<std::int64_t> host_ids(static_cast<std::size_t>(64 * 2 + 64), 0);
  std::vector<std::int32_t> host_map{7, 6, 5, 4, 3, 2, 1, 0};
  std::vector<std::int32_t> host_count{63};

  struct pointer_case {
    const char* name;
    void (*swap)(route_params&, float*, std::int64_t*, std::int32_t*, std::int32_t*);
  };
  const pointer_case cases[] = {
      {"logits", [](route_params& p, float* f, std::int64_t*, std::int32_t*, std::int32_t*) { p.logits = f; }},
      {"bias", [](route_params& p, float* f, std::int64_t*, std::int32_t*, std::int32_t*) { p.bias = f; }},
      {"expert_map", [](route_params& p, float*, std::int64_t*, std::int32_t* m, std::int32_t*) { p.expert_map = m; }},
      {"num_valid_tokens",
       [](route_params& p, float*, std::int64_t*, std::int32_t*, std::int32_t* n) { p.num_valid_tokens = n; }},
      {"weights", [](route_params& p, float* f, std::int64_t*, std::int32_t*, std::int32_t*) { p.weights = f; }},
      {"ids", [](route_params& p, float*, std::int64_t* i, std::int32_t*, std::int32_t*) { p.ids = i; }},
  };
  for (const auto entry : {fused_entry, reference_entry}) {
    for (const pointer_case& pc : cases) {
      INFO((entry == fused_entry ? "route_fused" : "route_reference") << ", host pointer for " << pc.name);
      const std::vector<float> floats_before = host_floats;
      const std::vector<std::int64_t> ids_before = host_ids;
      if (pageable) {
        device_case dev(c);
        route_params p = dev.params();
        pc.swap(p, host_floats.data(), host_ids.data(), host_map.data(), host_count.data());
        CHECK(entry(p, 0) == cudaSuccess);
        MOE_ROUTER_TEST_CUDA(cudaDeviceSynchronize());
        continue;
      }
      const std::string reason = require_rejected(c, entry, [&](route_params& p) {
        pc.swap(p, host_floats.data(), host_ids.data(), host_map.data(), host_count.data());
      });
      INFO("reason: " << reason);
      CHECK(reason.find(std::string(pc.name) + " is a host pointer") != std::string::npos);
      CHECK(reason.find("MOE_ROUTER_DEBUG_CHECKS") != std::string::npos);
      CHECK(host_floats == floats_before);
      CHECK(host_ids == ids_before);
    }
  }
}

TEST_CASE("with MOE_ROUTER_DEBUG_CHECKS device, managed and pinned host memory route as usual", "[debug_checks]")
{
  INFO("replay with " << replay_note());
  const test_case c = make_case(mixtral_desc(100), derive_seed(base_seed(), 2));
  INFO(c.describe());
  const route_outputs expected = run_device(c, reference_entry);
  MOE_ROUTER_REQUIRE_OK(check_against_host(c, expected, run_host(c)));
  MOE_ROUTER_REQUIRE_OK(check_bitwise_equal(c, run_device(c, fused_entry), expected, "fused", "reference"));

  // the logits in pinned host memory, the weights and the ids in managed memory
  REQUIRE(c.desc.ids_type == index_type::i32);
  void* pinned = nullptr;
  MOE_ROUTER_TEST_CUDA(cudaMallocHost(&pinned, c.logits.size()));
  std::memcpy(pinned, c.logits.data(), c.logits.size());
  float* managed = nullptr;
  std::int32_t* managed_ids = nullptr;
  const std::size_t slots = static_cast<std::size_t>(c.num_tokens() * c.slots());
  MOE_ROUTER_TEST_CUDA(cudaMallocManaged(&managed, slots * sizeof(float)));
  MOE_ROUTER_TEST_CUDA(cudaMallocManaged(&managed_ids, slots * sizeof(std::int32_t)));
  for (const auto entry : {fused_entry, reference_entry}) {
    device_case dev(c);
    route_params p = dev.params();
    p.logits = pinned;
    p.weights = managed;
    p.ids = managed_ids;
    for (std::size_t i = 0; i < slots; ++i) {  // poisoned again: each entry must write every slot itself
      managed[i] = bits_to_float(weight_poison);
      managed_ids[i] = id32_poison;
    }
    const cudaError_t status = entry(p, 0);
    INFO("returned " << cudaGetErrorName(status) << ": " << last_error_message());
    CHECK(status == cudaSuccess);
    MOE_ROUTER_TEST_CUDA(cudaDeviceSynchronize());
    for (std::size_t i = 0; i < slots; ++i) {
      INFO("slot " << i);
      REQUIRE(float_bits(managed[i]) == float_bits(expected.weights[i]));
      REQUIRE(managed_ids[i] == expected.ids[i]);
    }
  }
  MOE_ROUTER_TEST_CUDA(cudaFree(managed_ids));
  MOE_ROUTER_TEST_CUDA(cudaFree(managed));
  MOE_ROUTER_TEST_CUDA(cudaFreeHost(pinned));
}

TEST_CASE("with MOE_ROUTER_DEBUG_CHECKS an empty call is not checked and a capture still works", "[debug_checks]")
{
  INFO("replay with " << replay_note());
  const test_case c = make_case(mixtral_desc(50), derive_seed(base_seed(), 3));
  std::vector<float> host(64);
  for (const auto entry : {fused_entry, reference_entry}) {
    device_case dev(c);
    route_params empty = dev.params();
    empty.num_tokens = 0;
    empty.logits = host.data();
    empty.weights = host.data();
    CHECK(entry(empty, 0) == cudaSuccess);

    // the pointer checks while a graph is captured, then replays
    cuda_stream stream;
    cuda_graph graph;
    MOE_ROUTER_TEST_CUDA(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal));
    const cudaError_t status = entry(dev.params(), stream.get());
    const std::string reason = last_error_message();
    MOE_ROUTER_TEST_CUDA(cudaStreamEndCapture(stream.get(), &graph.graph));
    INFO("while capturing: " << cudaGetErrorName(status) << ": " << reason);
    REQUIRE(status == cudaSuccess);
    cuda_graph_exec exec;
    MOE_ROUTER_TEST_CUDA(cudaGraphInstantiate(&exec.exec, graph.graph, 0));
    dev.poison();
    MOE_ROUTER_TEST_CUDA(cudaGraphLaunch(exec.exec, stream.get()));
    stream.synchronize();
    const route_outputs replayed = dev.download();
    MOE_ROUTER_REQUIRE_OK(check_invariants(c, replayed));
    MOE_ROUTER_REQUIRE_OK(check_against_host(c, replayed, run_host(c)));
  }
}
