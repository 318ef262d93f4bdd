// Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
//
// Example 01: route a batch for DeepSeek-V3 with the fused kernel.
//
// DeepSeek-V3 (and R1, V3.1) routes each token to 8 of 256 experts: sigmoid scores, plus a
// score correction bias used only to choose; the 256 experts form 8 groups of 32, each group
// is scored by the sum of its two best choice scores and the 4 best groups are kept; the 8
// best experts of those groups are routed, with weights taken from the scores without the
// bias. This example uses the options of an engine that fuses the shared expert into the
// routed ones and applies the routed scaling factor inside the MoE layer:
//
//   renormalize = true, scale_output = true, routed_scaling_factor = 2.5,
//   num_shared_slots = 1 (a 9th slot: the shared expert, id 256, weight sum(w) / 2.5 = 1.0)
//
// It routes 4096 tokens of bf16 logits with an fp32 bias through
// `moe_router::route_fused<moe_router::deepseek_v3_config<__nv_bfloat16>>`, copies the results
// back and checks them against the host reference `moe_router::host_route` on the same batch:
// the ids must be equal (except where two choice scores differ by a few ulp, since the device's
// and the host's `expf` may round differently: such rows are counted and printed, not failed)
// and the weights must agree within 1e-5 relative. It prints a few rows, then PASSED or FAILED,
// and returns 0 or 1.
//
// Without a CUDA device it says so, runs the host reference alone on the same batch, checks
// what must hold on every row and prints the same rows.
//
//   build/examples/route_deepseek_v3_example [num_tokens]

#include <moe_router/cuda_error.cuh>
#include <moe_router/error.hpp>
#include <moe_router/model_configs.cuh>
#include <moe_router/reference/host_reference.hpp>
#include <moe_router/route.cuh>
#include <moe_router/types.hpp>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

// The compiled configuration: DeepSeek-V3's shape with bf16 logits, fp32 bias, int32 ids.
using config = moe_router::deepseek_v3_config<__nv_bfloat16, float, std::int32_t>;

constexpr int num_experts = config::num_experts;  // 256
constexpr int num_groups = config::num_groups;    // 8
constexpr int topk_group = config::topk_group;    // 4
constexpr int topk = config::topk;                // 8
constexpr int slots = topk + 1;                   // 8 routed experts and the shared slot
constexpr float routed_scaling_factor = 2.5f;

// ---- inputs ---------------------------------------------------------------------------------

