/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// The host half of the test harness: conversions, input generation and the checkers, each held
// to something known (every bf16 / f16 value, host_route's own outputs, deliberate breakage).

#include "support/test_checks.hpp"
#include "support/test_data.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

using namespace moe_router;
using namespace moe_router::test;

namespace {

/// Check a rounding function against every value of a 16-bit format: each value round-trips,
/// the midpoint of two neighbours goes to the even one, and a float ulp off the midpoint goes
/// to the nearer one.
template <class Round, class Widen>
void check_rounding(Round round, Widen widen, std::uint16_t max_finite, std::uint16_t inf)
{
  for (std::uint32_t h = 0; h <= max_finite; ++h) {
    for (const std::uint32_t sign : {0u, 0x8000u}) {
      const std::uint16_t bits = static_cast<std::uint16_t>(h | sign);
      const float v = widen(bits);
      INFO("bits 0x" << std::hex << bits);
      REQUIRE(round(v) == bits);
      // the next value up in magnitude: past the largest finite one, the power of two that the
      // format would have next (its encoding is the infinity's, where rounding there goes)
      const std::uint16_t next_bits = static_cast<std::uint16_t>((h + 1) | sign);
      const double next = h < max_finite ? static_cast<double>(widen(next_bits))
                                         : 2.0 * static_cast<double>(v) -
                                               static_cast<double>(widen(static_cast<std::uint16_t>((h - 1) | sign)));
      const double mid_exact = (static_cast<double>(v) + next) / 2;
      const float mid = static_cast<float>(mid_exact);
      REQUIRE(static_cast<double>(mid) == mid_exact);
      REQUIRE(round(mid) == ((h & 1u) ? next_bits : bits));
      REQUIRE(round(std::nextafter(mid, v)) == bits);
      REQUIRE(round(std::nextafter(mid, static_cast<float>(next))) == next_bits);
    }
  }
  REQUIRE(round(INFINITY) == inf);
  REQUIRE(round(-INFINITY) == (inf | 0x8000u));
  REQUIRE(round(FLT_MAX) == inf);
  for (const float nan :
       {NAN, -NAN, bits_to_float(0x7f800001u), bits_to_float(0xff800001u), bits_to_float(0x7fc12345u)})
    REQUIRE(std::isnan(widen(round(nan))));
}

case_desc small_desc(int E, int G, int TG, int K, scoring_func f, std::int64_t T)
{
  case_desc d;
  d.label = "host";
  d.num_experts = E;
  d.num_groups = G;
  d.topk_group = TG;
  d.topk = K;
  d.scoring = f;
  d.num_tokens = T;
  d.flavour = input_flavour::nasty;
  d.has_bias = true;
  return d;
}

/// T rows of 16 experts, top-4, random logits with a bias, scaled by `factor`, with a shared slot.
case_desc scaled_desc(scoring_func f, std::int64_t T, float factor, bool renormalize)
{
  case_desc d = small_desc(16, 1, 1, 4, f, T);
  d.flavour = input_flavour::random;
  d.renormalize = renormalize;
  d.scale_output = true;
  d.routed_scaling_factor = factor;
  d.num_shared_slots = 1;
  return d;
}

/// One row of `scaled_desc` (sigmoid, no bias, not renormalized) in which experts 3 and 9 (logits
/// 2 and the float below it) are a near tie at the top, the others far below.
test_case near_tie_case(float factor)
{
  case_desc d = scaled_desc(scoring_func::sigmoid, 1, factor, false);
  d.has_bias = false;
  test_case c = make_case(d, 5);
  for (int e = 0; e < 16; ++e) store_as(c.logits, data_type::f32, e, -1.0f - 0.1f * static_cast<float>(e));
  store_as(c.logits, data_type::f32, 3, 2.0f);
  store_as(c.logits, data_type::f32, 9, std::nextafter(2.0f, 0.0f));
  return c;
}

/// The expert of the lowest logit + bias in the group (of `group_size` experts) of row `t`'s
/// first choice in `host`: on random rows far below every chosen expert of that kept group.
std::int64_t lowest_in_first_choice_group(const test_case& c, const route_outputs& host, std::int64_t t,
                                          int group_size)
{
  const std::int64_t first = host.id(t, 0) / group_size * group_size;
  std::int64_t worst = -1;
  for (std::int64_t e = first; e < first + group_size; ++e) {
    auto b = [&](std::int64_t x) { return c.logit(t, x) + c.bias_value(static_cast<int>(x)); };
    if (worst < 0 || b(e) < b(worst)) worst = e;
  }
  return worst;
}

/// `host` with slots `slot` and `slot + 1` of its first row (a near tie) swapped.
route_outputs flip_near_tie(const route_outputs& host, int slot = 0)
{
  route_outputs swapped = host;
  const auto k = static_cast<std::size_t>(slot);
  std::swap(swapped.ids[k], swapped.ids[k + 1]);
  std::swap(swapped.weights[k], swapped.weights[k + 1]);
  return swapped;
}

}  // namespace

