/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// The fused launcher's setup on more than one device. `route_fused` sets up each kernel once
// per device: the shared-memory attribute a block of more than 48 KiB needs applies to the
// current device only, and the occupancy it sizes the grid by is that device's. The shape here
// (512 experts, top-8, sigmoid, bf16 logits) has a tiled kernel of 56832 bytes a block, more
// than any compiled model shape, so it also covers that attribute on a single device. Each
// device routes after the ones before it, fused against the reference kernel, bit for bit.

#include "gpu/fused_test_common.cuh"

#include <moe_router/error.hpp>

#include <cuda_runtime_api.h>
#include <catch2/catch.hpp>

#include <cstdint>

namespace {

using namespace moe_router;
using namespace moe_router::test;

case_desc large_tile_desc(std::int64_t tokens, input_flavour flavour)
{
  case_desc d = config_desc<large_tile_config>("512 experts top-8 bf16");
  d.renormalize = true;
  d.scale_output = true;
  d.routed_scaling_factor = 2.5f;
  d.num_shared_slots = 1;
  d.num_tokens = tokens;
  d.flavour = flavour;
  return d;
}

/// On the current device: the fused kernel (forced to `lanes`, 0: by batch size) against the
/// reference kernel, bit for bit, and the invariants of its rows.
void check_on_current_device(const test_case& c, int lanes)
{
  INFO(c.describe() << "\ntoken_lanes " << lanes);
  launch_options options;
  options.token_lanes = lanes;
  const route_outputs fused = run_device(c, [&](const route_params& p, cudaStream_t stream) {
    return route_fused<large_tile_config>(p, stream, options);
  });
  const route_outputs reference =
    run_device(c, [](const route_params& p, cudaStream_t stream) { return route_reference(p, stream); });
  MOE_ROUTER_REQUIRE_OK(check_bitwise_equal(c, fused, reference, "fused", "reference"));
  MOE_ROUTER_REQUIRE_OK(check_invariants(c, fused));
}

/// Makes `device` current for the scope, then device 0 again.
struct device_scope {
  explicit device_scope(int device) { MOE_ROUTER_TEST_CUDA(cudaSetDevice(device)); }
  ~device_scope() { (void)cudaSetDevice(0); }
};

}  // namespace

TEST_CASE("a tiled kernel of more than 48 KiB of shared memory a block routes as the reference kernel",
          "[multi_device]")
{
  INFO("replay with " << replay_note());
  std::uint64_t index = 0;
  for (const std::int64_t tokens : {std::int64_t{1}, std::int64_t{33}, std::int64_t{3001}})
    for (const input_flavour flavour : {input_flavour::random, input_flavour::nasty}) {
      const test_case c = make_case(large_tile_desc(tokens, flavour), derive_seed(base_seed(), ++index));
      check_on_current_device(c, 8);
      check_on_current_device(c, 0);
    }
  // and the host reference agrees with the reference kernel on the same shape
  const test_case c = make_case(large_tile_desc(257, input_flavour::random), derive_seed(base_seed(), ++index));
  const route_outputs reference =
    run_device(c, [](const route_params& p, cudaStream_t stream) { return route_reference(p, stream); });
  MOE_ROUTER_REQUIRE_OK(check_against_host(c, reference, run_host(c)));
}

TEST_CASE("every device routes with the fused kernel after another device set it up", "[multi_device]")
{
  INFO("replay with " << replay_note());
  int devices = 0;
  MOE_ROUTER_TEST_CUDA(cudaGetDeviceCount(&devices));
  if (devices < 2)
    WARN("one device: the per-device setup is checked on device 0 only (the test above); run on two or more");
  // Device 0 first, so that a setup cached once for the process would be device 0's.
  for (int round = 0; round < 2; ++round)
    for (int device = 0; device < devices; ++device) {
      INFO("device " << device << ", round " << round);
      device_scope scope(device);
      const test_case c = make_case(large_tile_desc(2000 + 37 * device, input_flavour::nasty),
                                    derive_seed(base_seed(), 100 + static_cast<std::uint64_t>(device)));
      check_on_current_device(c, 8);
      check_on_current_device(c, 32);
    }
}