/// float -> bfloat16 bits, round to nearest even (the inputs below are finite).
std::uint16_t to_bf16_bits(float f)
{
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/// bfloat16 bits -> float (exact).
float from_bf16_bits(std::uint16_t bits)
{
  const std::uint32_t u = static_cast<std::uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// A deterministic draw from a standard normal distribution (xorshift + Box-Muller).
struct normal_source {
  std::uint64_t state;
  double uniform()
  {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (static_cast<double>(state >> 11) + 0.5) * 0x1.0p-53;  // (0, 1)
  }
  float next()
  {
    return static_cast<float>(std::sqrt(-2.0 * std::log(uniform())) * std::cos(6.283185307179586 * uniform()));
  }
};

/// The batch: router logits [T, 256] in bf16 (as a router GEMM in bf16 leaves them) and the
/// fp32 score correction bias [256].
struct batch {
  std::int64_t num_tokens;
  std::vector<std::uint16_t> logits;  // bf16 bits
  std::vector<float> bias;
};

batch make_batch(std::int64_t num_tokens)
{
  batch b{num_tokens, std::vector<std::uint16_t>(static_cast<std::size_t>(num_tokens) * num_experts),
          std::vector<float>(num_experts)};
  normal_source rng{0x9e3779b97f4a7c15ull};
  for (std::uint16_t& x : b.logits) x = to_bf16_bits(2.0f * rng.next());
  for (float& v : b.bias) v = 0.05f * rng.next();
  return b;
}

/// The call: the same description for the device (device pointers) and the host reference
/// (host pointers).
moe_router::route_params make_params(const batch& b, const void* logits, const float* bias, float* weights,
                                     std::int32_t* ids)
{
  moe_router::route_params p;
  p.num_experts = num_experts;
  p.num_groups = num_groups;
  p.topk_group = topk_group;
  p.topk = topk;
  p.scoring = moe_router::scoring_func::sigmoid;
  p.group_score = moe_router::group_score_kind::top2_sum;
  p.logits = logits;
  p.logits_type = moe_router::data_type::bf16;
  p.num_tokens = b.num_tokens;
  p.bias = bias;
  p.bias_type = moe_router::data_type::f32;
  p.renormalize = true;
  p.scale_output = true;
  p.routed_scaling_factor = routed_scaling_factor;
  p.num_shared_slots = 1;
  p.num_shared_experts = 1;
  p.weights = weights;
  p.ids = ids;
  p.ids_type = moe_router::index_type::i32;
  return p;
}

// ---- checks ---------------------------------------------------------------------------------

/// Choice scores b[e] = sigmoid(x[e]) + bias[e] of row t, in double precision.
std::vector<double> choice_scores(const batch& b, std::int64_t t)
{
  std::vector<double> choice(num_experts);
  for (int e = 0; e < num_experts; ++e) {
    const double x = from_bf16_bits(b.logits[static_cast<std::size_t>(t * num_experts + e)]);
    choice[static_cast<std::size_t>(e)] = 1.0 / (1.0 + std::exp(-x)) + b.bias[static_cast<std::size_t>(e)];
  }
  return choice;
}

/// Two values that fp32 arithmetic with a differently rounded `expf` may put in either order.
bool near_tie(double a, double b) { return std::fabs(a - b) <= 2e-6 * std::max(std::fabs(a), std::fabs(b)); }

/// Does row t of the device's ids differ from the host's only by near ties? Either each slot's
/// two experts have nearly equal choice scores, or the group cut itself is a near tie (the
/// TG-th and (TG+1)-th group scores), which can swap a whole group.
bool differs_by_near_tie(const batch& b, std::int64_t t, const std::int32_t* device_ids, const std::int32_t* host_ids)
{
  const std::vector<double> choice = choice_scores(b, t);
  bool slots_tie = true;
  for (int k = 0; k < topk; ++k) {
    const int d = device_ids[k], h = host_ids[k];
    if (d < 0 || d >= num_experts) return false;
    if (d != h)
      slots_tie = slots_tie && near_tie(choice[static_cast<std::size_t>(d)], choice[static_cast<std::size_t>(h)]);
  }
  if (slots_tie) return true;
  constexpr int group_size = num_experts / num_groups;
  std::vector<double> group_score(num_groups);
  for (int g = 0; g < num_groups; ++g) {
    std::vector<double> members(choice.begin() + g * group_size, choice.begin() + (g + 1) * group_size);
    std::partial_sort(members.begin(), members.begin() + 2, members.end(), std::greater<double>());
    group_score[static_cast<std::size_t>(g)] = members[0] + members[1];
  }
  std::sort(group_score.begin(), group_score.end(), std::greater<double>());
  return near_tie(group_score[topk_group - 1], group_score[topk_group]);
}

/// What must hold on every row: distinct ids in [0, 256) from at most 4 groups, routed weights
/// summing to the scaling factor (renormalized, then scaled), shared slot id 256, weight 1.
bool row_is_well_formed(const float* w, const std::int32_t* ids)
{
  float sum = 0.0f;
  unsigned groups = 0;
  for (int k = 0; k < topk; ++k) {
    if (ids[k] < 0 || ids[k] >= num_experts || !(w[k] >= 0.0f)) return false;
    for (int j = 0; j < k; ++j)
      if (ids[j] == ids[k]) return false;
    groups |= 1u << (ids[k] / (num_experts / num_groups));
    sum += w[k];
  }
  int kept = 0;
  for (int g = 0; g < num_groups; ++g) kept += (groups >> g) & 1u;
  return kept <= topk_group && std::fabs(sum - routed_scaling_factor) <= 1e-5f * routed_scaling_factor &&
         ids[topk] == num_experts && std::fabs(w[topk] - 1.0f) <= 1e-5f;
}

void print_row(const char* who, std::int64_t t, const float* w, const std::int32_t* ids)
{
  std::printf("  %-6s token %5lld:", who, static_cast<long long>(t));
  for (int k = 0; k < slots; ++k) std::printf(" %3d:%.4f", ids[k], static_cast<double>(w[k]));
  std::printf("\n");
}

// ---- the device run -------------------------------------------------------------------------

/// Route `b` on the device with the fused kernel; the results land in `weights` and `ids`.
cudaError_t route_on_device(const batch& b, std::vector<float>& weights, std::vector<std::int32_t>& ids)
{
  const std::size_t logits_bytes = b.logits.size() * sizeof(std::uint16_t);
  const std::size_t out_count = static_cast<std::size_t>(b.num_tokens) * slots;
  __nv_bfloat16* d_logits = nullptr;
  float *d_bias = nullptr, *d_weights = nullptr;
  std::int32_t* d_ids = nullptr;
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d_logits, logits_bytes));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d_bias, num_experts * sizeof(float)));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d_weights, out_count * sizeof(float)));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d_ids, out_count * sizeof(std::int32_t)));
  MOE_ROUTER_CUDA_TRY(cudaMemcpy(d_logits, b.logits.data(), logits_bytes, cudaMemcpyHostToDevice));
  MOE_ROUTER_CUDA_TRY(cudaMemcpy(d_bias, b.bias.data(), num_experts * sizeof(float), cudaMemcpyHostToDevice));
  cudaStream_t stream;
  MOE_ROUTER_CUDA_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));

  const moe_router::route_params p = make_params(b, d_logits, d_bias, d_weights, d_ids);
  // The routing call: validates `p` against the contract and the compiled shape, then launches.
  MOE_ROUTER_CUDA_TRY(moe_router::route_fused<config>(p, stream));
  MOE_ROUTER_CUDA_TRY(cudaStreamSynchronize(stream));

  // How long one call takes (median of 51 launches, each timed with events).
  cudaEvent_t start, stop;
  MOE_ROUTER_CUDA_TRY(cudaEventCreate(&start));
  MOE_ROUTER_CUDA_TRY(cudaEventCreate(&stop));
  std::vector<float> times;
  for (int i = 0; i < 51; ++i) {
    MOE_ROUTER_CUDA_TRY(cudaEventRecord(start, stream));
    MOE_ROUTER_CUDA_TRY(moe_router::route_fused<config>(p, stream));
    MOE_ROUTER_CUDA_TRY(cudaEventRecord(stop, stream));
    MOE_ROUTER_CUDA_TRY(cudaEventSynchronize(stop));
    float ms = 0.0f;
    MOE_ROUTER_CUDA_TRY(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms);
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  std::printf("fused kernel: %lld tokens in %.1f us (median of %zu launches, event timing)\n",
              static_cast<long long>(b.num_tokens), 1e3 * static_cast<double>(times[times.size() / 2]), times.size());

  weights.resize(out_count);
  ids.resize(out_count);
  MOE_ROUTER_CUDA_TRY(cudaMemcpy(weights.data(), d_weights, out_count * sizeof(float), cudaMemcpyDeviceToHost));
  MOE_ROUTER_CUDA_TRY(cudaMemcpy(ids.data(), d_ids, out_count * sizeof(std::int32_t), cudaMemcpyDeviceToHost));
  MOE_ROUTER_CUDA_TRY(cudaEventDestroy(start));
  MOE_ROUTER_CUDA_TRY(cudaEventDestroy(stop));
  MOE_ROUTER_CUDA_TRY(cudaStreamDestroy(stream));
  MOE_ROUTER_CUDA_TRY(cudaFree(d_logits));
  MOE_ROUTER_CUDA_TRY(cudaFree(d_bias));
  MOE_ROUTER_CUDA_TRY(cudaFree(d_weights));
  MOE_ROUTER_CUDA_TRY(cudaFree(d_ids));
  return cudaSuccess;
}

}  // namespace