TEST_CASE("float to bf16 rounds to nearest even on every value", "[harness]")
{
  check_rounding(float_to_bf16_bits, bf16_bits_to_float, 0x7f7f, 0x7f80);
  CHECK(float_to_bf16_bits(1.0f + 0x1.0p-8f) == 0x3f80);  // halfway, to even
  CHECK(float_to_bf16_bits(1.0f + 0x1.8p-8f) == 0x3f81);
}

TEST_CASE("float to f16 rounds to nearest even on every value, subnormals and overflow included", "[harness]")
{
  check_rounding(float_to_f16_bits, f16_bits_to_float, 0x7bff, 0x7c00);
  CHECK(float_to_f16_bits(65519.99f) == 0x7bff);
  CHECK(float_to_f16_bits(65520.0f) == 0x7c00);
  CHECK(float_to_f16_bits(0x1.0p-25f) == 0x0000);  // half the smallest subnormal: to even (zero)
  CHECK(float_to_f16_bits(std::nextafter(0x1.0p-25f, 1.0f)) == 0x0001);
  CHECK(float_to_f16_bits(0x1.8p-24f) == 0x0002);  // 1.5 subnormal units: to even
  CHECK(float_to_f16_bits(-0.0f) == 0x8000);
  CHECK(float_to_f16_bits(1e-40f) == 0x0000);
}

TEST_CASE("the generator is deterministic and keeps logits apart from the map", "[harness]")
{
  case_desc d = small_desc(64, 8, 2, 6, scoring_func::sigmoid, 50);
  d.logits_type = data_type::bf16;
  d.row_stride = 70;
  d.expert_map = map_kind::permutation;
  const test_case a = make_case(d, 42), b = make_case(d, 42), other = make_case(d, 43);
  CHECK(a.logits == b.logits);
  CHECK(a.bias == b.bias);
  CHECK(a.expert_map == b.expert_map);
  CHECK(a.logits != other.logits);

  d.expert_map = map_kind::injective;
  const test_case c = make_case(d, 42);
  CHECK(c.logits == a.logits);
  CHECK(c.bias == a.bias);
  CHECK(map_is_injective(c.expert_map));

  std::vector<std::int32_t> sorted = a.expert_map;
  std::sort(sorted.begin(), sorted.end());
  for (int e = 0; e < 64; ++e) CHECK(sorted[static_cast<std::size_t>(e)] == e);

  // the gap holds garbage
  int odd = 0;
  for (std::int64_t t = 0; t < 50; ++t)
    for (int e = 64; e < 70; ++e)
      odd += !std::isfinite(a.logit(t, e)) || std::fabs(a.logit(t, e)) > 1e20f || a.logit(t, e) == 1e-40f;
  CHECK(odd > 0);

  // relayout keeps the values the kernels read
  const test_case f32 = relayout(a, data_type::f32, 0, data_type::f32);
  for (std::int64_t t = 0; t < 50; ++t)
    for (int e = 0; e < 64; ++e) {
      const float x = a.logit(t, e), y = f32.logit(t, e);
      REQUIRE((float_bits(x) == float_bits(y) || (std::isnan(x) && std::isnan(y))));
    }
}

TEST_CASE("nasty inputs contain every row kind", "[harness]")
{
  const test_case c = make_case(small_desc(32, 4, 2, 4, scoring_func::softmax, 200), 7);
  std::set<row_kind> kinds(c.rows.begin(), c.rows.end());
  CHECK(kinds.size() == static_cast<std::size_t>(row_kind::count));
  bool nan = false, inf = false, zero_neg = false;
  for (std::int64_t t = 0; t < 200; ++t)
    for (int e = 0; e < 32; ++e) {
      const float x = c.logit(t, e);
      nan = nan || std::isnan(x);
      inf = inf || std::isinf(x);
      zero_neg = zero_neg || float_bits(x) == 0x80000000u;
    }
  CHECK(nan);
  CHECK(inf);
  CHECK(zero_neg);
}

