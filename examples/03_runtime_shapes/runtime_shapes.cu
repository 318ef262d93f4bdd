// Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
//
// Example 03: shapes known only at run time, through the dispatch table.
//
// An engine learns the router's shape from the model's config file, at run time. The fused
// kernel is compiled per shape, so `moe_router::route<Table>` looks the call up in a table of
// compiled configurations (`default_route_table`: the model shapes of model_configs.cuh, fp32
// or bf16 logits, fp32 bias, int32 ids): a shape in the table runs the fused kernel, any other
// shape runs the runtime-shaped reference kernel, and the `route_kernel` out-parameter says
// which one ran. With `route_path::fused` a shape that is not compiled is an error
// (cudaErrorInvalidValue) whose message lists the compiled shapes.
//
// The example routes four calls and checks each against the host reference (ids equal except
// near ties of a few ulp, weights within 1e-5 relative):
//   a. DeepSeek-V3, fp32 logits and bias          -> in the table: fused
//   b. the same call with route_path::reference   -> reference (and bit for bit equal to a.)
//   c. E=96, G=1, K=4, softmax                    -> not compiled: reference
//   d. DeepSeek-V3 with a bf16 bias               -> not compiled (the table has fp32 bias): reference
// then shows the errors: route_path::fused on shape c, and a shape that breaks the contract.
// It prints PASSED or FAILED and returns 0 or 1.
//
// Without a CUDA device it shows the host side: which kernel each call would run
// (`default_route_table::contains`), the validation messages and the route_path::fused error
// (neither needs a GPU), and the host reference's rows; it returns 0 (1 if one of those host
// checks fails).

#include <moe_router/cuda_error.cuh>
#include <moe_router/dispatch.cuh>
#include <moe_router/error.hpp>
#include <moe_router/model_configs.cuh>
#include <moe_router/reference/host_reference.hpp>
#include <moe_router/types.hpp>
#include <moe_router/validate.hpp>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

using table = moe_router::default_route_table;

// ---- one routing call: its shape and options, its host inputs ----------------------------------

struct routing_case {
  const char* name;
  moe_router::route_params shape;  // shape and options; no pointers
  std::vector<float> logits;       // [T, E] fp32
  std::vector<float> bias;         // [E] fp32 values (stored as bf16 when shape.bias_type is bf16)
  std::vector<std::uint16_t> bias_bf16;
};

