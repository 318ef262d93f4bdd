/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// The worked example of docs/semantics.md ("A worked example"): the same inputs, checked against
// the numbers printed there (regenerate them with `python3 docs/worked_example.py --cpp`).

#include "host_test_util.hpp"

#include <moe_router/numeric.hpp>
#include <moe_router/reference/host_reference.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

using namespace moe_router;
using namespace moe_router_test;

namespace {

constexpr int E = 16, G = 4, TG = 2, K = 4, T = 3;

const std::vector<float> bias = {0, 0, 0, 0, 0.125f, 0, 0, -0.125f, 0, 0.25f, 0, 0, 0, 0, 0, 0};

const std::vector<float> logits = {
    // token 0: the ordinary case; the bias lifts expert 4 above expert 10
    -1, 0.5f, -2, 0, 1, 2, -1, 1.5f, 0, 1, 1.5f, -0.5f, -1.5f, 1, -3, 0,
    // token 1: the best single expert (0) sits in a group that is not kept
    3, -2, -2.5f, -3, 1, 1, -1, 0, 0.5f, 0.5f, 1.5f, -1, 1, 0.5f, 0.5f, -2,
    // token 2: a NaN, a -inf, two tied groups and a tie at the last slot
    nan_f, 2, -inf_f, 1, 0, 0, 0, 0, 2, 1, 1, -1, 1, -inf_f, 2, 0};

const std::int64_t expected_ids[T][K + 1] = {{9, 5, 4, 10, 16}, {9, 4, 10, 5, 16}, {9, 1, 8, 3, 16}};

const float expected_weights[T][K + 1] = {{0.57827973f, 0.69672537f, 0.57827973f, 0.6467152f, 1.0f},
                                          {0.5362051f, 0.6297558f, 0.7042832f, 0.6297558f, 0.9999999f},
                                          {0.56693864f, 0.68306136f, 0.68306136f, 0.56693864f, 1.0f}};

route_params example_params()
{
  route_params p = make_params(E, G, TG, K, logits, scoring_func::sigmoid);
  p.group_score = group_score_kind::top2_sum;
  p.bias = bias.data();
  p.bias_type = data_type::f32;
  p.renormalize = true;
  p.scale_output = true;
  p.routed_scaling_factor = 2.5f;
  p.num_shared_slots = 1;
  p.num_shared_experts = 1;
  return p;
}

}  // namespace

TEST_CASE("the worked example of the semantics doc routes to the ids printed there", "[worked_example]")
{
  const auto index = GENERATE(index_type::i32, index_type::i64);
  route_params p = example_params();
  p.ids_type = index;
  const routed r = route(p);
  for (int t = 0; t < T; ++t)
    for (int k = 0; k < K + 1; ++k) {
      INFO("token " << t << " slot " << k);
      CHECK(r.id(t, k) == expected_ids[t][k]);
    }
}

TEST_CASE("the worked example of the semantics doc gets the weights printed there", "[worked_example]")
{
  const routed r = route(example_params());
  for (int t = 0; t < T; ++t)
    for (int k = 0; k < K + 1; ++k) {
      INFO("token " << t << " slot " << k);
      CHECK(r.weight(t, k) == Approx(expected_weights[t][k]).epsilon(1e-6));
    }
}

TEST_CASE("the worked example's scores are the sigmoids printed in its tables", "[worked_example]")
{
  // Step 1 for the logits the example uses (the first table of each token).
  CHECK(sigmoid_score(-3.0f) == Approx(0.047425874f).epsilon(1e-6));
  CHECK(sigmoid_score(-1.0f) == Approx(0.2689414f).epsilon(1e-6));
  CHECK(sigmoid_score(0.0f) == 0.5f);
  CHECK(sigmoid_score(0.5f) == Approx(0.62245935f).epsilon(1e-6));
  CHECK(sigmoid_score(1.0f) == Approx(0.7310586f).epsilon(1e-6));
  CHECK(sigmoid_score(1.5f) == Approx(0.8175745f).epsilon(1e-6));
  CHECK(sigmoid_score(2.0f) == Approx(0.880797f).epsilon(1e-6));
  CHECK(sigmoid_score(3.0f) == Approx(0.95257413f).epsilon(1e-6));
  CHECK(sigmoid_score(-inf_f) == 0.0f);
  CHECK(std::isnan(sigmoid_score(nan_f)));
}

TEST_CASE("the worked example without scale_output divides the weights by 2.5", "[worked_example]")
{
  // renormalize only (SGLang's convention): the routed weights are the printed ones / 2.5 and the
  // shared slot is sum / 2.5, about 1 / 2.5.
  route_params p = example_params();
  p.scale_output = false;
  const routed r = route(p);
  for (int t = 0; t < T; ++t) {
    for (int k = 0; k < K; ++k) {
      INFO("token " << t << " slot " << k);
      CHECK(r.id(t, k) == expected_ids[t][k]);
      CHECK(r.weight(t, k) == Approx(expected_weights[t][k] / 2.5f).epsilon(2e-6));
    }
    CHECK(r.weight(t, K) == Approx(0.4f).epsilon(1e-6));
  }
}