TEST_CASE("nasty fp16 logits hold fp16 denormals, its largest finite values and overflows to inf", "[harness]")
{
  // What row_kind::half_range is for: the fp32 denormals and huge values of `tiny` and `huge`
  // are all 0 and +-inf in fp16.
  case_desc d = small_desc(64, 8, 2, 6, scoring_func::sigmoid, 400);
  d.logits_type = data_type::f16;
  const test_case c = make_case(d, 11);
  REQUIRE(std::find(c.rows.begin(), c.rows.end(), row_kind::half_range) != c.rows.end());
  int denormals = 0, largest = 0, inf = 0;
  for (std::int64_t t = 0; t < d.num_tokens; ++t) {
    if (c.rows[static_cast<std::size_t>(t)] != row_kind::half_range) continue;
    for (int e = 0; e < d.num_experts; ++e) {
      const float x = c.logit(t, e);
      denormals += x != 0.0f && std::fabs(x) < 0x1p-14f;
      largest += std::fabs(x) >= 65472.0f && std::fabs(x) <= 65504.0f;
      inf += std::isinf(x);
    }
  }
  CHECK(denormals > 0);
  CHECK(largest > 0);
  CHECK(inf > 0);
}

TEST_CASE("the near-tie analysis accepts every host reference row", "[harness]")
{
  // the host's own routing must always pass: otherwise the analysis rejects correct results
  struct shape {
    int E, G, TG, K;
    scoring_func f;
    group_score_kind gs;
  };
  const shape shapes[] = {{256, 8, 4, 8, scoring_func::sigmoid, group_score_kind::top2_sum},
                          {160, 8, 3, 6, scoring_func::softmax, group_score_kind::max},
                          {72, 6, 6, 12, scoring_func::sqrtsoftplus, group_score_kind::max},
                          {16, 8, 2, 3, scoring_func::sigmoid, group_score_kind::top2_sum},
                          {128, 1, 1, 8, scoring_func::softmax, group_score_kind::top2_sum},
                          {33, 1, 1, 5, scoring_func::sqrtsoftplus, group_score_kind::top2_sum}};
  std::uint64_t seed = 1;
  for (const shape& s : shapes)
    for (const data_type type : {data_type::f32, data_type::bf16, data_type::f16}) {
      case_desc d = small_desc(s.E, s.G, s.TG, s.K, s.f, 120);
      d.group_score = s.gs;
      d.logits_type = type;
      const test_case c = make_case(d, seed++);
      const route_outputs host = run_host(c);
      INFO(c.describe());
      for (std::int64_t t = 0; t < c.num_tokens(); ++t) {
        std::vector<int> ids;
        for (int k = 0; k < s.K; ++k) ids.push_back(static_cast<int>(host.id(t, k)));
        const test::detail::row_model model(c, t, tolerance{});
        INFO(c.describe_row(t, std::vector<std::int64_t>(ids.begin(), ids.end())));
        REQUIRE(model.accepts(ids).empty());
      }
      MOE_ROUTER_REQUIRE_OK(check_invariants(c, host));
      MOE_ROUTER_REQUIRE_OK(check_against_host(c, host, host));
    }
}

TEST_CASE("the comparison with the host accepts a routing of logits an ulp away at any scaling factor", "[harness]")
{
  // What another correct kernel may give: the host's own routing of the same rows with every
  // fp32 logit of magnitude under 2 moved by up to an ulp (scores then move by well under
  // `score_rel`), so that near ties flip. With scaling factors at fp32's ends the weights and
  // the shared slot underflow or overflow, and the checker must allow what fp32 gives there.
  const float factors[] = {FLT_TRUE_MIN, 1e-40f, FLT_MIN, 1e-30f, 1.0f, 2.5f, 1e30f, 3e38f, FLT_MAX};
  struct shape {
    int E, G, TG, K;
    scoring_func f;
  };
  // (No softmax: there an ulp of a logit moves x - max by an ulp of the difference, which in a
  // wide row is more than the scores' tolerance.)
  const shape shapes[] = {{256, 8, 4, 8, scoring_func::sigmoid},
                          {64, 1, 1, 6, scoring_func::sigmoid},
                          {72, 6, 3, 6, scoring_func::sqrtsoftplus}};
  std::uint64_t seed = 100;
  std::int64_t near_ties = 0;
  for (const shape& sh : shapes)
    for (const float factor : factors)
      for (int convention = 0; convention < 4; ++convention) {
        case_desc d = small_desc(sh.E, sh.G, sh.TG, sh.K, sh.f, 512);
        d.renormalize = convention < 2;
        d.scale_output = convention % 2 == 0;
        d.routed_scaling_factor = factor;
        d.num_shared_slots = 1;
        d.flavour = seed % 3 == 0 ? input_flavour::random : input_flavour::nasty;
        const test_case c = make_case(d, seed);
        // each value moved by a function of its bits, so that identical logits stay identical
        // (exact ties must still go to the lower index) and only near ties may flip
        test_case moved = c;
        const std::uint64_t direction_seed = derive_seed(seed++, 0x0ab);
        for (std::int64_t i = 0; i < c.num_tokens() * d.stride(); ++i) {
          const float x = load_as_float(c.logits.data(), data_type::f32, i);
          const std::uint64_t direction = derive_seed(direction_seed, float_bits(x)) % 3;
          if (!(std::fabs(x) < 2.0f) || direction == 0) continue;
          store_as(moved.logits, data_type::f32, i, std::nextafter(x, direction == 1 ? 2.0f : -2.0f));
        }
        const route_outputs host = run_host(c);
        const check_result r = check_against_host(c, run_host(moved), host);
        MOE_ROUTER_CHECK_OK(r);
        near_ties += r.near_tie_rows;
      }
  CHECK(near_ties > 0);  // the moved logits did flip some choices
}