std::uint16_t to_bf16_bits(float f)
{
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float from_bf16_bits(std::uint16_t bits)
{
  const std::uint32_t u = static_cast<std::uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// Normal draws, deterministic (LCG + Box-Muller).
struct normal_source {
  std::uint64_t state;
  double uniform()
  {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (static_cast<double>(state >> 11) + 0.5) * 0x1.0p-53;
  }
  float next()
  {
    return static_cast<float>(std::sqrt(-2.0 * std::log(uniform())) * std::cos(6.283185307179586 * uniform()));
  }
};

routing_case make_case(const char* name, int E, int G, int TG, int K, moe_router::scoring_func scoring, bool with_bias,
                       moe_router::data_type bias_type, std::int64_t num_tokens, std::uint64_t seed)
{
  routing_case c;
  c.name = name;
  moe_router::route_params& p = c.shape;
  p.num_experts = E;
  p.num_groups = G;
  p.topk_group = TG;
  p.topk = K;
  p.scoring = scoring;
  p.group_score = moe_router::group_score_kind::top2_sum;
  p.logits_type = moe_router::data_type::f32;
  p.num_tokens = num_tokens;
  p.bias_type = bias_type;
  p.renormalize = true;
  p.ids_type = moe_router::index_type::i32;
  normal_source rng{seed};
  c.logits.resize(static_cast<std::size_t>(num_tokens) * E);
  for (float& x : c.logits) x = 2.0f * rng.next();
  if (with_bias) {
    c.bias.resize(static_cast<std::size_t>(E));
    for (float& b : c.bias) b = 0.05f * rng.next();
    if (bias_type == moe_router::data_type::bf16) {
      for (float& b : c.bias) {
        c.bias_bf16.push_back(to_bf16_bits(b));
        b = from_bf16_bits(c.bias_bf16.back());  // the value the kernels read
      }
    }
  }
  return c;
}

/// The case's params with the given pointers (host or device) for inputs and outputs.
moe_router::route_params with_pointers(const routing_case& c, const void* logits, const void* bias, float* weights,
                                       std::int32_t* ids)
{
  moe_router::route_params p = c.shape;
  p.logits = logits;
  p.bias = c.bias.empty() ? nullptr : bias;
  p.weights = weights;
  p.ids = ids;
  return p;
}

/// The host copy of the bias, fp32 or bf16 bits as the case says (null without a bias).
const void* host_bias(const routing_case& c)
{
  if (c.bias.empty()) return nullptr;
  return c.bias_bf16.empty() ? static_cast<const void*>(c.bias.data()) : c.bias_bf16.data();
}

struct outputs {
  std::vector<float> weights;
  std::vector<std::int32_t> ids;
};

const char* kernel_name(moe_router::route_kernel k)
{
  return k == moe_router::route_kernel::fused       ? "fused"
         : k == moe_router::route_kernel::reference ? "reference"
                                                    : "none";
}

void print_row(const char* who, const outputs& o, int slots, std::int64_t t)
{
  std::printf("    %-9s token %lld:", who, static_cast<long long>(t));
  for (int k = 0; k < slots; ++k)
    std::printf(" %d:%.4f", o.ids[static_cast<std::size_t>(t * slots + k)],
                static_cast<double>(o.weights[static_cast<std::size_t>(t * slots + k)]));
  std::printf("\n");
}

// ---- the host reference and the comparison ------------------------------------------------------

bool run_host(const routing_case& c, outputs& out)
{
  const std::size_t n = static_cast<std::size_t>(c.shape.num_tokens) * static_cast<std::size_t>(c.shape.slots());
  out.weights.assign(n, 0.0f);
  out.ids.assign(n, 0);
  return moe_router::host_route(with_pointers(c, c.logits.data(), host_bias(c), out.weights.data(), out.ids.data()));
}

/// Choice scores b[e] = s[e] + bias[e] of row t, in double precision.
std::vector<double> choice_scores(const routing_case& c, std::int64_t t)
{
  const int E = c.shape.num_experts;
  const float* x = &c.logits[static_cast<std::size_t>(t * E)];
  std::vector<double> b(static_cast<std::size_t>(E));
  if (c.shape.scoring == moe_router::scoring_func::softmax) {
    const double m = *std::max_element(x, x + E);
    double sum = 0.0;
    for (int e = 0; e < E; ++e) sum += std::exp(x[e] - m);
    for (int e = 0; e < E; ++e) b[static_cast<std::size_t>(e)] = std::exp(x[e] - m) / sum;
  } else {
    for (int e = 0; e < E; ++e) b[static_cast<std::size_t>(e)] = 1.0 / (1.0 + std::exp(-static_cast<double>(x[e])));
  }
  if (!c.bias.empty())
    for (int e = 0; e < E; ++e) b[static_cast<std::size_t>(e)] += c.bias[static_cast<std::size_t>(e)];
  return b;
}

bool near_tie(double a, double b) { return std::fabs(a - b) <= 2e-6 * std::max(std::fabs(a), std::fabs(b)); }

/// Row t's ids differ only where two choice scores (or the two group scores at the cut) are
/// within a few ulp, which the device's and the host's `expf` may order differently.
bool differs_by_near_tie(const routing_case& c, std::int64_t t, const std::int32_t* ids, const std::int32_t* host_ids)
{
  const int E = c.shape.num_experts, G = c.shape.num_groups, TG = c.shape.topk_group, K = c.shape.topk;
  const std::vector<double> b = choice_scores(c, t);
  bool slots_tie = true;
  for (int k = 0; k < K; ++k) {
    if (ids[k] < 0 || ids[k] >= E) return false;
    if (ids[k] != host_ids[k])
      slots_tie = slots_tie && near_tie(b[static_cast<std::size_t>(ids[k])], b[static_cast<std::size_t>(host_ids[k])]);
  }
  if (slots_tie || G == 1 || TG == G) return slots_tie;
  const int size = E / G;
  std::vector<double> group(static_cast<std::size_t>(G));
  for (int g = 0; g < G; ++g) {
    std::vector<double> m(b.begin() + g * size, b.begin() + (g + 1) * size);
    std::sort(m.begin(), m.end(), std::greater<double>());
    group[static_cast<std::size_t>(g)] = m[0] + m[1];
  }
  std::sort(group.begin(), group.end(), std::greater<double>());
  return near_tie(group[static_cast<std::size_t>(TG - 1)], group[static_cast<std::size_t>(TG)]);
}

/// Compare a device run with the host reference; prints a summary line, returns true if it passes.
bool compare_with_host(const routing_case& c, const outputs& device, const outputs& host)
{
  const int slots = c.shape.slots();
  std::int64_t mismatches = 0, near_ties = 0;
  double max_rel = 0.0;
  for (std::int64_t t = 0; t < c.shape.num_tokens; ++t) {
    const std::size_t row = static_cast<std::size_t>(t * slots);
    const bool same_ids = std::equal(device.ids.begin() + static_cast<std::ptrdiff_t>(row),
                                     device.ids.begin() + static_cast<std::ptrdiff_t>(row + slots),
                                     host.ids.begin() + static_cast<std::ptrdiff_t>(row));
    bool ok = true;
    if (same_ids) {
      for (int k = 0; k < slots; ++k) {
        const double w = device.weights[row + k], h = host.weights[row + k];
        const double rel = std::fabs(w - h) / std::max(std::fabs(h), 1e-30);
        max_rel = std::max(max_rel, rel);
        ok = ok && rel <= 1e-5;
      }
    } else {
      ok = differs_by_near_tie(c, t, &device.ids[row], &host.ids[row]);
      near_ties += ok;
    }
    if (!ok && ++mismatches <= 3) {
      std::printf("    mismatch at token %lld:\n", static_cast<long long>(t));
      print_row("device", device, slots, t);
      print_row("host", host, slots, t);
    }
  }
  std::printf(
      "    vs host reference: %lld rows, %lld near-tie rows, %lld mismatches, largest weight difference "
      "%.2g relative\n",
      static_cast<long long>(c.shape.num_tokens), static_cast<long long>(near_ties), static_cast<long long>(mismatches),
      max_rel);
  return mismatches == 0;
}

// ---- the device run -----------------------------------------------------------------------------

/// Route `c` on the device through the dispatch table with `path`; `ran` says which kernel ran.
cudaError_t run_device(const routing_case& c, moe_router::route_path path, moe_router::route_kernel& ran, outputs& out)
{
  const std::size_t n = static_cast<std::size_t>(c.shape.num_tokens) * static_cast<std::size_t>(c.shape.slots());
  const std::size_t bias_bytes = c.bias_bf16.empty() ? c.bias.size() * sizeof(float) : c.bias_bf16.size() * 2;
  float *d_logits = nullptr, *d_weights = nullptr;
  void* d_bias = nullptr;
  std::int32_t* d_ids = nullptr;
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d_logits, c.logits.size() * sizeof(float)));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d_bias, std::max<std::size_t>(bias_bytes, 4)));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d_weights, n * sizeof(float)));
  MOE_ROUTER_CUDA_TRY(cudaMalloc(&d_ids, n * sizeof(std::int32_t)));
  MOE_ROUTER_CUDA_TRY(cudaMemcpy(d_logits, c.logits.data(), c.logits.size() * sizeof(float), cudaMemcpyHostToDevice));
  if (bias_bytes > 0) MOE_ROUTER_CUDA_TRY(cudaMemcpy(d_bias, host_bias(c), bias_bytes, cudaMemcpyHostToDevice));

  // The call an engine makes: any shape, the kernel chosen at run time.
  MOE_ROUTER_CUDA_TRY(
      moe_router::route<table>(with_pointers(c, d_logits, d_bias, d_weights, d_ids), /*stream=*/0, path, &ran));

  out.weights.resize(n);
  out.ids.resize(n);
  MOE_ROUTER_CUDA_TRY(cudaMemcpy(out.weights.data(), d_weights, n * sizeof(float), cudaMemcpyDeviceToHost));
  MOE_ROUTER_CUDA_TRY(cudaMemcpy(out.ids.data(), d_ids, n * sizeof(std::int32_t), cudaMemcpyDeviceToHost));
  MOE_ROUTER_CUDA_TRY(cudaFree(d_logits));
  MOE_ROUTER_CUDA_TRY(cudaFree(d_bias));
  MOE_ROUTER_CUDA_TRY(cudaFree(d_weights));
  MOE_ROUTER_CUDA_TRY(cudaFree(d_ids));
  return cudaSuccess;
}