int main(int argc, char** argv)
{
  const std::int64_t num_tokens = argc > 1 ? std::atoll(argv[1]) : 4096;
  if (num_tokens < 1) {
    std::fprintf(stderr, "usage: %s [num_tokens >= 1]\n", argv[0]);
    return 2;
  }
  std::printf(
      "DeepSeek-V3 routing: %lld tokens, E=%d G=%d TG=%d K=%d, sigmoid + bias, bf16 logits, fp32 bias,\n"
      "renormalize, scale_output (factor %.1f), one shared slot\n",
      static_cast<long long>(num_tokens), num_experts, num_groups, topk_group, topk,
      static_cast<double>(routed_scaling_factor));
  const batch b = make_batch(num_tokens);

  // The host reference on the same batch (plain C++, no GPU needed).
  const std::size_t out_count = static_cast<std::size_t>(num_tokens) * slots;
  std::vector<float> host_weights(out_count);
  std::vector<std::int32_t> host_ids(out_count);
  if (!moe_router::host_route(make_params(b, b.logits.data(), b.bias.data(), host_weights.data(), host_ids.data()))) {
    std::printf("host_route failed: %s\nFAILED\n", moe_router::last_error_message());
    return 1;
  }
  for (std::int64_t t = 0; t < num_tokens; ++t) {
    if (!row_is_well_formed(&host_weights[static_cast<std::size_t>(t * slots)],
                            &host_ids[static_cast<std::size_t>(t * slots)])) {
      std::printf("the host reference broke the routing contract at token %lld\nFAILED\n", static_cast<long long>(t));
      return 1;
    }
  }
  const std::int64_t shown[] = {0, 1, 2, num_tokens - 1};

  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: running the host reference only\n");
    std::printf("rows (expert:weight, the last slot is the shared expert):\n");
    for (std::int64_t t : shown)
      if (t >= 0 && t < num_tokens)
        print_row("host", t, &host_weights[static_cast<std::size_t>(t * slots)],
                  &host_ids[static_cast<std::size_t>(t * slots)]);
    std::printf(
        "every host row is well formed (%lld rows)\nPASSED (host reference only: no GPU to run the fused kernel)\n",
        static_cast<long long>(num_tokens));
    return 0;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) std::printf("device: %s\n", prop.name);

  std::vector<float> weights;
  std::vector<std::int32_t> ids;
  if (route_on_device(b, weights, ids) != cudaSuccess) {
    std::printf("FAILED\n");
    return 1;
  }

  std::printf("rows (expert:weight, the last slot is the shared expert):\n");
  for (std::int64_t t : shown) {
    if (t < 0 || t >= num_tokens) continue;
    print_row("fused", t, &weights[static_cast<std::size_t>(t * slots)], &ids[static_cast<std::size_t>(t * slots)]);
    print_row("host", t, &host_weights[static_cast<std::size_t>(t * slots)],
              &host_ids[static_cast<std::size_t>(t * slots)]);
  }

  std::int64_t bad_rows = 0, near_tie_rows = 0;
  double max_rel = 0.0;
  for (std::int64_t t = 0; t < num_tokens; ++t) {
    const std::size_t row = static_cast<std::size_t>(t * slots);
    const float* w = &weights[row];
    const float* hw = &host_weights[row];
    const std::int32_t* id = &ids[row];
    const std::int32_t* hid = &host_ids[row];
    bool same_ids = true;
    for (int k = 0; k < slots; ++k) same_ids = same_ids && id[k] == hid[k];
    bool ok = row_is_well_formed(w, id);
    if (ok && same_ids) {
      for (int k = 0; k < slots; ++k) {
        const double rel =
            std::fabs(static_cast<double>(w[k]) - hw[k]) / std::max(std::fabs(static_cast<double>(hw[k])), 1e-30);
        max_rel = std::max(max_rel, rel);
        ok = ok && rel <= 1e-5;
      }
    } else if (ok) {
      ok = id[topk] == hid[topk] && differs_by_near_tie(b, t, id, hid);
      if (ok && ++near_tie_rows <= 3) {
        std::printf("near tie (accepted) at token %lld:\n", static_cast<long long>(t));
        print_row("fused", t, w, id);
        print_row("host", t, hw, hid);
      }
    }
    if (!ok && ++bad_rows <= 5) {
      std::printf("mismatch at token %lld:\n", static_cast<long long>(t));
      print_row("fused", t, w, id);
      print_row("host", t, hw, hid);
    }
  }
  std::printf(
      "fused vs host reference: %lld of %lld rows identical in ids, %lld near-tie rows, %lld mismatches; "
      "largest weight difference %.2g relative\n",
      static_cast<long long>(num_tokens - bad_rows - near_tie_rows), static_cast<long long>(num_tokens),
      static_cast<long long>(near_tie_rows), static_cast<long long>(bad_rows), max_rel);
  std::printf("%s\n", bad_rows == 0 ? "PASSED" : "FAILED");
  return bad_rows == 0 ? 0 : 1;
}