TEST_CASE("the comparison with the host catches wrong ids and weights", "[harness]")
{
  case_desc d = small_desc(64, 4, 2, 6, scoring_func::sigmoid, 8);
  d.flavour = input_flavour::random;
  d.num_shared_slots = 1;
  const test_case c = make_case(d, 99);
  const route_outputs host = run_host(c);

  SECTION("identical outputs pass")
  {
    const check_result r = check_against_host(c, host, host);
    CHECK(r.ok);
    CHECK(r.near_tie_rows == 0);
  }
  SECTION("two slots swapped")
  {
    route_outputs bad = host;
    std::swap(bad.ids[0], bad.ids[1]);
    std::swap(bad.weights[0], bad.weights[1]);
    const check_result r = check_against_host(c, bad, host);
    CHECK_FALSE(r.ok);
    CHECK(r.message.find("row 0") != std::string::npos);
  }
  SECTION("an expert that ranks low instead of a chosen one")
  {
    route_outputs bad = host;
    const std::int64_t worst = lowest_in_first_choice_group(c, host, 3, 16);
    for (int k = 0; k < 6; ++k) REQUIRE(host.id(3, k) != worst);
    bad.ids[3 * 7 + 2] = worst;
    const check_result r = check_against_host(c, bad, host);
    CHECK_FALSE(r.ok);
    CHECK(r.message.find("row 3") != std::string::npos);
  }
  SECTION("weights one ulp apart pass, 1e-4 apart fail, NaN against a number fails")
  {
    route_outputs close = host;
    close.weights[2] = std::nextafter(close.weights[2], 2.0f);
    CHECK(check_against_host(c, close, host).ok);
    route_outputs far = host;
    far.weights[2] *= 1.0001f;
    CHECK_FALSE(check_against_host(c, far, host).ok);
    route_outputs nan = host;
    nan.weights[9] = NAN;
    CHECK_FALSE(check_against_host(c, nan, host).ok);
  }
  SECTION("a wrong shared slot id fails")
  {
    route_outputs bad = host;
    bad.ids[6] = 65;
    CHECK_FALSE(check_against_host(c, bad, host).ok);
    CHECK_FALSE(check_invariants(c, bad).ok);
  }
}

TEST_CASE("the comparison with the host catches a padding row that differs", "[harness]")
{
  case_desc d = small_desc(64, 4, 2, 6, scoring_func::sigmoid, 8);
  d.flavour = input_flavour::random;
  d.num_shared_slots = 1;
  d.has_num_valid = true;
  d.num_valid_tokens = 5;  // rows 5, 6 and 7 are padding
  const test_case c = make_case(d, 99);
  const route_outputs host = run_host(c);
  REQUIRE(host.id(6, 0) == -1);
  CHECK(check_against_host(c, host, host).ok);
  for (const int slot : {0, 6}) {  // a routed slot and the shared slot of padding row 6
    INFO("slot " << slot);
    route_outputs id = host;
    id.ids[static_cast<std::size_t>(6 * 7 + slot)] = 3;
    const check_result r = check_against_host(c, id, host);
    CHECK_FALSE(r.ok);
    CHECK(r.message.find("padding differs") != std::string::npos);
    route_outputs weight = host;
    weight.weights[static_cast<std::size_t>(6 * 7 + slot)] = -0.0f;  // 0 is +0.0 in every padding slot
    CHECK_FALSE(check_against_host(c, weight, host).ok);
  }
}

