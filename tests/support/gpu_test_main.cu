// Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
//
// Main of every GPU test: without a usable CUDA device it says so and exits with 77, which
// CTest reports as "skipped" (SKIP_RETURN_CODE); otherwise it runs the Catch2 session.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cuda_runtime_api.h>

#include <cstdio>

int main(int argc, char* argv[])
{
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess || devices == 0) {
    std::printf("SKIPPED: no CUDA device (%s)\n", status != cudaSuccess ? cudaGetErrorString(status) : "0 devices");
    return 77;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
    std::printf("device 0: %s, compute capability %d.%d, %d SMs\n", prop.name, prop.major, prop.minor,
                prop.multiProcessorCount);
  return Catch::Session().run(argc, argv);
}
