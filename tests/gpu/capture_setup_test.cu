/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// The launchers' first call of a process made inside a stream capture. `route_fused` sets each
// kernel up on its first call on a device (the shared-memory attribute of a block of more than
// 48 KiB, the occupancy, the kernel's attributes), and with lazy loading that first call also
// loads the kernel. An engine may first reach a kernel while it captures a CUDA graph, and
// PyTorch's `torch.cuda.graph` captures in cudaStreamCaptureModeGlobal, the strictest mode, by
// default. Each kernel below is called for the first time in this process inside such a
// capture; the capture must stay valid, and the replayed graph must route as the reference
// kernel does outside any capture, bit for bit.

#include "gpu/fused_test_common.cuh"

#include <moe_router/dispatch.cuh>
#include <moe_router/error.hpp>
#include <moe_router/model_configs.cuh>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

namespace {

using namespace moe_router;
using namespace moe_router::test;

static_assert(fused_half_warp_available<deepseek_v3_config<>>() && fused_tiled_available<deepseek_v3_config<>>(),
              "the test forces DeepSeek-V3's half-warp and tiled kernels");

using entry_fn = cudaError_t (*)(const route_params&, cudaStream_t);

template <class Config>
case_desc desc_of(const char* label, std::int64_t tokens)
{
  case_desc d = config_desc<Config>(label);
  d.renormalize = true;
  d.scale_output = true;
  d.routed_scaling_factor = 2.5f;
  d.num_shared_slots = 1;
  d.has_num_valid = true;
  d.num_valid_tokens = static_cast<std::int32_t>(tokens - 5);
  d.num_tokens = tokens;
  d.flavour = input_flavour::nasty;
  return d;
}

cudaError_t table_entry(const route_params& p, cudaStream_t stream)
{
  route_kernel ran = route_kernel::none;
  const cudaError_t status = route<default_route_table>(p, stream, route_path::fused, &ran);
  return status == cudaSuccess && ran != route_kernel::fused ? cudaErrorUnknown : status;
}

/// `entry`'s first call, captured in global mode on a fresh stream, replayed twice over
/// poisoned outputs; each replay must equal the reference kernel's run outside the capture.
void check_first_call_captured(const test_case& c, entry_fn entry, const char* what)
{
  INFO(what << ": " << c.describe());
  device_case dev(c);
  cuda_stream stream;
  cuda_graph graph;
  MOE_ROUTER_TEST_CUDA(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal));
  const cudaError_t status = entry(dev.params(), stream.get());
  const std::string reason = last_error_message();
  const cudaError_t ended = cudaStreamEndCapture(stream.get(), &graph.graph);
  INFO("the call while capturing returned " << cudaGetErrorName(status) << ": " << reason
                                            << "; cudaStreamEndCapture returned " << cudaGetErrorName(ended));
  REQUIRE(status == cudaSuccess);
  REQUIRE(ended == cudaSuccess);
  MOE_ROUTER_TEST_CUDA(cudaGetLastError());
  cuda_graph_exec exec;
  MOE_ROUTER_TEST_CUDA(cudaGraphInstantiate(&exec.exec, graph.graph, 0));

  const route_outputs reference = run_device(c, reference_entry);
  for (int replay = 0; replay < 2; ++replay) {
    INFO("replay " << replay);
    dev.poison();
    MOE_ROUTER_TEST_CUDA(cudaGraphLaunch(exec.exec, stream.get()));
    stream.synchronize();
    MOE_ROUTER_TEST_CUDA(cudaGetLastError());
    const route_outputs replayed = dev.download();
    MOE_ROUTER_REQUIRE_OK(check_bitwise_equal(c, replayed, reference, "captured first call", "reference"));
    MOE_ROUTER_REQUIRE_OK(check_invariants(c, replayed));
  }
}

}  // namespace

TEST_CASE("each launcher's first call of the process may be inside a global-mode stream capture", "[capture]")
{
  INFO("replay with " << replay_note());
  using deepseek_v3 = deepseek_v3_config<>;
  const test_case ds = make_case(desc_of<deepseek_v3>("DeepSeek-V3 fp32", 1003), derive_seed(base_seed(), 1));
  const test_case large =
    make_case(desc_of<large_tile_config>("512 experts top-8 bf16", 2001), derive_seed(base_seed(), 2));
  // The reference kernel first: its first call here is inside the capture too.
  check_first_call_captured(ds, reference_entry, "route_reference");
  check_first_call_captured(ds, fused_entry<deepseek_v3, 32>, "route_fused, warp kernel");
  check_first_call_captured(ds, fused_entry<deepseek_v3, 16>, "route_fused, half-warp kernel");
  check_first_call_captured(ds, fused_entry<deepseek_v3, 8>, "route_fused, tiled kernel");
  check_first_call_captured(large, fused_entry<large_tile_config, 8>,
                            "route_fused, tiled kernel of more than 48 KiB a block");
  // Kimi-K2 with bf16 logits, an entry of the default table that nothing above has touched
  const test_case kimi = make_case(desc_of<kimi_k2_config<__nv_bfloat16>>("Kimi-K2 bf16", 517),
                                   derive_seed(base_seed(), 3));
  check_first_call_captured(kimi, table_entry, "route<default_route_table>, Kimi-K2 bf16");
}

TEST_CASE("after cudaDeviceReset, a tiled kernel of more than 48 KiB a block still launches", "[capture]")
{
  // `route_fused` sets a kernel up on its first call on a device only: the permission to use
  // more than 48 KiB of shared memory a block, and the occupancy it keeps. A reset replaces the
  // context, and the runtime must give the new one the permission again (CUDA 13.0 does; were
  // it lost, the launch would fail with cudaErrorInvalidValue). Last in the file: the reset
  // frees every allocation of the process.
  INFO("replay with " << replay_note());
  const test_case large =
    make_case(desc_of<large_tile_config>("512 experts top-8 bf16", 2001), derive_seed(base_seed(), 4));
  check_fused_case<large_tile_config>(large);
  MOE_ROUTER_TEST_CUDA(cudaDeviceReset());
  check_fused_case<large_tile_config>(large);
}