TEST_CASE("the near-tie analysis keeps exact ties in index order and lets near ties flip", "[harness]")
{
  case_desc d = small_desc(16, 1, 1, 4, scoring_func::sigmoid, 1);
  d.flavour = input_flavour::random;
  d.has_bias = false;
  test_case c = make_case(d, 5);

  // an exact tie (identical logits) of experts 3 and 9 at the top: 3 must come first
  for (int e = 0; e < 16; ++e) store_as(c.logits, data_type::f32, e, -1.0f - 0.1f * static_cast<float>(e));
  store_as(c.logits, data_type::f32, 3, 2.0f);
  store_as(c.logits, data_type::f32, 9, 2.0f);
  route_outputs host = run_host(c);
  REQUIRE(host.id(0, 0) == 3);
  REQUIRE(host.id(0, 1) == 9);
  route_outputs swapped = host;
  std::swap(swapped.ids[0], swapped.ids[1]);
  CHECK_FALSE(check_against_host(c, swapped, host).ok);

  // a near tie (neighbouring logits) may come out either way
  store_as(c.logits, data_type::f32, 9, std::nextafter(2.0f, 0.0f));
  host = run_host(c);
  swapped = flip_near_tie(host);
  const check_result r = check_against_host(c, swapped, host);
  INFO(r.message);
  CHECK(r.ok);
  CHECK(r.near_tie_rows == 1);
}

TEST_CASE("the invariants, mapping and bitwise checkers catch breakage", "[harness]")
{
  case_desc d = small_desc(32, 4, 2, 5, scoring_func::softmax, 20);
  d.num_shared_slots = 1;
  d.num_shared_experts = 3;
  d.has_num_valid = true;
  d.num_valid_tokens = 15;
  d.expert_map = map_kind::arbitrary;
  const test_case c = make_case(d, 11);
  const test_case u = without_map(c);
  const route_outputs mapped = run_host(c), unmapped = run_host(u);

  MOE_ROUTER_CHECK_OK(check_invariants(c, mapped));
  MOE_ROUTER_CHECK_OK(check_invariants(u, unmapped));
  MOE_ROUTER_CHECK_OK(check_mapping(c, unmapped, mapped));
  MOE_ROUTER_CHECK_OK(check_bitwise_equal(c, mapped, mapped));

  route_outputs bad = unmapped;
  bad.ids[1] = bad.ids[0];  // a repeated id
  CHECK_FALSE(check_invariants(u, bad).ok);
  route_outputs bad_mapped = mapped;
  bad_mapped.ids[2] = 1000000;  // no value of the map
  CHECK_FALSE(check_mapping(c, unmapped, bad_mapped).ok);
  CHECK_FALSE(check_invariants(c, bad_mapped).ok);

  bad = unmapped;
  bad.weights[6 * 16 + 2] = 1.0f;  // row 16 is padding
  CHECK_FALSE(check_invariants(u, bad).ok);

  // the shared weight of the first row where it is finite, one ulp off
  std::int64_t row = 0;
  while (row < 15 && !std::isfinite(unmapped.weight(row, 5))) ++row;
  REQUIRE(row < 15);
  bad = unmapped;
  bad.weights[static_cast<std::size_t>(6 * row + 5)] = std::nextafter(unmapped.weight(row, 5), INFINITY);
  CHECK_FALSE(check_invariants(u, bad).ok);
  const check_result r = check_bitwise_equal(u, unmapped, bad, "a", "b");
  CHECK_FALSE(r.ok);
  CHECK(r.message.find("row " + std::to_string(row)) != std::string::npos);
  CHECK(r.message.find("slot 5") != std::string::npos);
}

