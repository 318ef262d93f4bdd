// Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
//
// Main of every GPU test: on a machine without a CUDA driver or without a device it says so and
// exits with 77, which CTest reports as "skipped" (SKIP_RETURN_CODE); otherwise it runs the
// Catch2 session. Any other failure to reach the device (a driver too old for this runtime, a
// device in a bad state) fails the test, so that a broken GPU machine does not pass as one
// without a GPU; and a failed session exits with 1 whatever Catch2 counted (it returns the
// number of failed assertions, which could be 77).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <cstdio>

namespace {

/// Whether the CUDA driver library can be loaded: CI's machines have none.
bool driver_installed()
{
  void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (driver == nullptr) return false;
  dlclose(driver);
  return true;
}

}  // namespace

int main(int argc, char* argv[])
{
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status == cudaSuccess && devices == 0) {
    std::printf("SKIPPED: no CUDA device (0 devices)\n");
    return 77;
  }
  if (status != cudaSuccess) {
    if (status == cudaErrorNoDevice || !driver_installed()) {
      std::printf("SKIPPED: no CUDA device (%s%s)\n", cudaGetErrorString(status),
                  driver_installed() ? "" : "; no CUDA driver library, libcuda.so.1");
      return 77;
    }
    std::printf("FAILED: a CUDA driver is installed but the device cannot be used: %s (%s)\n",
                cudaGetErrorName(status), cudaGetErrorString(status));
    return 1;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
    std::printf("device 0: %s, compute capability %d.%d, %d SMs\n", prop.name, prop.major, prop.minor,
                prop.multiProcessorCount);
  return Catch::Session().run(argc, argv) == 0 ? 0 : 1;
}
