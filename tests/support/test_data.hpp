/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file test_data.hpp
 * @brief Inputs for routing tests: a description of one call (`case_desc`), the host inputs
 * generated from it and a seed (`test_case`, `make_case`), and the float -> bf16 / f16
 * conversions the generator needs.
 *
 * Plain C++ (host tests use it too). The generator is deterministic for a given seed: it draws
 * its own uniform and normal numbers from `std::mt19937_64`, never through the standard
 * distributions, whose results differ between standard libraries.
 *
 * Inputs come in two flavours. `random`: normal logits with a per-row spread. `nasty`: about
 * half the rows are one of the `row_kind`s below (ties inside and across groups, equal groups,
 * NaN, infinities, huge values, denormals, signed zeros, values that collapse to one value in
 * bf16 / f16, neighbouring floats, logits whose scores are subnormal), and the bias is periodic per group (so that
 * equal groups score exactly equal) with -inf entries and ties. Whenever `row_stride > E`, the gap after the E logits
 * of every row holds NaN, infinities and huge values that must not change anything.
 */

#include <moe_router/numeric.hpp>
#include <moe_router/types.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace moe_router {
namespace test {

// ---- bit patterns and conversions ------------------------------------------------------------

/// The bits of a float.
inline std::uint32_t float_bits(float f)
{
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

/// The float of some bits.
inline float bits_to_float(std::uint32_t u)
{
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// float -> bfloat16 bits, round to nearest even; overflow gives inf; NaN stays a (quiet) NaN.
inline std::uint16_t float_to_bf16_bits(float f)
{
  const std::uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);
  const std::uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>((u + rounding) >> 16);
}

/// float -> IEEE half bits, round to nearest even, subnormals included; overflow gives inf;
/// NaN stays a (quiet) NaN.
inline std::uint16_t float_to_f16_bits(float f)
{
  const std::uint32_t u = float_bits(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  const std::uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // >= 65520: inf
  if (a >= 0x38800000u) {                                                   // >= 2^-14: normal
    const std::uint32_t rounded = a + 0xfffu + ((a >> 13) & 1u);
    return static_cast<std::uint16_t>(sign | ((rounded - (112u << 23)) >> 13));
  }
  if (a <= 0x33000000u) return sign;  // <= 2^-25 (half of the smallest subnormal): zero
  // subnormal: the value in units of 2^-24 is m * 2^(e - 126), rounded to nearest even
  const std::uint32_t e = a >> 23;
  const std::uint32_t m = (a & 0x7fffffu) | 0x800000u;
  const std::uint32_t shift = 126u - e;  // 14 .. 24
  std::uint32_t r = m >> shift;
  const std::uint32_t rest = m & ((1u << shift) - 1u);
  const std::uint32_t half = 1u << (shift - 1u);
  if (rest > half || (rest == half && (r & 1u))) ++r;
  return static_cast<std::uint16_t>(sign | r);
}

/// `x` after a round trip through `type` (what a kernel reads when `x` is stored as `type`).
inline float round_to(data_type type, float x)
{
  if (type == data_type::bf16) return bf16_bits_to_float(float_to_bf16_bits(x));
  if (type == data_type::f16) return f16_bits_to_float(float_to_f16_bits(x));
  return x;
}

/// Store `x` as element `index` of a byte array of `type` elements.
inline void store_as(std::vector<unsigned char>& bytes, data_type type, std::int64_t index, float x)
{
  unsigned char* p = bytes.data() + index * size_of(type);
  if (type == data_type::f32) {
    std::memcpy(p, &x, 4);
  } else {
    const std::uint16_t h = type == data_type::bf16 ? float_to_bf16_bits(x) : float_to_f16_bits(x);
    std::memcpy(p, &h, 2);
  }
}

// ---- seeds and random numbers ----------------------------------------------------------------

/// splitmix64: a good 64-bit mix, to derive independent seeds from one.
inline std::uint64_t mix_seed(std::uint64_t x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// The seed of input `index` of a test run with base seed `base`.
inline std::uint64_t derive_seed(std::uint64_t base, std::uint64_t index) { return mix_seed(base ^ mix_seed(index)); }

/**
 * @brief The base seed of this run: `MOE_ROUTER_TEST_SEED` (decimal or 0x-hex) if set, else a
 * fresh one. Printed once, so that any failure can be replayed.
 */
inline std::uint64_t base_seed()
{
  static const std::uint64_t seed = [] {
    const char* env = std::getenv("MOE_ROUTER_TEST_SEED");
    std::uint64_t s;
    if (env != nullptr && *env != '\0') {
      s = std::strtoull(env, nullptr, 0);
    } else {
      std::random_device device;
      s = (static_cast<std::uint64_t>(device()) << 32) ^ device();
    }
    std::printf("moe_router tests: seed 0x%016llx (set MOE_ROUTER_TEST_SEED=0x%016llx to replay)\n",
                static_cast<unsigned long long>(s), static_cast<unsigned long long>(s));
    std::fflush(stdout);
    return s;
  }();
  return seed;
}

/// Random draws with the same results on every platform for a given seed.
class test_rng {
 public:
  explicit test_rng(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t bits() { return engine_(); }
  /// Uniform in [0, 1).
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Uniform integer in [0, n), n >= 1 (the modulo bias is irrelevant here).
  std::int64_t below(std::int64_t n) { return static_cast<std::int64_t>(engine_() % static_cast<std::uint64_t>(n)); }
  /// True with probability p.
  bool chance(double p) { return uniform() < p; }
  /// Standard normal (Box-Muller).
  double normal()
  {
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  template <class T>
  void shuffle(std::vector<T>& v)
  {
    for (std::size_t i = v.size(); i > 1; --i)
      std::swap(v[i - 1], v[static_cast<std::size_t>(below(static_cast<std::int64_t>(i)))]);
  }

 private:
  std::mt19937_64 engine_;
};

// ---- the description of one call -------------------------------------------------------------

/// The expert_map of a case.
enum class map_kind : int {
  none,         ///< no expert_map
  permutation,  ///< a random permutation of 0..E-1
  injective,    ///< distinct arbitrary int32 values (negative and huge ones included)
  arbitrary     ///< many-to-one values in [-1, E/2]
};

/// What the logits look like.
enum class input_flavour : int {
  random,  ///< normal logits, a random spread per row; normal bias
  nasty    ///< about half the rows of a `row_kind` below, periodic bias with -inf and ties
};

/// What one row of logits is made of.
enum class row_kind : int {
  random,              ///< normal, spread 0.5 .. 3
  wide,                ///< normal, spread 8 (saturated sigmoid scores: ties at 1.0)
  ties_in_group,       ///< exact ties inside each group, at its top included
  ties_across_groups,  ///< the same top values in several groups
  equal_groups,        ///< every group a copy of group 0 (equal group scores)
  all_equal,           ///< one value everywhere
  some_nan,            ///< NaN logits (several payloads) among normal ones, one at the maximum
  all_nan,             ///< NaN everywhere
  infinities,          ///< +inf and -inf among normal logits
  all_neg_inf,         ///< -inf everywhere
  all_pos_inf,         ///< +inf everywhere
  huge,                ///< +-1e30, +-FLT_MAX, +-3e38 among normal logits
  very_negative,       ///< -1e30 everywhere (every sigmoid score 0: renormalize divides by 1)
  tiny,                ///< denormals, +-FLT_MIN, +-0.0 (every sigmoid score 0.5)
  signed_zeros,        ///< only -0.0 and +0.0 (ties that -0.0 == +0.0 must keep)
  collapse,            ///< values within 2^-12 of each other: equal after rounding to bf16 / f16
  neighbours,          ///< values a few ulp apart
  underflow,           ///< -104 .. -80, some 0: sigmoid scores normal, subnormal (-88.72 .. -87.34) and 0 (below,
                       ///< many ties), subnormal softmax numerators
  half_range,          ///< fp16's edges: only its denormals (k * 2^-24) and smallest normal, or normal logits
                       ///< among its largest finite values and the first ones that round to +-inf
  count
};

/// Printable name of a row kind.
inline const char* to_string(row_kind k)
{
  static const char* const names[] = {
      "random",        "wide",    "ties_in_group", "ties_across_groups", "equal_groups", "all_equal",
      "some_nan",      "all_nan", "infinities",    "all_neg_inf",        "all_pos_inf",  "huge",
      "very_negative", "tiny",    "signed_zeros",  "collapse",           "neighbours",   "underflow",
      "half_range"};
  static_assert(sizeof(names) / sizeof(names[0]) == static_cast<int>(row_kind::count), "a name per row kind");
  return names[static_cast<int>(k)];
}
/// Printable name of a map kind.
inline const char* to_string(map_kind k)
{
  return k == map_kind::none          ? "none"
         : k == map_kind::permutation ? "permutation"
         : k == map_kind::injective   ? "injective"
                                      : "arbitrary";
}
/// Printable name of a flavour.
inline const char* to_string(input_flavour f) { return f == input_flavour::random ? "random" : "nasty"; }

/// One routing call to test: shape, options, input types and what the inputs look like.
struct case_desc {
  const char* label = "";  ///< model name or purpose, for messages
  // shape
  int num_experts = 8;
  int num_groups = 1;
  int topk_group = 1;
  int topk = 2;
  scoring_func scoring = scoring_func::softmax;
  group_score_kind group_score = group_score_kind::top2_sum;
  // input and output types
  data_type logits_type = data_type::f32;
  bool has_bias = false;
  data_type bias_type = data_type::f32;
  index_type ids_type = index_type::i32;
  std::int64_t row_stride = 0;  ///< 0 = E; else >= E, the gap filled with garbage
  int logits_offset = 0;        ///< on the device, elements of garbage before the first row (0:
                                ///< the logits start 16-byte aligned; 1: they start one element past)
  std::int64_t num_tokens = 1;
  // options
  bool renormalize = true;
  bool scale_output = false;
  float routed_scaling_factor = 1.0f;
  int num_shared_slots = 0;
  int num_shared_experts = 1;
  map_kind expert_map = map_kind::none;
  bool has_num_valid = false;         ///< pass a device-side count
  std::int32_t num_valid_tokens = 0;  ///< the count (may be negative or exceed num_tokens)
  input_flavour flavour = input_flavour::random;

  int slots() const { return topk + num_shared_slots; }
  std::int64_t stride() const { return row_stride == 0 ? num_experts : row_stride; }

  /// One line: every field that matters.
  std::string describe() const
  {
    char line[512];
    std::snprintf(
        line, sizeof line,
        "%s: E=%d G=%d TG=%d K=%d %s%s%s logits=%s bias=%s ids=%s stride=%lld logits_offset=%d T=%lld "
        "renormalize=%d scale_output=%d factor=%g S=%d NS=%d map=%s num_valid=%s%d flavour=%s",
        label, num_experts, num_groups, topk_group, topk, to_string(scoring), num_groups > 1 ? " group=" : "",
        num_groups > 1 ? to_string(group_score) : "", to_string(logits_type), has_bias ? to_string(bias_type) : "none",
        to_string(ids_type), static_cast<long long>(stride()), logits_offset, static_cast<long long>(num_tokens),
        renormalize, scale_output, static_cast<double>(routed_scaling_factor), num_shared_slots, num_shared_experts,
        to_string(expert_map), has_num_valid ? "" : "none/", has_num_valid ? num_valid_tokens : 0, to_string(flavour));
    return line;
  }
};

// ---- the generated inputs --------------------------------------------------------------------

/// The host inputs of one case, generated from a `case_desc` and a seed by `make_case`.
struct test_case {
  case_desc desc;
  std::uint64_t seed = 0;
  std::vector<unsigned char> logits;     ///< [T, stride] elements of desc.logits_type
  std::vector<unsigned char> bias;       ///< [E] elements of desc.bias_type; empty without bias
  std::vector<std::int32_t> expert_map;  ///< [E]; empty without map
  std::vector<row_kind> rows;            ///< what each row was made as

  std::int64_t num_tokens() const { return desc.num_tokens; }
  int slots() const { return desc.slots(); }
  /// Rows before this one are routed, the rest are padding.
  std::int64_t valid_rows() const
  {
    if (!desc.has_num_valid) return desc.num_tokens;
    return desc.num_valid_tokens < 0 ? 0 : std::min<std::int64_t>(desc.num_valid_tokens, desc.num_tokens);
  }
  /// Logit (t, e) as the kernels read it (e may point into the gap).
  float logit(std::int64_t t, std::int64_t e) const
  {
    return load_as_float(logits.data(), desc.logits_type, t * desc.stride() + e);
  }
  /// Bias of expert e as the kernels read it; 0 without bias.
  float bias_value(int e) const { return bias.empty() ? 0.0f : load_as_float(bias.data(), desc.bias_type, e); }

  /// Shape, options and types, with host input pointers; outputs null.
  route_params params() const
  {
    route_params p;
    p.num_experts = desc.num_experts;
    p.num_groups = desc.num_groups;
    p.topk_group = desc.topk_group;
    p.topk = desc.topk;
    p.scoring = desc.scoring;
    p.group_score = desc.group_score;
    p.logits = logits.empty() ? nullptr : logits.data();
    p.logits_type = desc.logits_type;
    p.row_stride = desc.row_stride;
    p.num_tokens = desc.num_tokens;
    p.bias = bias.empty() ? nullptr : bias.data();
    p.bias_type = desc.bias_type;
    p.expert_map = expert_map.empty() ? nullptr : expert_map.data();
    p.num_valid_tokens = desc.has_num_valid ? &desc.num_valid_tokens : nullptr;
    p.renormalize = desc.renormalize;
    p.scale_output = desc.scale_output;
    p.routed_scaling_factor = desc.routed_scaling_factor;
    p.num_shared_slots = desc.num_shared_slots;
    p.num_shared_experts = desc.num_shared_experts;
    p.ids_type = desc.ids_type;
    return p;
  }

  /// The description and the seed, one line.
  std::string describe() const
  {
    char s[40];
    std::snprintf(s, sizeof s, " seed=0x%016llx", static_cast<unsigned long long>(seed));
    return desc.describe() + s;
  }

  /// Row t's kind and inputs: the logits and bias of `experts` (all of them when E <= 64).
  std::string describe_row(std::int64_t t, const std::vector<std::int64_t>& experts = {}) const
  {
    std::string s = "row " + std::to_string(t) + " (" +
                    (t < static_cast<std::int64_t>(rows.size()) ? to_string(rows[static_cast<std::size_t>(t)]) : "?") +
                    (t >= valid_rows() ? ", padding" : "") + ")";
    std::vector<std::int64_t> shown;
    if (desc.num_experts <= 64) {
      for (int e = 0; e < desc.num_experts; ++e) shown.push_back(e);
    } else {
      for (std::int64_t e : experts)
        if (e >= 0 && e < desc.num_experts) shown.push_back(e);
      std::sort(shown.begin(), shown.end());
      shown.erase(std::unique(shown.begin(), shown.end()), shown.end());
    }
    for (std::int64_t e : shown) {
      char item[128];
      const float x = logit(t, e);
      const float b = bias_value(static_cast<int>(e));
      std::snprintf(item, sizeof item, "\n  expert %lld: logit %.9g (0x%08x)%s", static_cast<long long>(e),
                    static_cast<double>(x), float_bits(x), bias.empty() ? "" : ", bias ");
      s += item;
      if (!bias.empty()) {
        std::snprintf(item, sizeof item, "%.9g (0x%08x)", static_cast<double>(b), float_bits(b));
        s += item;
      }
      if (!expert_map.empty()) s += ", maps to " + std::to_string(expert_map[static_cast<std::size_t>(e)]);
    }
    return s;
  }
};

namespace detail {

/// NaN payloads the generator uses (never the output poison patterns).
inline float some_nan(test_rng& rng)
{
  static const std::uint32_t patterns[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u,
                                           0x7fc12345u, 0xffbfffffu, 0x7fffffffu};
  return bits_to_float(patterns[rng.below(6)]);
}

/// Fill x[0..E) with a row of kind `kind` (float values; rounding to the logits type is later).
inline void fill_row(row_kind kind, const case_desc& d, test_rng& rng, float* x)
{
  const int E = d.num_experts, G = d.num_groups, group_size = E / G;
  auto normal_row = [&](double spread) {
    for (int e = 0; e < E; ++e) x[e] = static_cast<float>(spread * rng.normal());
  };
  auto argmax = [&] {
    int best = 0;
    for (int e = 1; e < E; ++e)
      if (x[e] > x[best]) best = e;
    return best;
  };
  switch (kind) {
    case row_kind::random:
      normal_row(rng.uniform(0.5, 3.0));
      break;
    case row_kind::wide:
      normal_row(8.0);
      break;
    case row_kind::ties_in_group:
      normal_row(1.0);
      for (int g = 0; g < G; ++g) {
        float* group = x + g * group_size;
        int top = 0;
        for (int i = 1; i < group_size; ++i)
          if (group[i] > group[top]) top = i;
        for (int copies = 0; copies < 2; ++copies) group[rng.below(group_size)] = group[top];  // ties at the top
        group[rng.below(group_size)] = group[rng.below(group_size)];                           // and elsewhere
      }
      break;
    case row_kind::ties_across_groups: {
      normal_row(1.0);
      const float top = x[argmax()] + 1.0f, second = top - 0.5f;
      for (int g = 0; g < G; ++g) {
        if (G > 1 && rng.chance(0.3)) continue;
        x[g * group_size + rng.below(group_size)] = top;
        x[g * group_size + rng.below(group_size)] = second;
      }
      break;
    }
    case row_kind::equal_groups:
      normal_row(1.0);
      for (int e = group_size; e < E; ++e) x[e] = x[e % group_size];
      break;
    case row_kind::all_equal: {
      const float v = rng.chance(0.2) ? 0.0f : static_cast<float>(2.0 * rng.normal());
      for (int e = 0; e < E; ++e) x[e] = v;
      break;
    }
    case row_kind::some_nan: {
      normal_row(1.0);
      x[argmax()] = some_nan(rng);
      const int n = 1 + static_cast<int>(rng.below(1 + E / 4));
      for (int i = 0; i < n; ++i) x[rng.below(E)] = some_nan(rng);
      break;
    }
    case row_kind::all_nan:
      for (int e = 0; e < E; ++e) x[e] = some_nan(rng);
      break;
    case row_kind::infinities: {
      normal_row(1.0);
      const int n = 1 + static_cast<int>(rng.below(1 + E / 4));
      for (int i = 0; i < n; ++i) x[rng.below(E)] = rng.chance(0.5) ? INFINITY : -INFINITY;
      break;
    }
    case row_kind::all_neg_inf:
      for (int e = 0; e < E; ++e) x[e] = -INFINITY;
      break;
    case row_kind::all_pos_inf:
      for (int e = 0; e < E; ++e) x[e] = INFINITY;
      break;
    case row_kind::huge: {
      static const float values[] = {1e30f, -1e30f, FLT_MAX, -FLT_MAX, 3e38f, -3e38f, 1e30f, 1e20f};
      normal_row(1.0);
      const int n = 1 + static_cast<int>(rng.below(1 + E / 3));
      for (int i = 0; i < n; ++i) x[rng.below(E)] = values[rng.below(8)];
      break;
    }
    case row_kind::very_negative:
      for (int e = 0; e < E; ++e) x[e] = rng.chance(0.1) ? -FLT_MAX : -1e30f;
      break;
    case row_kind::tiny: {
      static const float values[] = {1e-40f,   -1e-40f, FLT_TRUE_MIN, -FLT_TRUE_MIN, FLT_MIN,
                                     -FLT_MIN, 0.0f,    -0.0f,        1e-39f};
      for (int e = 0; e < E; ++e) x[e] = values[rng.below(9)];
      break;
    }
    case row_kind::signed_zeros:
      for (int e = 0; e < E; ++e) x[e] = rng.chance(0.5) ? 0.0f : -0.0f;
      break;
    case row_kind::collapse: {
      const double v = 1.0 + rng.uniform();
      for (int e = 0; e < E; ++e) x[e] = static_cast<float>(v * (1.0 + 0x1.0p-12 * rng.uniform(-1.0, 1.0)));
      break;
    }
    case row_kind::neighbours: {
      const float v = static_cast<float>(rng.normal());
      for (int e = 0; e < E; ++e) {
        float y = v;
        for (std::int64_t k = rng.below(7) - 3; k != 0; k += k > 0 ? -1 : 1)
          y = std::nextafter(y, k > 0 ? INFINITY : -INFINITY);
        x[e] = y;
      }
      break;
    }
    case row_kind::underflow:
      for (int e = 0; e < E; ++e) x[e] = static_cast<float>(rng.uniform(-104.0, -80.0));
      if (rng.chance(0.5)) x[rng.below(E)] = 0.0f;
      break;
    case row_kind::half_range:
      // `tiny`'s values are all 0 in fp16 and `huge`'s all +-inf: these are not. The fp32 and
      // bf16 logits take the same values (bf16 rounds the denormals' low bits away).
      if (rng.chance(0.5)) {
        for (int e = 0; e < E; ++e)
          x[e] = rng.chance(0.1) ? 0x1p-14f : static_cast<float>(rng.below(2047) - 1023) * 0x1p-24f;
      } else {
        static const float values[] = {65504.0f, -65504.0f, 65472.0f, 65520.0f, -65520.0f, 1e5f};
        constexpr int count = static_cast<int>(sizeof values / sizeof values[0]);
        normal_row(1.0);
        const int n = 1 + static_cast<int>(rng.below(1 + E / 3));
        for (int i = 0; i < n; ++i) x[rng.below(E)] = values[rng.below(count)];
      }
      break;
    case row_kind::count:
      break;
  }
}

/// Garbage for the gap between E and the row stride.
inline float gap_value(test_rng& rng)
{
  static const float values[] = {NAN, INFINITY, -INFINITY, 1e30f, -FLT_MAX, FLT_MAX, 1e-40f};
  return values[rng.below(7)];
}

}  // namespace detail

/**
 * @brief Generate the inputs of `desc` from `seed`. Logits, bias and map come from independent
 * streams of the seed: cases that differ only in the map kind, the options or the output
 * types get the same logits and bias.
 */
inline test_case make_case(const case_desc& desc, std::uint64_t seed)
{
  test_case c;
  c.desc = desc;
  c.seed = seed;
  const int E = desc.num_experts;
  const std::int64_t T = desc.num_tokens, stride = desc.stride();

  // logits
  test_rng rng(derive_seed(seed, 1));
  c.logits.assign(static_cast<std::size_t>(T * stride * size_of(desc.logits_type)), 0);
  c.rows.assign(static_cast<std::size_t>(T), row_kind::random);
  std::vector<float> x(static_cast<std::size_t>(E));
  const int nasty_kinds = static_cast<int>(row_kind::count) - 1;  // every kind but `random`
  const std::int64_t first_kind = rng.below(nasty_kinds);
  std::int64_t next_nasty = 0;
  for (std::int64_t t = 0; t < T; ++t) {
    row_kind kind = row_kind::random;
    if (desc.flavour == input_flavour::nasty && (T == 1 || rng.chance(0.5)))
      kind = static_cast<row_kind>(1 + (first_kind + next_nasty++) % nasty_kinds);
    c.rows[static_cast<std::size_t>(t)] = kind;
    detail::fill_row(kind, desc, rng, x.data());
    for (int e = 0; e < E; ++e) store_as(c.logits, desc.logits_type, t * stride + e, x[static_cast<std::size_t>(e)]);
    for (std::int64_t e = E; e < stride; ++e)
      store_as(c.logits, desc.logits_type, t * stride + e, detail::gap_value(rng));
  }

  // bias
  if (desc.has_bias) {
    test_rng brng(derive_seed(seed, 2));
    c.bias.assign(static_cast<std::size_t>(E * size_of(desc.bias_type)), 0);
    const int group_size = E / desc.num_groups;
    std::vector<float> period(static_cast<std::size_t>(group_size));
    for (int i = 0; i < group_size; ++i) {
      float v = static_cast<float>(0.5 * brng.normal());
      if (i > 0 && brng.chance(0.15)) v = period[static_cast<std::size_t>(i - 1)];  // ties
      if (brng.chance(0.1)) v = -INFINITY;
      period[static_cast<std::size_t>(i)] = v;
    }
    for (int e = 0; e < E; ++e) {
      const float v = desc.flavour == input_flavour::nasty ? period[static_cast<std::size_t>(e % group_size)]
                                                           : static_cast<float>(0.5 * brng.normal());
      store_as(c.bias, desc.bias_type, e, v);
    }
  }

  // expert map
  if (desc.expert_map != map_kind::none) {
    test_rng mrng(derive_seed(seed, 3));
    c.expert_map.resize(static_cast<std::size_t>(E));
    if (desc.expert_map == map_kind::permutation) {
      for (int e = 0; e < E; ++e) c.expert_map[static_cast<std::size_t>(e)] = e;
      mrng.shuffle(c.expert_map);
    } else if (desc.expert_map == map_kind::injective) {
      std::vector<std::int32_t> used;
      for (int e = 0; e < E; ++e) {
        std::int32_t v;
        do {
          v = static_cast<std::int32_t>(static_cast<std::uint32_t>(mrng.bits()));
        } while (v == 0x7eadbeef || std::find(used.begin(), used.end(), v) != used.end());
        used.push_back(v);
        c.expert_map[static_cast<std::size_t>(e)] = v;
      }
    } else {
      for (int e = 0; e < E; ++e)
        c.expert_map[static_cast<std::size_t>(e)] = static_cast<std::int32_t>(mrng.below(E / 2 + 2)) - 1;
    }
  }
  return c;
}

/// A copy of `c` without expert_map (same logits and bias).
inline test_case without_map(const test_case& c)
{
  test_case u = c;
  u.desc.expert_map = map_kind::none;
  u.expert_map.clear();
  return u;
}

/**
 * @brief A copy of `c` with its logits stored as `logits_type` with `row_stride` (0 = E), and its
 * bias as `bias_type`; the gap, if any, filled with garbage. The values are the ones the kernels
 * read from `c`: converting to f32, or to the type `c` already has, keeps them exactly, so the
 * copy must route bit for bit like `c`.
 */
inline test_case relayout(const test_case& c, data_type logits_type, std::int64_t row_stride, data_type bias_type)
{
  test_case r = c;
  r.desc.logits_type = logits_type;
  r.desc.row_stride = row_stride;
  r.desc.bias_type = bias_type;
  const int E = c.desc.num_experts;
  const std::int64_t T = c.num_tokens(), stride = r.desc.stride();
  test_rng rng(derive_seed(c.seed, 4));
  r.logits.assign(static_cast<std::size_t>(T * stride * size_of(logits_type)), 0);
  for (std::int64_t t = 0; t < T; ++t) {
    for (int e = 0; e < E; ++e) store_as(r.logits, logits_type, t * stride + e, c.logit(t, e));
    for (std::int64_t e = E; e < stride; ++e) store_as(r.logits, logits_type, t * stride + e, detail::gap_value(rng));
  }
  if (!c.bias.empty()) {
    r.bias.assign(static_cast<std::size_t>(E * size_of(bias_type)), 0);
    for (int e = 0; e < E; ++e) store_as(r.bias, bias_type, e, c.bias_value(e));
  }
  return r;
}

/// "MOE_ROUTER_TEST_SEED=0x...": how to replay this run.
inline std::string replay_note()
{
  char s[64];
  std::snprintf(s, sizeof s, "MOE_ROUTER_TEST_SEED=0x%016llx", static_cast<unsigned long long>(base_seed()));
  return s;
}

/// Whether every value of the map is distinct (the map can be inverted).
inline bool map_is_injective(const std::vector<std::int32_t>& map)
{
  std::vector<std::int32_t> sorted = map;
  std::sort(sorted.begin(), sorted.end());
  return std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end();
}

}  // namespace test
}  // namespace moe_router