TEST_CASE("each invariant and mapping check catches its own breakage, named in its message", "[harness]")
{
  // One break per check, each on outputs that pass every other check before it, so that the
  // message shows which check caught it.
  case_desc d = small_desc(32, 4, 2, 5, scoring_func::sigmoid, 12);
  d.flavour = input_flavour::random;
  d.num_shared_slots = 1;
  d.expert_map = map_kind::permutation;  // one preimage for every value
  const test_case c = make_case(d, 21);
  const test_case u = without_map(c);
  const route_outputs mapped = run_host(c), unmapped = run_host(u);
  MOE_ROUTER_REQUIRE_OK(check_invariants(c, mapped));
  MOE_ROUTER_REQUIRE_OK(check_invariants(u, unmapped));
  MOE_ROUTER_REQUIRE_OK(check_mapping(c, unmapped, mapped));
  const int slots = d.slots();
  const auto caught = [](const check_result& r, const char* what) {
    INFO(r.message);
    CHECK_FALSE(r.ok);
    CHECK(r.message.find(what) != std::string::npos);
  };

  route_outputs bad = unmapped;
  bad.num_tokens -= 1;
  caught(check_invariants(u, bad), "wrong shape");

  bad = unmapped;
  bad.ids[0] = d.num_experts;
  caught(check_invariants(u, bad), "routed id out of [0, E)");

  bad = mapped;
  bad.ids[1] = bad.ids[0];  // a value of the map twice; it has one preimage
  caught(check_invariants(c, bad), "more often than it has preimages");

  bad = unmapped;
  bad.weights[0] = -bad.weights[0];
  REQUIRE(bad.weights[0] < 0.0f);
  caught(check_invariants(u, bad), "negative weight");

  // every routed weight of row 0 0.1% larger, the shared slot their sum again: only the
  // renormalized sum is wrong
  bad = unmapped;
  float sum = 0.0f;
  for (int k = 0; k < d.topk; ++k) {
    bad.weights[static_cast<std::size_t>(k)] *= 1.001f;
    sum += bad.weights[static_cast<std::size_t>(k)];
  }
  bad.weights[static_cast<std::size_t>(d.topk)] = sum / d.routed_scaling_factor;
  caught(check_invariants(u, bad), "renormalized routed weights sum to");

  bad = unmapped;
  bad.ids[0] = -5;
  caught(check_mapping(c, bad, mapped), "unmapped id out of range");

  bad = mapped;
  bad.weights[static_cast<std::size_t>(slots + 1)] =
    std::nextafter(bad.weights[static_cast<std::size_t>(slots + 1)], INFINITY);
  caught(check_mapping(c, unmapped, bad), "mapped run is not the unmapped run mapped");
}

TEST_CASE("a low-ranked expert in the only slot is caught where its weight is the same", "[harness]")
{
  // K = 1 with renormalize: the one routed weight is 1 whichever expert holds the slot, so only
  // the check that nothing left out ranks above a chosen expert can catch a wrong one.
  case_desc d = small_desc(64, 4, 2, 1, scoring_func::sigmoid, 8);
  d.flavour = input_flavour::random;
  d.num_shared_slots = 1;
  const test_case c = make_case(d, 99);
  const route_outputs host = run_host(c);
  const std::int64_t worst = lowest_in_first_choice_group(c, host, 3, 16);
  REQUIRE(host.id(3, 0) != worst);
  REQUIRE(host.weight(3, 0) == 1.0f);
  route_outputs bad = host;
  bad.ids[3 * 2] = worst;
  const check_result r = check_against_host(c, bad, host);
  INFO(r.message);
  CHECK_FALSE(r.ok);
  CHECK(r.message.find("row 3") != std::string::npos);
  CHECK(r.message.find("was left out but surely ranks above slot 0") != std::string::npos);
}

TEST_CASE("ulp distance counts representable floats between two values", "[harness]")
{
  CHECK(ulp_distance(1.0f, 1.0f) == 0);
  CHECK(ulp_distance(0.0f, -0.0f) == 0);
  CHECK(ulp_distance(1.0f, std::nextafter(1.0f, 2.0f)) == 1);
  CHECK(ulp_distance(-FLT_TRUE_MIN, FLT_TRUE_MIN) == 2);
  CHECK(ulp_distance(1.0f, 2.0f) == (1 << 23));
}

TEST_CASE("a near tie's recomputed weights allow fp32's rounding below the normal range", "[harness]")
{
  // A factor of 2^-149 puts every scaled weight below fp32's normal range, where it rounds to a
  // multiple of 2^-149: a score of 0.88 gives 2^-149 (1.23e-45 exactly), the shared slot
  // (the sum of the four fp32 weights over the factor) a whole number instead of the scores' sum.
  const test_case c = near_tie_case(0x1.0p-149f);
  const route_outputs host = run_host(c);
  REQUIRE(host.id(0, 0) == 3);
  REQUIRE(host.weight(0, 0) == 0x1.0p-149f);

  // the near tie flipped: the recomputation in double (1.23e-45 for each of the two, 2.4 for the
  // shared slot) must allow the fp32 results
  route_outputs swapped = flip_near_tie(host);
  const check_result r = check_against_host(c, swapped, host);
  INFO(r.message);
  CHECK(r.ok);
  CHECK(r.near_tie_rows == 1);
  // but not a weight a step further off than fp32's rounding allows (exact 1.23e-45: 2^-149 at
  // most, or 0)
  swapped.weights[0] = 0x1.0p-148f;
  CHECK_FALSE(check_against_host(c, swapped, host).ok);
}

