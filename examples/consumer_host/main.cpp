// Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
//
// Routes one DeepSeek-V3 token (256 experts in 8 groups, 4 groups kept, top-8, sigmoid scores
// with a correction bias, renormalized) with the host reference, built by a plain C++ compiler,
// and checks the row: 8 distinct experts from at most 4 groups, weights that sum to 1. Then a
// bad shape must be refused with a reason. Prints PASSED or FAILED; exits 0 or 1.
#include <moe_router/error.hpp>
#include <moe_router/reference/host_reference.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <set>
#include <vector>

int main()
{
  constexpr int num_experts = 256, topk = 8;
  std::vector<float> logits(num_experts), bias(num_experts), weights(topk);
  std::vector<int> ids(topk);
  std::uint32_t state = 2026;
  for (int e = 0; e < num_experts; ++e) {
    state = state * 1664525u + 1013904223u;
    logits[e] = static_cast<float>(state >> 8) / 2097152.0f - 4.0f;  // [-4, 4)
    bias[e] = 0.01f * static_cast<float>(e % 7);
  }
  moe_router::route_params p;
  p.num_experts = num_experts;
  p.num_groups = 8;
  p.topk_group = 4;
  p.topk = topk;
  p.logits = logits.data();
  p.num_tokens = 1;
  p.bias = bias.data();
  p.renormalize = true;
  p.weights = weights.data();
  p.ids = ids.data();
  if (!moe_router::host_route(p)) {
    std::printf("FAILED: host_route refused a valid batch: %s\n", moe_router::last_error_message());
    return 1;
  }
  std::set<int> experts(ids.begin(), ids.end()), groups;
  float sum = 0.0f;
  for (int k = 0; k < topk; ++k) {
    groups.insert(ids[k] / 32);
    sum += weights[k];
  }
  const bool row_ok = experts.size() == topk && *experts.begin() >= 0 && *experts.rbegin() < num_experts &&
                      groups.size() <= 4 && std::fabs(sum - 1.0f) < 1e-5f;
  p.topk = 0;  // a bad shape: refused, with the reason
  const bool refused = !moe_router::host_route(p) && moe_router::last_error_message()[0] != '\0';
  std::printf("%s: experts %d %d %d %d %d %d %d %d, weights sum to %.6f; topk = 0 refused: %s\n",
              row_ok && refused ? "PASSED" : "FAILED", ids[0], ids[1], ids[2], ids[3], ids[4], ids[5], ids[6], ids[7],
              sum, refused ? moe_router::last_error_message() : "no");
  return row_ok && refused ? 0 : 1;
}