/// The compiled shapes of the table, one a line.
void print_table()
{
  std::vector<char> text(8192);
  table::describe(text.data(), text.size());
  std::printf("default_route_table: %d compiled configurations (E/G/TG/K scoring [group score] logits bias ids):\n",
              table::size);
  std::string all(text.data());
  for (std::size_t start = 0; start < all.size();) {
    const std::size_t end = std::min(all.find("; ", start), all.size());
    std::printf("    %s\n", all.substr(start, end - start).c_str());
    start = end + 2;
  }
}

}  // namespace

int main()
{
  using moe_router::data_type;
  using moe_router::route_kernel;
  using moe_router::route_path;
  using moe_router::scoring_func;
  const std::int64_t T = 512;
  std::vector<routing_case> cases;
  cases.push_back(make_case("a. DeepSeek-V3 (256/8/4/8 sigmoid), fp32 logits and bias", 256, 8, 4, 8,
                            scoring_func::sigmoid, true, data_type::f32, T, 1));
  cases.push_back(make_case("c. E=96 G=1 K=4 softmax, fp32 logits, no bias", 96, 1, 1, 4, scoring_func::softmax, false,
                            data_type::f32, T, 2));
  cases.push_back(
      make_case("d. DeepSeek-V3 with a bf16 bias", 256, 8, 4, 8, scoring_func::sigmoid, true, data_type::bf16, T, 3));
  const routing_case& compiled = cases[0];
  const routing_case& odd_shape = cases[1];

  print_table();

  // The host side: which kernel each call would run, and the host reference's rows.
  bool passed = true;
  std::vector<outputs> host(cases.size());
  std::printf("\nhost side (no GPU needed):\n");
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const routing_case& c = cases[i];
    // The lookup needs the bias pointer: with no bias, the bias type does not matter.
    const bool compiled_shape = table::contains(with_pointers(c, c.logits.data(), host_bias(c), nullptr, nullptr));
    std::printf("  %s\n    in the table: %s -> route_path::automatic runs the %s kernel\n", c.name,
                compiled_shape ? "yes" : "no", compiled_shape ? "fused" : "reference");
    passed = passed && compiled_shape == (i == 0);  // only call a. is compiled
    if (!run_host(c, host[i])) {
      std::printf("    host_route failed: %s\n", moe_router::last_error_message());
      passed = false;
      continue;
    }
    print_row("host", host[i], c.shape.slots(), 0);
  }

  // Errors are found before anything is launched, so they need no GPU either.
  std::printf("\nerrors:\n");
  {
    // route_path::fused on a shape that is not compiled: the message lists the compiled shapes
    // (the library's message may be cut to its buffer; print_table above has the whole list).
    outputs o{std::vector<float>(odd_shape.logits.size()), std::vector<std::int32_t>(odd_shape.logits.size())};
    const moe_router::route_params p =
        with_pointers(odd_shape, odd_shape.logits.data(), nullptr, o.weights.data(), o.ids.data());
    route_kernel ran = route_kernel::fused;
    const cudaError_t status = moe_router::route<table>(p, 0, route_path::fused, &ran);
    std::printf("  route_path::fused on E=96 G=1 K=4: %s, ran %s\n    \"%s\"\n", cudaGetErrorName(status),
                kernel_name(ran), moe_router::last_error_message());
    passed = passed && status == cudaErrorInvalidValue && ran == route_kernel::none;
  }
  {
    // A call that breaks the contract: more experts than the kept groups hold.
    moe_router::route_params p = compiled.shape;
    p.topk_group = 1;
    p.topk = 40;  // 1 group of 32 experts kept
    const bool valid = moe_router::validate_params(p);
    std::printf("  validate_params(E=256 G=8 TG=1 K=40): %s\n    \"%s\"\n", valid ? "valid" : "invalid",
                moe_router::last_error_message());
    passed = passed && !valid;
  }

  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("\nno CUDA device: showed the host side only\n%s\n", passed ? "PASSED" : "FAILED");
    return passed ? 0 : 1;
  }

  // The device: run each call through the table and check it.
  std::printf("\ndevice runs through moe_router::route<default_route_table>:\n");
  struct run_spec {
    std::size_t case_index;
    route_path path;
    route_kernel expected;
    const char* what;
  };
  const run_spec runs[] = {
      {0, route_path::automatic, route_kernel::fused, "a. DeepSeek-V3, automatic"},
      {0, route_path::reference, route_kernel::reference, "b. DeepSeek-V3, route_path::reference"},
      {1, route_path::automatic, route_kernel::reference, "c. E=96 G=1 K=4 softmax, automatic"},
      {2, route_path::automatic, route_kernel::reference, "d. DeepSeek-V3 with a bf16 bias, automatic"},
  };
  std::vector<outputs> results;
  for (const run_spec& r : runs) {
    const routing_case& c = cases[r.case_index];
    outputs o;
    route_kernel ran = route_kernel::none;
    const cudaError_t status = run_device(c, r.path, ran, o);
    std::printf("  %s: %s, ran the %s kernel (expected %s)\n", r.what, cudaGetErrorName(status), kernel_name(ran),
                kernel_name(r.expected));
    if (status != cudaSuccess) {
      passed = false;
      results.push_back(outputs{});
      continue;
    }
    print_row("device", o, c.shape.slots(), 0);
    passed = compare_with_host(c, o, host[r.case_index]) && passed;
    passed = passed && ran == r.expected;
    results.push_back(o);
  }
  // The fused and the reference kernel agree bit for bit (the contract), here on call a.
  const bool bitwise = !results[0].weights.empty() && results[0].weights.size() == results[1].weights.size() &&
                       std::memcmp(results[0].weights.data(), results[1].weights.data(),
                                   results[0].weights.size() * sizeof(float)) == 0 &&
                       results[0].ids == results[1].ids;
  std::printf("  a. fused and b. reference bit for bit equal: %s\n", bitwise ? "yes" : "NO");
  passed = passed && bitwise;
  std::printf("%s\n", passed ? "PASSED" : "FAILED");
  return passed ? 0 : 1;
}