TEST_CASE("a near tie's recomputed shared slot overflows where fp32's sum does", "[harness]")
{
  // At a factor of 3e38 without renormalization the four scaled weights (about 2.6e38, 2.6e38,
  // 0.8e38, 0.7e38) sum past FLT_MAX: the shared slot is +inf, whichever way the tie goes.
  const test_case c = near_tie_case(3e38f);
  const route_outputs host = run_host(c);
  REQUIRE(host.id(0, 0) == 3);
  REQUIRE(std::isinf(host.weight(0, 4)));
  route_outputs swapped = flip_near_tie(host);
  const check_result r = check_against_host(c, swapped, host);
  INFO(r.message);
  CHECK(r.ok);
  CHECK(r.near_tie_rows == 1);
  swapped.weights[4] = 3.0f;  // finite: more than an fp32 sum below FLT_MAX over 3e38 can be
  CHECK_FALSE(check_against_host(c, swapped, host).ok);
}

TEST_CASE("an overflow may fall either side of fp32's edge but an infinite score's infinity is exact", "[harness]")
{
  // Renormalized and scaled by FLT_MAX, the weights sum to FLT_MAX times about 1: the shared
  // slot's fp32 sum overflows or not by a rounding, so an infinity against the largest finite
  // value there is within the contract.
  {
    const test_case c = make_case(scaled_desc(scoring_func::sigmoid, 4, FLT_MAX, true), 11);
    const route_outputs host = run_host(c);
    route_outputs other = host;
    for (std::int64_t t = 0; t < c.num_tokens(); ++t) {
      float& shared = other.weights[static_cast<std::size_t>(t * other.slots + 4)];
      shared = std::isinf(shared) ? std::nextafter(1.0f, 0.0f) : INFINITY;
    }
    MOE_ROUTER_CHECK_OK(check_against_host(c, other, host));
    other.weights[4] = 0.5f;  // far from the edge, whichever side the host's is
    CHECK_FALSE(check_against_host(c, other, host).ok);
  }
  // sqrtsoftplus of +inf is +inf: that weight, and the shared slot, are exactly +inf, and the
  // largest finite values in their place are wrong
  {
    case_desc d = scaled_desc(scoring_func::sqrtsoftplus, 1, 2.5f, false);
    d.has_bias = false;
    test_case c = make_case(d, 13);
    for (int e = 0; e < 16; ++e) store_as(c.logits, data_type::f32, e, -1.0f - 0.1f * static_cast<float>(e));
    store_as(c.logits, data_type::f32, 6, INFINITY);
    const route_outputs host = run_host(c);
    REQUIRE(host.id(0, 0) == 6);
    REQUIRE(std::isinf(host.weight(0, 0)));
    REQUIRE(std::isinf(host.weight(0, 4)));
    route_outputs off = host;
    off.weights[0] = FLT_MAX;
    CHECK_FALSE(check_against_host(c, off, host).ok);
    off = host;
    off.weights[4] = static_cast<float>(test::detail::fp32_overflow_edge / 2.5);
    CHECK_FALSE(check_against_host(c, off, host).ok);

    // the same in a row whose near tie flipped (the weights recomputed in double)
    store_as(c.logits, data_type::f32, 2, 2.0f);
    store_as(c.logits, data_type::f32, 9, std::nextafter(2.0f, 0.0f));
    const route_outputs tied = run_host(c);
    REQUIRE(tied.id(0, 1) == 2);
    route_outputs swapped = flip_near_tie(tied, 1);
    const check_result r = check_against_host(c, swapped, tied);
    INFO(r.message);
    CHECK(r.ok);
    CHECK(r.near_tie_rows == 1);
    swapped.weights[0] = FLT_MAX;
    CHECK_FALSE(check_against_host(c, swapped, tied).ok);
  }
}

TEST_CASE("weights of the same ids allow fp32's rounding below the normal range and no more", "[harness]")
{
  // Scores a few ulp apart, scaled by a subnormal factor, may round to neighbouring multiples of
  // 2^-149, and the shared slot, the sum of the K weights over the factor, then differs by
  // 2^-149 / factor: 1.4e-5 on about 2 here, some 30 ulp.
  const case_desc d = scaled_desc(scoring_func::sigmoid, 1, 1e-40f, false);
  const test_case c = make_case(d, 7);
  const route_outputs host = run_host(c);
  const float step = 0x1.0p-149f;
  route_outputs off = host;
  off.weights[0] += step;
  off.weights[4] += step / d.routed_scaling_factor;
  INFO(host.describe_row(0));
  REQUIRE(ulp_distance(off.weights[4], host.weights[4]) > tolerance{}.weight_ulps);
  MOE_ROUTER_CHECK_OK(check_against_host(c, off, host));
  // each side may be 2^-149 (1 + factor) off a routed weight, so the shared slot 2 K such steps
  // (and 2^-149) over the factor: 10 steps are too many
  off.weights[4] = host.weights[4] + 10 * step / d.routed_scaling_factor;
  CHECK_FALSE(check_against_host(c, off, host).ok);
  // nor an infinity where no sum comes near overflow
  off = host;
  off.weights[4] = INFINITY;
  CHECK_FALSE(check_against_host(c, off, host).ok);
}

