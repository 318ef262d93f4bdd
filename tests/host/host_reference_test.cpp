/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// host_route against hand-computed rows, against the rules of docs/semantics.md (ties, NaN,
// infinities, padding, shared slot, options), and against a brute-force router written here from
// the contract alone (double precision, std::sort) on the model shapes of the contract.

#include "host_test_util.hpp"

#include <moe_router/numeric.hpp>
#include <moe_router/reference/host_reference.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using namespace moe_router;
using namespace moe_router_test;

namespace {

using ids_t = std::vector<std::int64_t>;

double sigmoid_d(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double sqrtsoftplus_d(double x) { return std::sqrt(x > 30.0 ? x : std::log1p(std::exp(x))); }

// ---- the brute-force router --------------------------------------------------------------------

struct brute_options {
  int E, G, TG, K;
  scoring_func scoring;
  group_score_kind group_score;
  bool renormalize, scale_output;
  double factor;
  int shared_slots, shared_experts;
};

struct brute_result {
  ids_t ids;                 // K routed ids then the shared id
  std::vector<double> w;     // their weights
  double margin = HUGE_VAL;  // smallest relative gap between two different values that decide
};

double relative_gap(double a, double b)
{
  if (a == b) return HUGE_VAL;  // an exact tie is decided by the index, the same way everywhere
  return std::fabs(a - b) / std::max(std::fabs(a), std::fabs(b));
}

/// `indices` sorted by value descending, lower index first on equal values (no NaN here).
std::vector<int> sort_desc(std::vector<int> indices, const std::vector<double>& value)
{
  std::sort(indices.begin(), indices.end(),
            [&](int a, int b) { return value[a] != value[b] ? value[a] > value[b] : a < b; });
  return indices;
}

brute_result brute_route(const brute_options& o, const std::vector<double>& x, const std::vector<double>& bias,
                         std::int64_t t)
{
  const int E = o.E, group_size = o.E / o.G;
  std::vector<double> s(E), b(E);
  if (o.scoring == scoring_func::softmax) {
    const double m = *std::max_element(x.begin(), x.end());
    double sum = 0;
    for (int e = 0; e < E; ++e) sum += std::exp(x[e] - m);
    for (int e = 0; e < E; ++e) s[e] = std::exp(x[e] - m) / sum;
  } else {
    for (int e = 0; e < E; ++e) s[e] = o.scoring == scoring_func::sigmoid ? sigmoid_d(x[e]) : sqrtsoftplus_d(x[e]);
  }
  for (int e = 0; e < E; ++e) b[e] = s[e] + (bias.empty() ? 0.0 : bias[e]);

  brute_result r;
  std::vector<int> candidates;
  if (o.G > 1) {
    std::vector<double> group_score(o.G);
    for (int g = 0; g < o.G; ++g) {
      std::vector<double> members(b.begin() + g * group_size, b.begin() + (g + 1) * group_size);
      std::sort(members.begin(), members.end(), std::greater<double>());
      group_score[g] = o.group_score == group_score_kind::top2_sum ? members[0] + members[1] : members[0];
    }
    std::vector<int> groups(o.G);
    std::iota(groups.begin(), groups.end(), 0);
    groups = sort_desc(groups, group_score);
    if (o.TG < o.G) r.margin = relative_gap(group_score[groups[o.TG - 1]], group_score[groups[o.TG]]);
    for (int i = 0; i < o.TG; ++i)
      for (int e = groups[i] * group_size; e < (groups[i] + 1) * group_size; ++e) candidates.push_back(e);
  } else {
    candidates.resize(E);
    std::iota(candidates.begin(), candidates.end(), 0);
  }
  const std::vector<int> ranked = sort_desc(candidates, b);
  for (int k = 0; k < o.K && k + 1 < static_cast<int>(ranked.size()); ++k)
    r.margin = std::min(r.margin, relative_gap(b[ranked[k]], b[ranked[k + 1]]));

  for (int k = 0; k < o.K; ++k) {
    r.ids.push_back(ranked[k]);
    r.w.push_back(s[ranked[k]]);
  }
  double sum = 0;
  for (double w : r.w) sum += w;
  if (o.renormalize)
    for (double& w : r.w) w /= (sum == 0 ? 1.0 : sum);
  if (o.scale_output)
    for (double& w : r.w) w *= o.factor;
  if (o.shared_slots == 1) {
    double routed_sum = 0;
    for (double w : r.w) routed_sum += w;
    r.ids.push_back(E + t % o.shared_experts);
    r.w.push_back(routed_sum / o.factor);
  }
  return r;
}

// ---- small helpers -------------------------------------------------------------------------------

route_params no_renormalize(route_params p)
{
  p.renormalize = false;
  return p;
}

std::vector<float> random_logits(std::mt19937& rng, std::size_t n, float lo = -4.0f, float hi = 4.0f)
{
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = d(rng);
  return v;
}

void check_same_bits(const routed& a, const routed& b)
{
  REQUIRE(a.ids == b.ids);
  REQUIRE(a.weights.size() == b.weights.size());
  for (std::size_t i = 0; i < a.weights.size(); ++i) {
    INFO("slot " << i << ": " << a.weights[i] << " vs " << b.weights[i]);
    CHECK(bits_of(a.weights[i]) == bits_of(b.weights[i]));
  }
}

}  // namespace

// ---- score functions ---------------------------------------------------------------------------

TEST_CASE("sigmoid weights are 1 / (1 + exp(-x)) of the chosen logits, best first", "[host_reference][scoring]")
{
  const std::vector<float> logits = {-10.0f, -1.0f, 0.0f, 0.25f, 3.0f, 30.0f};
  const routed r = route(no_renormalize(make_params(6, 1, 1, 6, logits, scoring_func::sigmoid)));
  CHECK(r.row_ids(0) == ids_t{5, 4, 3, 2, 1, 0});
  for (int k = 0; k < 6; ++k) CHECK(close_rel(r.weight(0, k), sigmoid_d(logits[5 - k]), 1e-6));
}

TEST_CASE("softmax weights are exp(x - max) over the sum of the whole row, not of the chosen experts",
          "[host_reference][scoring]")
{
  const std::vector<float> logits = {0.5f, -1.0f, 2.0f, 0.0f, 1.0f, -3.0f, 1.5f, 0.25f};
  const routed r = route(no_renormalize(make_params(8, 1, 1, 3, logits, scoring_func::softmax)));
  CHECK(r.row_ids(0) == ids_t{2, 6, 4});
  double sum = 0;
  for (float x : logits) sum += std::exp(x - 2.0);
  for (int k = 0; k < 3; ++k) CHECK(close_rel(r.weight(0, k), std::exp(logits[r.id(0, k)] - 2.0) / sum, 1e-6));
  CHECK(r.weight(0, 0) + r.weight(0, 1) + r.weight(0, 2) < 0.9f);
}

TEST_CASE("sqrtsoftplus weights are sqrt(log1p(exp(x))), and sqrt(x) where exp(x) would overflow",
          "[host_reference][scoring]")
{
  const std::vector<float> logits = {-30.0f, -2.0f, 0.0f, 1.0f, 19.5f, 20.5f, 25.0f, 1e30f};
  const routed r = route(no_renormalize(make_params(8, 1, 1, 8, logits, scoring_func::sqrtsoftplus)));
  CHECK(r.row_ids(0) == ids_t{7, 6, 5, 4, 3, 2, 1, 0});
  for (int k = 1; k < 8; ++k) CHECK(close_rel(r.weight(0, k), sqrtsoftplus_d(logits[7 - k]), 1e-6));
  CHECK(r.weight(0, 0) == 1e15f);  // sqrt(1e30), no overflow through exp
  CHECK(r.weight(0, 2) == std::sqrt(20.5f));
}

// ---- bias ----------------------------------------------------------------------------------------

TEST_CASE("the bias changes which experts are chosen but not their weights", "[host_reference][bias]")
{
  const std::vector<float> logits = {2.0f, 1.0f, 0.0f, -1.0f};
  const std::vector<float> bias = {-1.0f, 0.0f, 0.75f, 0.0f};  // exact in bf16 too
  const std::vector<std::uint16_t> bias_bits = to_bf16_bits(bias);
  route_params p = no_renormalize(make_params(4, 1, 1, 2, logits));
  SECTION("no bias: the two largest logits")
  {
    const routed r = route(p);
    CHECK(r.row_ids(0) == ids_t{0, 1});
  }
  SECTION("f32 bias")
  {
    p.bias = bias.data();
    const routed r = route(p);
    CHECK(r.row_ids(0) == ids_t{2, 1});  // b = {-0.119, 0.731, 1.25, 0.269}
    CHECK(r.weight(0, 0) == 0.5f);       // s[2], not s[2] + 0.75
    CHECK(close_rel(r.weight(0, 1), sigmoid_d(1.0), 1e-6));
  }
  SECTION("bf16 bias")
  {
    p.bias = bias_bits.data();
    p.bias_type = data_type::bf16;
    const routed r = route(p);
    CHECK(r.row_ids(0) == ids_t{2, 1});
    CHECK(r.weight(0, 0) == 0.5f);
  }
}

TEST_CASE("a bf16 bias is read as bf16 bits, by value", "[host_reference][bias]")
{
  // s = {0.9526, 0.5}; expert 1 wins only if its bias is above 0.4526. As f16, 0x3ec0 would read
  // 1.6875 and 0x3f00 1.75: both would pick expert 1.
  const std::vector<float> logits = {3.0f, 0.0f};
  const std::uint16_t bits = GENERATE(std::uint16_t{0x3ec0}, std::uint16_t{0x3f00});  // 0.375, 0.5
  const std::vector<std::uint16_t> bias = {0x0000, bits};
  route_params p = make_params(2, 1, 1, 1, logits);
  p.bias = bias.data();
  p.bias_type = data_type::bf16;
  const routed r = route(p);
  CHECK(r.id(0, 0) == (bits == 0x3ec0 ? 0 : 1));
  CHECK(r.weight(0, 0) == 1.0f);  // renormalized single expert
}

TEST_CASE("a -inf bias ranks an expert last among real values but still above NaN", "[host_reference][bias]")
{
  const std::vector<float> logits = {3.0f, 0.0f, nan_f, -1.0f};
  const std::vector<float> bias = {-inf_f, 0.0f, 0.0f, 0.0f};
  route_params p = no_renormalize(make_params(4, 1, 1, 3, logits));
  p.bias = bias.data();
  const routed r = route(p);
  CHECK(r.row_ids(0) == ids_t{1, 3, 0});
  CHECK(close_rel(r.weight(0, 2), sigmoid_d(3.0), 1e-6));  // the weight ignores the bias
}

// ---- groups --------------------------------------------------------------------------------------

TEST_CASE("top2_sum and max group scores keep different groups", "[host_reference][groups]")
{
  // group 0: s = {0.953, 0.119, 0.119, 0.119}: max 0.953, top-2 sum 1.072
  // group 1: s = {0.731, 0.731, 0.119, 0.119}: max 0.731, top-2 sum 1.462
  const std::vector<float> logits = {3, -2, -2, -2, 1, 1, -2, -2};
  route_params p = make_params(8, 2, 1, 2, logits);
  p.group_score = group_score_kind::top2_sum;
  CHECK(route(p).row_ids(0) == ids_t{4, 5});
  p.group_score = group_score_kind::max;
  CHECK(route(p).row_ids(0) == ids_t{0, 1});
}

TEST_CASE("a value that occurs twice in a group counts twice in its top-2 sum", "[host_reference][groups]")
{
  // group 0: {0.731, 0.731, ...}: 1.462 (0.778 if the duplicate were dropped); group 1: 0.818 + 0.182
  const std::vector<float> logits = {1, 1, -3, -3, 1.5f, -1.5f, -3, -3};
  const routed r = route(make_params(8, 2, 1, 2, logits));
  CHECK(r.row_ids(0) == ids_t{0, 1});
}

TEST_CASE("experts of groups that are not kept are never chosen, even with the best scores", "[host_reference][groups]")
{
  const std::vector<float> logits = {3, -5, -5, -5, 1, 1, 1, 1};
  const routed r = route(make_params(8, 2, 1, 2, logits));
  CHECK(r.row_ids(0) == ids_t{4, 5});
}

TEST_CASE("with one group every expert is a candidate, whatever the group score kind", "[host_reference][groups]")
{
  const std::vector<float> logits = {0.1f, 2.0f, -1.0f, 1.5f, 0.7f, 3.0f, -2.0f, 0.0f};
  route_params p = make_params(8, 1, 1, 3, logits);
  p.group_score = GENERATE(group_score_kind::top2_sum, group_score_kind::max);
  CHECK(route(p).row_ids(0) == ids_t{5, 1, 3});
}

TEST_CASE("a single expert is always routed with weight 1", "[host_reference][groups]")
{
  const std::vector<float> logits = {-7.0f, 0.5f, nan_f};
  const routed r = route(make_params(1, 1, 1, 1, logits));
  CHECK(r.ids == ids_t{0, 0, 0});
  CHECK(r.weight(0, 0) == 1.0f);
  CHECK(r.weight(1, 0) == 1.0f);
  CHECK(std::isnan(r.weight(2, 0)));
}

// ---- renormalize, scaling, shared slot -----------------------------------------------------------

TEST_CASE("renormalize divides by the fp32 sum of the chosen scores in slot order", "[host_reference][options]")
{
  const std::vector<float> logits = {0.3f, -1.2f, 2.2f, 0.9f, -0.4f, 1.7f};
  route_params p = make_params(6, 1, 1, 3, logits);
  const routed raw = route(no_renormalize(p));
  const routed r = route(p);
  REQUIRE(raw.row_ids(0) == ids_t{2, 5, 3});
  REQUIRE(r.row_ids(0) == raw.row_ids(0));
  const float sum = ((0.0f + raw.weight(0, 0)) + raw.weight(0, 1)) + raw.weight(0, 2);
  for (int k = 0; k < 3; ++k) CHECK(bits_of(r.weight(0, k)) == bits_of(raw.weight(0, k) / sum));
  for (int k = 0; k < 3; ++k) CHECK(close_rel(raw.weight(0, k), sigmoid_d(logits[raw.id(0, k)]), 1e-6));
}

TEST_CASE("renormalize sums in slot order, bit for bit, on random rows", "[host_reference][options]")
{
  // With 8 slots of different magnitudes, another order of the fp32 sum gives other bits on
  // some of these rows.
  constexpr int E = 64, K = 8, T = 32;
  std::mt19937 rng(23);
  const std::vector<float> logits = random_logits(rng, T * E, -6.0f, 6.0f);
  route_params p = make_params(E, 1, 1, K, logits);
  const routed raw = route(no_renormalize(p));
  const routed r = route(p);
  REQUIRE(r.ids == raw.ids);
  for (int t = 0; t < T; ++t) {
    float sum = 0.0f;
    for (int k = 0; k < K; ++k) sum += raw.weight(t, k);
    for (int k = 0; k < K; ++k) CHECK(bits_of(r.weight(t, k)) == bits_of(raw.weight(t, k) / sum));
  }
}

TEST_CASE("softmax divides by the canonical sum of the numerators, bit for bit", "[host_reference][scoring]")
{
  // The denominator's fp32 order is canonical_sum's (numeric.hpp), the order the fused kernel
  // uses too; a left-to-right sum gives other bits on some of these rows.
  constexpr int E = 256, K = 8, T = 16;
  std::mt19937 rng(29);
  const std::vector<float> logits = random_logits(rng, T * E, -8.0f, 8.0f);
  const routed r = route(no_renormalize(make_params(E, 1, 1, K, logits, scoring_func::softmax)));
  for (int t = 0; t < T; ++t) {
    const float* x = &logits[t * E];
    const float m = *std::max_element(x, x + E);
    std::vector<float> numerators(E);
    for (int e = 0; e < E; ++e) numerators[e] = softmax_numerator(x[e], m);
    const float denominator = canonical_sum(numerators.data(), E);
    for (int k = 0; k < K; ++k) CHECK(bits_of(r.weight(t, k)) == bits_of(numerators[r.id(t, k)] / denominator));
  }
}

TEST_CASE("scale_output multiplies the routed weights by the factor, after renormalizing", "[host_reference][options]")
{
  const std::vector<float> logits = {0.3f, -1.2f, 2.2f, 0.9f, -0.4f, 1.7f};
  const bool renormalize = GENERATE(true, false);
  route_params p = make_params(6, 1, 1, 3, logits);
  p.renormalize = renormalize;
  p.routed_scaling_factor = 2.5f;
  const routed plain = route(p);  // without scale_output the factor changes nothing routed
  p.scale_output = true;
  const routed scaled = route(p);
  REQUIRE(scaled.row_ids(0) == plain.row_ids(0));
  for (int k = 0; k < 3; ++k) CHECK(bits_of(scaled.weight(0, k)) == bits_of(plain.weight(0, k) * 2.5f));
  p.scale_output = false;
  p.routed_scaling_factor = 1.0f;
  check_same_bits(route(p), plain);
}

TEST_CASE("the shared slot's weight is the routed weights' sum over the factor", "[host_reference][shared]")
{
  // 1/factor with renormalize, 1.0 with renormalize + scale_output, sum(s)/factor with neither.
  const std::vector<float> logits = {0.3f, -1.2f, 2.2f, 0.9f, -0.4f, 1.7f};
  const bool renormalize = GENERATE(true, false);
  const bool scale = GENERATE(true, false);
  route_params p = make_params(6, 1, 1, 3, logits);
  p.renormalize = renormalize;
  p.scale_output = scale;
  p.routed_scaling_factor = 2.5f;
  p.num_shared_slots = 1;
  const routed r = route(p);
  CHECK(r.id(0, 3) == 6);
  const float routed_sum = ((0.0f + r.weight(0, 0)) + r.weight(0, 1)) + r.weight(0, 2);
  CHECK(bits_of(r.weight(0, 3)) == bits_of(routed_sum / 2.5f));
  const double sum_s = sigmoid_d(2.2) + sigmoid_d(1.7) + sigmoid_d(0.9);
  const double expected = renormalize ? (scale ? 1.0 : 1.0 / 2.5) : (scale ? sum_s : sum_s / 2.5);
  CHECK(close_rel(r.weight(0, 3), expected, 1e-6));
}

TEST_CASE("with several shared experts the shared id is E + (token mod NS)", "[host_reference][shared]")
{
  std::mt19937 rng(7);
  const std::vector<float> logits = random_logits(rng, 7 * 8);
  route_params p = make_params(8, 1, 1, 2, logits);
  p.num_shared_slots = 1;
  p.num_shared_experts = 3;
  const routed r = route(p);
  for (int t = 0; t < 7; ++t) CHECK(r.id(t, 2) == 8 + t % 3);
  check_routed_ids_valid(r, 8, 2);
}

TEST_CASE("expert_map maps the routed ids but not the shared slot's id", "[host_reference][shared]")
{
  std::mt19937 rng(11);
  const std::vector<float> logits = random_logits(rng, 4 * 16);
  std::vector<std::int32_t> map(16);
  for (int e = 0; e < 16; ++e) map[e] = 1000 + 7 * (15 - e);
  route_params p = make_params(16, 4, 2, 3, logits);
  p.num_shared_slots = 1;
  const routed plain = route(p);
  p.expert_map = map.data();
  const routed mapped = route(p);
  for (int t = 0; t < 4; ++t) {
    for (int k = 0; k < 3; ++k) CHECK(mapped.id(t, k) == map[plain.id(t, k)]);
    CHECK(mapped.id(t, 3) == 16);
  }
  CHECK(mapped.weights == plain.weights);
}

// ---- padding, empty and strided inputs, types ----------------------------------------------------

TEST_CASE("rows at or past num_valid_tokens are padding: id -1 and weight 0 in every slot", "[host_reference][padding]")
{
  std::mt19937 rng(3);
  const std::vector<float> logits = random_logits(rng, 5 * 32);
  const std::int32_t num_valid = GENERATE(3, 0, -2, 5, 9);
  const index_type index = GENERATE(index_type::i32, index_type::i64);
  route_params p = make_params(32, 4, 2, 4, logits);
  p.num_shared_slots = 1;
  p.ids_type = index;
  const routed all = route(p);
  p.num_valid_tokens = &num_valid;
  const routed r = route(p);
  const int valid = std::max(0, std::min<int>(num_valid, 5));
  for (int t = 0; t < 5; ++t) {
    INFO("row " << t);
    if (t < valid) {
      CHECK(r.row_ids(t) == all.row_ids(t));
      CHECK(r.row_weights(t) == all.row_weights(t));
    } else {
      CHECK(r.row_ids(t) == ids_t(5, -1));
      for (float w : r.row_weights(t)) CHECK(bits_of(w) == 0u);
    }
  }
}

TEST_CASE("num_tokens == 0 succeeds, writes nothing and accepts null pointers", "[host_reference][empty]")
{
  route_params p;
  p.num_experts = 256;
  p.num_groups = 8;
  p.topk_group = 4;
  p.topk = 8;
  p.num_tokens = 0;
  CHECK(host_route(p));
  CHECK(std::string(last_error_message()).empty());
  std::vector<float> weights(9, 3.0f);
  std::vector<std::int32_t> ids(9, 77);
  const std::vector<float> logits(256, 1.0f);
  p.logits = logits.data();
  p.weights = weights.data();
  p.ids = ids.data();
  CHECK(host_route(p));
  CHECK(weights == std::vector<float>(9, 3.0f));
  CHECK(ids == std::vector<std::int32_t>(9, 77));
}

TEST_CASE("a row stride larger than E ignores whatever lies between the rows", "[host_reference][stride]")
{
  constexpr int E = 8, stride = 13, T = 4;
  std::mt19937 rng(5);
  const std::vector<float> contiguous = random_logits(rng, T * E);
  std::vector<float> strided(T * stride);
  const float garbage[] = {nan_f, inf_f, 1e30f, -inf_f, 88.0f};
  for (int i = 0; i < T * stride; ++i) strided[i] = garbage[i % 5];
  for (int t = 0; t < T; ++t)
    for (int e = 0; e < E; ++e) strided[t * stride + e] = contiguous[t * E + e];
  const scoring_func f = GENERATE(scoring_func::sigmoid, scoring_func::softmax, scoring_func::sqrtsoftplus);
  route_params p = make_params(E, 2, 1, 3, contiguous, f);
  const routed expected = route(p);
  p.logits = strided.data();
  p.row_stride = stride;
  const routed r = route(p);
  check_same_bits(r, expected);
  for (float w : r.weights) CHECK(std::isfinite(w));
}

TEST_CASE("bf16 and f16 logits route exactly like the f32 values they hold", "[host_reference][types]")
{
  constexpr int E = 64, T = 6;
  std::mt19937 rng(17);
  const std::vector<float> raw = random_logits(rng, T * E);
  const std::vector<float> bias = random_logits(rng, E, -0.25f, 0.25f);
  const data_type type = GENERATE(data_type::bf16, data_type::f16);
  std::vector<float> rounded;
  for (float f : raw) rounded.push_back(type == data_type::bf16 ? bf16_round(f) : f16_round(f));
  const std::vector<std::uint16_t> bits = type == data_type::bf16 ? to_bf16_bits(raw) : to_f16_bits(raw);
  const scoring_func f = GENERATE(scoring_func::sigmoid, scoring_func::softmax, scoring_func::sqrtsoftplus);
  route_params p = make_params(E, 8, 4, 6, rounded, f);
  p.bias = bias.data();
  const routed expected = route(p);
  p.logits = bits.data();
  p.logits_type = type;
  check_same_bits(route(p), expected);
}

TEST_CASE("i64 ids hold the same values as i32 ids, padding -1 included", "[host_reference][types]")
{
  std::mt19937 rng(19);
  const std::vector<float> logits = random_logits(rng, 6 * 64);
  const std::int32_t num_valid = 4;
  std::vector<std::int32_t> map(64);
  for (int e = 0; e < 64; ++e) map[e] = 63 - e;
  route_params p = make_params(64, 8, 4, 8, logits);
  p.num_shared_slots = 1;
  p.num_shared_experts = 2;
  p.num_valid_tokens = &num_valid;
  p.expert_map = map.data();
  const routed narrow = route(p);
  p.ids_type = index_type::i64;
  const routed wide = route(p);
  check_same_bits(wide, narrow);
  CHECK(wide.id(5, 0) == -1);
  CHECK(wide.id(1, 8) == 65);
}

// ---- order, ties and odd values ------------------------------------------------------------------

TEST_CASE("equal choice scores go to the lower expert index", "[host_reference][order]")
{
  const std::vector<float> logits = {0, 1, 1, 0, 1, 0, 0, 0};
  CHECK(route(make_params(8, 1, 1, 3, logits)).row_ids(0) == ids_t{1, 2, 4});
  CHECK(route(make_params(8, 1, 1, 5, logits)).row_ids(0) == ids_t{1, 2, 4, 0, 3});
}

TEST_CASE("equal group scores keep the lower group", "[host_reference][order]")
{
  // groups 1, 2 and 3 hold the same scores; 0 is worse. Groups 1 and 2 are kept, and equal
  // experts across them go to the lower index.
  const std::vector<float> logits = {-2, -2, -2, -2, 1, 0.5f, 0, -1, 1, 0.5f, 0, -1, 1, 0.5f, 0, -1};
  const group_score_kind kind = GENERATE(group_score_kind::top2_sum, group_score_kind::max);
  route_params p = make_params(16, 4, 2, 4, logits);
  p.group_score = kind;
  CHECK(route(p).row_ids(0) == ids_t{4, 8, 5, 9});
}

TEST_CASE("NaN logits rank below -inf and the row still gets K distinct valid ids", "[host_reference][order]")
{
  // sigmoid: NaN -> NaN, -inf -> 0
  const std::vector<float> logits = {nan_f, -inf_f, nan_f, -inf_f, 0.0f, nan_f, -inf_f, nan_f};
  const int K = GENERATE(4, 5, 8);
  const routed r = route(no_renormalize(make_params(8, 1, 1, K, logits)));
  const ids_t order = {4, 1, 3, 6, 0, 2, 5, 7};
  CHECK(r.row_ids(0) == ids_t(order.begin(), order.begin() + K));
  CHECK(r.weight(0, 0) == 0.5f);
  CHECK(r.weight(0, 1) == 0.0f);
  if (K > 4) CHECK(std::isnan(r.weight(0, 4)));
  check_routed_ids_valid(r, 8, K);
}

TEST_CASE("an all-NaN row routes to experts 0..K-1", "[host_reference][order]")
{
  SECTION("one group")
  {
    const std::vector<float> logits(16, nan_f);
    const routed r = route(make_params(16, 1, 1, 4, logits));
    CHECK(r.row_ids(0) == ids_t{0, 1, 2, 3});
  }
  SECTION("DeepSeek-V3 groups: the NaN group scores tie, so groups 0..3 are kept")
  {
    const std::vector<float> logits(256, nan_f);
    const std::vector<float> bias(256, 0.01f);
    route_params p = make_params(256, 8, 4, 8, logits);
    p.bias = bias.data();
    const routed r = route(p);
    CHECK(r.row_ids(0) == ids_t{0, 1, 2, 3, 4, 5, 6, 7});
  }
  SECTION("softmax: one NaN makes the whole denominator, so every score, NaN")
  {
    std::vector<float> logits = {3, 2, 1, 0, -1, -2, -3, -4};
    logits[5] = nan_f;
    const routed r = route(make_params(8, 1, 1, 2, logits, scoring_func::softmax));
    CHECK(r.row_ids(0) == ids_t{0, 1});
    CHECK(std::isnan(r.weight(0, 0)));
  }
}

TEST_CASE("softmax of a row with a +inf logit or only -inf logits is NaN and routes to the first experts",
          "[host_reference][order]")
{
  // inf - inf is NaN: in the numerator of the +inf expert, or in every numerator of an all -inf row
  const std::vector<float> logits = {1, 2, inf_f, 0, -inf_f, -inf_f, -inf_f, -inf_f};
  const routed r = route(make_params(4, 1, 1, 2, logits, scoring_func::softmax));
  for (int t = 0; t < 2; ++t) {
    CHECK(r.row_ids(t) == ids_t{0, 1});
    CHECK(std::isnan(r.weight(t, 0)));
  }
}

TEST_CASE("a NaN among a group's two best makes its top-2 sum NaN, ranked below every group", "[host_reference][order]")
{
  // two experts per group: group 2 holds the best expert but its top-2 sum is NaN; groups 1 and 3
  // score 0 + 0 (sigmoid of -inf) and are kept. With the max group score, group 2 is kept.
  const std::vector<float> logits = {nan_f, nan_f, -inf_f, -inf_f, nan_f, 2.0f, -inf_f, -inf_f};
  route_params p = make_params(8, 4, 2, 2, logits);
  CHECK(route(p).row_ids(0) == ids_t{2, 3});
  p.group_score = group_score_kind::max;
  CHECK(route(p).row_ids(0) == ids_t{5, 2});
}

TEST_CASE("minus zero and plus zero are equal choice scores", "[host_reference][order]")
{
  // sqrtsoftplus(-inf) = +0; a bias of -0.0 or +0.0 leaves it 0. All four tie: index order.
  const std::vector<float> logits = {-inf_f, -inf_f, -inf_f, -inf_f, -1.0f, -0.0f, 0.0f, -2.0f};
  const std::vector<float> bias = {0.0f, -0.0f, 0.0f, -0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  route_params p = no_renormalize(make_params(8, 1, 1, 8, logits, scoring_func::sqrtsoftplus));
  p.bias = bias.data();
  const routed r = route(p);
  CHECK(r.row_ids(0) == ids_t{5, 6, 4, 7, 0, 1, 2, 3});
}

TEST_CASE("an all-equal row routes to the first K experts with equal weights", "[host_reference][order]")
{
  const std::vector<float> logits(16, 0.7f);
  const int G = GENERATE(1, 4);
  const routed r = route(make_params(16, G, G == 1 ? 1 : 2, 4, logits));
  CHECK(r.row_ids(0) == ids_t{0, 1, 2, 3});
  for (float w : r.row_weights(0)) CHECK(w == Approx(0.25f).epsilon(1e-6));
}

TEST_CASE("huge logits saturate the scores without NaN", "[host_reference][odd_values]")
{
  SECTION("sigmoid: 1 and 0, ties by index")
  {
    const std::vector<float> logits = {1e30f, FLT_MAX, 100.0f, -1e30f, -FLT_MAX, 0.0f, inf_f, -inf_f};
    const routed r = route(no_renormalize(make_params(8, 1, 1, 6, logits)));
    CHECK(r.row_ids(0) == ids_t{0, 1, 2, 6, 5, 3});
    CHECK(r.row_weights(0) == std::vector<float>{1, 1, 1, 1, 0.5f, 0});
  }
  SECTION("softmax: the row maximum is subtracted first")
  {
    const std::vector<float> logits = {FLT_MAX, -FLT_MAX, 0.0f, FLT_MAX};
    const routed r = route(no_renormalize(make_params(4, 1, 1, 2, logits, scoring_func::softmax)));
    CHECK(r.row_ids(0) == ids_t{0, 3});
    CHECK(r.row_weights(0) == std::vector<float>{0.5f, 0.5f});
  }
  SECTION("sqrtsoftplus: sqrt(x), no exp overflow")
  {
    const std::vector<float> logits = {FLT_MAX, 0.0f};
    const routed r = route(no_renormalize(make_params(2, 1, 1, 1, logits, scoring_func::sqrtsoftplus)));
    CHECK(r.id(0, 0) == 0);
    CHECK(r.weight(0, 0) == std::sqrt(FLT_MAX));
  }
}

TEST_CASE("denormal logits and denormal scores are neither flushed nor misordered", "[host_reference][odd_values]")
{
  SECTION("denormal logits: sigmoid 0.5 each, a tie")
  {
    const std::vector<float> logits = {-1.0f, 1e-45f, -1e-45f, 1e-40f};
    const routed r = route(no_renormalize(make_params(4, 1, 1, 3, logits)));
    CHECK(r.row_ids(0) == ids_t{1, 2, 3});
    CHECK(r.row_weights(0) == std::vector<float>{0.5f, 0.5f, 0.5f});
  }
  SECTION("sigmoid scores below FLT_MIN keep their order")
  {
    // Subnormal from -87.34 down to -88.72; 0 at or below, as 1 / (1 + exp(-x)) in fp32.
    const std::vector<float> logits = {-88.7f, -88.0f, -88.5f, -87.5f, -300.0f, -88.8f};
    const routed r = route(no_renormalize(make_params(6, 1, 1, 6, logits)));
    CHECK(r.row_ids(0) == ids_t{3, 1, 2, 0, 4, 5});
    CHECK(r.weight(0, 0) < FLT_MIN);
    CHECK(r.weight(0, 3) > 0.0f);
    CHECK(r.weight(0, 4) == 0.0f);  // -300 and -88.8 score 0 alike: a tie, the lower expert first
    CHECK(r.weight(0, 5) == 0.0f);
  }
  SECTION("softmax scores below FLT_MIN keep their order and value")
  {
    const std::vector<float> logits = {-101.0f, 0.0f, -100.0f, -90.0f};
    const routed r = route(no_renormalize(make_params(4, 1, 1, 4, logits, scoring_func::softmax)));
    CHECK(r.row_ids(0) == ids_t{1, 3, 2, 0});
    CHECK(r.weight(0, 0) == 1.0f);
    CHECK(r.weight(0, 3) > 0.0f);
    CHECK(r.weight(0, 3) < r.weight(0, 2));
    CHECK(r.weight(0, 2) < FLT_MIN);
    CHECK(close_rel(r.weight(0, 1), std::exp(-90.0), 1e-5));
  }
  SECTION("sqrtsoftplus of very negative logits: sqrt of a denormal softplus")
  {
    const std::vector<float> logits = {-102.0f, -100.0f, -101.0f, -99.0f};
    const routed r = route(no_renormalize(make_params(4, 1, 1, 4, logits, scoring_func::sqrtsoftplus)));
    CHECK(r.row_ids(0) == ids_t{3, 1, 2, 0});
    for (int k = 0; k < 4; ++k) CHECK(close_rel(r.weight(0, k), std::exp(logits[r.id(0, k)] / 2.0), 0.1));
  }
}

TEST_CASE("renormalizing chosen scores that are all 0 divides by 1", "[host_reference][options]")
{
  const std::vector<float> logits = {-inf_f, -200.0f, -inf_f, -1e30f, -inf_f, -inf_f, -inf_f, -inf_f};
  route_params p = make_params(8, 2, 1, 3, logits);
  p.scale_output = true;
  p.routed_scaling_factor = 2.5f;
  p.num_shared_slots = 1;
  const routed r = route(p);
  CHECK(r.row_ids(0) == ids_t{0, 1, 2, 8});
  CHECK(r.row_weights(0) == std::vector<float>{0, 0, 0, 0});
}

// ---- model shapes against the brute-force router -------------------------------------------------

namespace {

struct model_shape {
  const char* name;
  int E, G, TG, K;
  scoring_func scoring;
  group_score_kind group_score;
  bool has_bias;
  float factor;
};

const model_shape model_shapes[] = {
    {"DeepSeek-V3", 256, 8, 4, 8, scoring_func::sigmoid, group_score_kind::top2_sum, true, 2.5f},
    {"Kimi-K2", 384, 1, 1, 8, scoring_func::sigmoid, group_score_kind::top2_sum, true, 2.827f},
    {"GLM-4.5", 160, 1, 1, 8, scoring_func::sigmoid, group_score_kind::top2_sum, true, 2.5f},
    {"MiniMax-M2", 256, 1, 1, 8, scoring_func::sigmoid, group_score_kind::top2_sum, true, 1.0f},
    {"DeepSeek-V2", 160, 8, 3, 6, scoring_func::softmax, group_score_kind::max, false, 16.0f},
    {"DeepSeek-V2-Lite", 64, 1, 1, 6, scoring_func::softmax, group_score_kind::top2_sum, false, 1.0f},
    {"Qwen3-MoE", 128, 1, 1, 8, scoring_func::softmax, group_score_kind::top2_sum, false, 1.0f},
    {"Mixtral", 8, 1, 1, 2, scoring_func::softmax, group_score_kind::top2_sum, false, 1.0f},
    {"Llama-4 (16 experts)", 16, 1, 1, 1, scoring_func::sigmoid, group_score_kind::top2_sum, false, 1.0f},
    {"Llama-4 (128 experts)", 128, 1, 1, 1, scoring_func::sigmoid, group_score_kind::top2_sum, false, 1.0f},
    {"DeepSeek-V4-Flash", 256, 1, 1, 6, scoring_func::sqrtsoftplus, group_score_kind::top2_sum, true, 1.5f},
};

}  // namespace

TEST_CASE("every model shape of the contract routes like a brute-force sort of the scores", "[host_reference][models]")
{
  const int shape_index = GENERATE(range(0, static_cast<int>(sizeof model_shapes / sizeof model_shapes[0])));
  const model_shape& m = model_shapes[shape_index];
  INFO(m.name);
  constexpr int T = 6;
  std::mt19937 rng(1234u + static_cast<unsigned>(shape_index));

  const data_type bias_types[] = {data_type::f32, data_type::bf16};
  const data_type logits_types[] = {data_type::f32, data_type::bf16, data_type::f16};
  for (const data_type bias_type : bias_types) {
    if (!m.has_bias && bias_type == data_type::bf16) continue;
    for (const data_type logits_type : logits_types) {
      INFO("bias " << to_string(bias_type) << ", logits " << to_string(logits_type));
      // bias and logits as the library reads them (rounded to their type) and as doubles
      std::vector<float> bias_f;
      if (m.has_bias)
        for (float b : random_logits(rng, m.E, -0.3f, 0.3f))
          bias_f.push_back(bias_type == data_type::bf16 ? bf16_round(b) : b);
      const std::vector<std::uint16_t> bias_bits = to_bf16_bits(bias_f);
      const std::vector<double> bias_d(bias_f.begin(), bias_f.end());

      brute_options o{m.E, m.G, m.TG, m.K, m.scoring, m.group_score, true, true, m.factor, 1, 3};
      std::vector<float> logits;
      std::vector<std::vector<double>> rows;
      while (static_cast<int>(rows.size()) < T) {
        std::vector<float> row = random_logits(rng, m.E);
        for (float& x : row)
          x = logits_type == data_type::bf16 ? bf16_round(x) : logits_type == data_type::f16 ? f16_round(x) : x;
        const std::vector<double> row_d(row.begin(), row.end());
        if (brute_route(o, row_d, bias_d, 0).margin < 1e-5) continue;  // a near-tie: draw again
        rows.push_back(row_d);
        logits.insert(logits.end(), row.begin(), row.end());
      }
      std::vector<std::uint16_t> logits_bits =
          logits_type == data_type::bf16 ? to_bf16_bits(logits) : to_f16_bits(logits);

      route_params p = make_params(m.E, m.G, m.TG, m.K, logits, m.scoring);
      p.group_score = m.group_score;
      p.routed_scaling_factor = m.factor;
      p.num_shared_experts = 3;
      if (logits_type != data_type::f32) {
        p.logits = logits_bits.data();
        p.logits_type = logits_type;
      }
      if (m.has_bias) {
        p.bias_type = bias_type;
        p.bias = bias_type == data_type::f32 ? static_cast<const void*>(bias_f.data()) : bias_bits.data();
      }
      for (int option = 0; option < 8; ++option) {
        o.renormalize = p.renormalize = (option & 1) != 0;
        o.scale_output = p.scale_output = (option & 2) != 0;
        o.shared_slots = p.num_shared_slots = (option & 4) != 0 ? 1 : 0;
        INFO("renormalize " << o.renormalize << ", scale_output " << o.scale_output << ", shared slots "
                            << o.shared_slots);
        const routed r = route(p);
        check_routed_ids_valid(r, m.E, m.K);
        for (int t = 0; t < T; ++t) {
          INFO("row " << t);
          const brute_result expected = brute_route(o, rows[t], bias_d, t);
          CHECK(r.row_ids(t) == expected.ids);
          for (int k = 0; k < p.slots(); ++k) {
            INFO("slot " << k << ": " << r.weight(t, k) << " vs " << expected.w[k]);
            CHECK(close_rel(r.weight(t, k), expected.w[k], 1e-5));
          }
        }
      }
    }
  }
}
