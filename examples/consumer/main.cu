// Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
//
// Routes a small DeepSeek-V3 batch (256 experts in 8 groups, 4 groups kept, top-8, sigmoid
// scores with a correction bias, renormalized) with the host reference and, when a CUDA device
// is present, with the reference kernel, and checks that both give the same experts and the
// same weights (within 1e-5 relative). Prints PASSED or FAILED; exits 0 or 1.
#include <moe_router/reference/host_reference.hpp>
#include <moe_router/reference/reference_kernel.cuh>

#include <cuda_runtime_api.h>

#include <bitset>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace {

constexpr int num_tokens = 32, num_experts = 256, num_groups = 8, topk_group = 4, topk = 8;

/// A deterministic value in [-1, 1).
float next_uniform(std::uint32_t& state)
{
  state = state * 1664525u + 1013904223u;
  return static_cast<float>(state >> 8) / 8388608.0f - 1.0f;
}

moe_router::route_params deepseek_v3_params(const float* logits, const float* bias, float* weights, int* ids)
{
  moe_router::route_params p;
  p.num_experts = num_experts;
  p.num_groups = num_groups;
  p.topk_group = topk_group;
  p.topk = topk;
  p.scoring = moe_router::scoring_func::sigmoid;
  p.group_score = moe_router::group_score_kind::top2_sum;
  p.logits = logits;
  p.num_tokens = num_tokens;
  p.bias = bias;
  p.renormalize = true;
  p.weights = weights;
  p.ids = ids;
  return p;
}

/// Route on the device with the reference kernel; copies the results into `weights` and `ids`.
cudaError_t route_on_device(const std::vector<float>& logits, const std::vector<float>& bias,
                            std::vector<float>& weights, std::vector<int>& ids)
{
  float *d_logits = nullptr, *d_bias = nullptr, *d_weights = nullptr;
  int* d_ids = nullptr;
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d_logits, logits.size() * sizeof(float)));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d_bias, bias.size() * sizeof(float)));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d_weights, weights.size() * sizeof(float)));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d_ids, ids.size() * sizeof(int)));
  MOE_ROUTER_CUDA_TRY(cudaMemcpy(d_logits, logits.data(), logits.size() * sizeof(float), cudaMemcpyHostToDevice));
  MOE_ROUTER_CUDA_TRY(cudaMemcpy(d_bias, bias.data(), bias.size() * sizeof(float), cudaMemcpyHostToDevice));
  MOE_ROUTER_CUDA_TRY(moe_router::route_reference(deepseek_v3_params(d_logits, d_bias, d_weights, d_ids)));
  MOE_ROUTER_CUDA_TRY(cudaMemcpy(weights.data(), d_weights, weights.size() * sizeof(float), cudaMemcpyDeviceToHost));
  MOE_ROUTER_CUDA_TRY(cudaMemcpy(ids.data(), d_ids, ids.size() * sizeof(int), cudaMemcpyDeviceToHost));
  MOE_ROUTER_CUDA_TRY(cudaFree(d_logits));
  MOE_ROUTER_CUDA_TRY(cudaFree(d_bias));
  MOE_ROUTER_CUDA_TRY(cudaFree(d_weights));
  MOE_ROUTER_CUDA_TRY(cudaFree(d_ids));
  return cudaSuccess;
}

}  // namespace

int main()
{
  std::uint32_t state = 2026;
  std::vector<float> logits(num_tokens * num_experts), bias(num_experts);
  for (float& x : logits) x = 4.0f * next_uniform(state);
  for (float& b : bias) b = 0.1f * next_uniform(state);

  std::vector<float> host_weights(num_tokens * topk);
  std::vector<int> host_ids(num_tokens * topk);
  if (!moe_router::host_route(deepseek_v3_params(logits.data(), bias.data(), host_weights.data(), host_ids.data()))) {
    std::printf("host_route failed: %s\nFAILED\n", moe_router::last_error_message());
    return 1;
  }
  std::printf("token 0: experts");
  for (int k = 0; k < topk; ++k) std::printf(" %d (%.4f)", host_ids[k], host_weights[k]);
  std::printf("\n");

  // Each row must hold topk distinct experts from at most topk_group groups, weights summing to 1.
  bool ok = true;
  for (int t = 0; t < num_tokens && ok; ++t) {
    float sum = 0.0f;
    std::bitset<num_groups> groups_used;
    for (int k = 0; k < topk; ++k) {
      const int id = host_ids[t * topk + k];
      ok = ok && id >= 0 && id < num_experts;
      for (int j = 0; j < k; ++j) ok = ok && host_ids[t * topk + j] != id;
      if (id >= 0 && id < num_experts) groups_used.set(id / (num_experts / num_groups));
      sum += host_weights[t * topk + k];
    }
    ok = ok && static_cast<int>(groups_used.count()) <= topk_group && std::fabs(sum - 1.0f) < 1e-5f;
  }
  if (!ok) {
    std::printf("the host reference broke the routing contract\nFAILED\n");
    return 1;
  }

  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: checked the host reference only\nPASSED\n");
    return 0;
  }

  std::vector<float> device_weights(host_weights.size());
  std::vector<int> device_ids(host_ids.size());
  if (route_on_device(logits, bias, device_weights, device_ids) != cudaSuccess) {
    std::printf("FAILED\n");
    return 1;
  }
  int mismatches = 0;
  for (std::size_t i = 0; i < host_ids.size(); ++i) {
    const float tolerance = 1e-5f * std::fabs(host_weights[i]);
    if (device_ids[i] != host_ids[i] || std::fabs(device_weights[i] - host_weights[i]) > tolerance) {
      if (++mismatches <= 5)
        std::printf("token %zu slot %zu: device %d (%.8g), host %d (%.8g)\n", i / topk, i % topk, device_ids[i],
                    device_weights[i], host_ids[i], host_weights[i]);
    }
  }
  std::printf("device and host agree on %zu of %zu slots\n%s\n", host_ids.size() - mismatches, host_ids.size(),
              mismatches == 0 ? "PASSED" : "FAILED");
  return mismatches == 0 ? 0 : 1;
}