TEST_CASE("subnormal scores widen the weight tolerance only as far as they must", "[harness]")
{
  case_desc d = small_desc(8, 1, 1, 2, scoring_func::sigmoid, 2);
  d.flavour = input_flavour::random;
  d.has_bias = false;
  test_case c = make_case(d, 3);
  // row 0: every score subnormal (about 3e-39, known to about 1e-44: the literal fp32 sigmoid
  // is 0 below -88.72, subnormal just above); row 1: ordinary scores
  for (int e = 0; e < 8; ++e) {
    store_as(c.logits, data_type::f32, e, -88.70f - 0.002f * static_cast<float>(e));
    store_as(c.logits, data_type::f32, 8 + e, 1.0f - 0.5f * static_cast<float>(e));
  }
  const route_outputs host = run_host(c);
  REQUIRE(host.id(0, 0) == 0);
  REQUIRE(host.weight(0, 0) > 0.5f);

  route_outputs off = host;
  // 3e-6: within what a subnormal exp result (1e-44 of about 3e-39) can move a renormalized
  // weight, about 3.4e-6 besides the ordinary 1e-6
  off.weights[0] *= 1.000003f;
  MOE_ROUTER_CHECK_OK(check_against_host(c, off, host));
  off.weights[0] = host.weights[0] * 1.2f;  // 20%: far beyond
  CHECK_FALSE(check_against_host(c, off, host).ok);
  off = host;
  off.weights[2] *= 1.000003f;  // the same 3e-6 on ordinary scores
  CHECK_FALSE(check_against_host(c, off, host).ok);
}

TEST_CASE("large K widens the weight tolerance by the roundings of its sums, and only then", "[harness]")
{
  for (const int K : {2, 64}) {
    case_desc d = small_desc(64, 1, 1, K, scoring_func::sigmoid, 4);
    d.flavour = input_flavour::random;
    d.renormalize = true;
    d.num_shared_slots = 1;
    const test_case c = make_case(d, 17);
    const route_outputs host = run_host(c);
    route_outputs off = host;
    off.weights[0] *= 1.000003f;  // 3e-6: within 2 * 63 roundings of 2^-24, beyond 2 * 1
    const bool expected = K == 64;
    CHECK(check_against_host(c, off, host).ok == expected);
    off = host;
    off.weights[static_cast<std::size_t>(K)] *= 1.000006f;  // the shared slot rounds another K - 1 times
    CHECK(check_against_host(c, off, host).ok == expected);
  }
}

TEST_CASE("the widths of subnormal scores stay finite where the shared slot's sum overflows", "[harness]")
{
  // Three scores near 0.85 and one subnormal, scaled by FLT_MAX / 2 without renormalizing: the
  // routed weights are finite, their fp32 sum overflows, and the host's shared slot is inf. A
  // finite shared slot at fp32's edge (FLT_MAX / factor: the sum rounded down instead of up)
  // is an overflow on the other side of the edge, and the subnormal score's slot moved by what
  // its width allows must pass with it: the widths of the subnormal scores, scaled and summed,
  // must not overflow themselves (an infinite width minus another is NaN, and NaN rejects all).
  case_desc d = scaled_desc(scoring_func::sigmoid, 1, FLT_MAX / 2, false);
  d.has_bias = false;
  test_case c = make_case(d, 3);
  for (int e = 0; e < 16; ++e) store_as(c.logits, data_type::f32, e, -88.70f - 0.002f * static_cast<float>(e));
  for (int e = 0; e < 3; ++e) store_as(c.logits, data_type::f32, e, 2.0f - 0.25f * static_cast<float>(e));
  const route_outputs host = run_host(c);
  INFO(host.describe_row(0));
  REQUIRE(host.id(0, 3) == 3);  // the first subnormal score
  REQUIRE(std::isfinite(host.weight(0, 2)));
  REQUIRE(std::isinf(host.weight(0, 4)));
  route_outputs off = host;
  off.weights[3] *= 1.000002f;  // within the subnormal score's width only
  MOE_ROUTER_CHECK_OK(check_against_host(c, off, host));
  off.weights[4] = FLT_MAX / d.routed_scaling_factor;
  MOE_ROUTER_CHECK_OK(check_against_host(c, off, host));
  off.weights[4] = 1.0f;  // far below the edge
  CHECK_FALSE(check_against_host(c, off, host).ok);
}
