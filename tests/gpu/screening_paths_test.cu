/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */

// That the screened keys decide, and not only that the output is exact (screening_test.cu checks
// that): through the tiled kernel's test hook this test counts which path routed each tile,
// and requires that on ordinary rows the screened keys decide nearly every tile, and that on the
// near ties of screening_test some tiles are decided without scoring the whole tile again. A
// kernel that always fell back to exact keys, exact but slow, fails here.
//
// The hook is compiled into every tiled kernel of this executable, so none of them is the kernel
// the library ships; the other tests run that one. Inputs are fresh every run;
// MOE_ROUTER_TEST_SEED replays one.

// The tiled kernel's test hook (tiled_route_kernel.cuh), defined before the library is included:
// lane 0 of each warp counts the path that routed its tile.
__device__ unsigned long long screening_paths_test_counts[3];
#define MOE_ROUTER_TILED_PATH_HOOK(path, lane)                              \
  do {                                                                      \
    if ((lane) == 0) atomicAdd(&screening_paths_test_counts[(path)], 1ull); \
  } while (0)

#include "gpu/fused_test_common.cuh"
#include "gpu/screening_cases.cuh"
#include "support/test_harness.cuh"

#include <moe_router/kernel/tiled_route_kernel.cuh>
#include <moe_router/model_configs.cuh>

#include <cuda_runtime_api.h>
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>

namespace screening_paths_test {

using namespace moe_router;
using namespace moe_router::test;

/// How many tiles each path of the screened tiled kernel routed (the test hook above).
struct tiled_paths {
  unsigned long long screened = 0;      ///< the screened keys decided
  unsigned long long exact_groups = 0;  ///< the kept groups needed the lanes' exact best two
  unsigned long long exact_keys = 0;    ///< the tile was scored again with exact keys
  unsigned long long tiles() const { return screened + exact_groups + exact_keys; }
};

/// Run the tiled kernel of `Config` (forced) on `c` with the path counts set to zero first.
template <class Config>
route_outputs run_tiled_counting_paths(const test_case& c, tiled_paths& paths)
{
  static_assert(tiled_screening<Config>, "only the screened tiled kernels count their paths");
  const unsigned long long zero[3] = {0, 0, 0};
  MOE_ROUTER_TEST_CUDA(cudaMemcpyToSymbol(screening_paths_test_counts, zero, sizeof zero));
  const route_outputs out = run_device(c, fused_entry<Config, 8>);
  unsigned long long counts[3];
  MOE_ROUTER_TEST_CUDA(cudaMemcpyFromSymbol(counts, screening_paths_test_counts, sizeof counts));
  paths.screened = counts[0];
  paths.exact_groups = counts[1];
  paths.exact_keys = counts[2];
  return out;
}

template <class Config>
void check_near_tie_paths(const char* label, std::uint64_t seed_index)
{
  const test_case c = near_tie_case<Config>(4099, derive_seed(base_seed(), seed_index));
  INFO(label << ": " << c.describe() << "\nreplay with " << replay_note());
  tiled_paths paths;
  const route_outputs tiled = run_tiled_counting_paths<Config>(c, paths);
  MOE_ROUTER_REQUIRE_OK(
      check_bitwise_equal(c, tiled, run_device(c, reference_entry), "fused (tiled, screened)", "reference"));
  std::printf("  %-40s 1025 tiles: screened keys decided %llu, exact groups %llu, exact keys %llu\n", label,
              paths.screened, paths.exact_groups, paths.exact_keys);
  // 4099 rows are 1025 tiles, 342 of them (every third) holding rows whose every key is near
  // the tie, more candidates than the screen can rank: those take the exact keys. The others
  // hold 12 or 26 near ties a row, and some of those tiles must be decided without scoring the
  // whole tile again (with groups, often from the lanes' exact best two: near ties make the
  // group scores near ties too).
  CHECK(paths.tiles() == 1025);
  CHECK(paths.exact_keys >= 342);
  CHECK(paths.screened + paths.exact_groups > 0);
}

TEST_CASE("on near ties some tiles are decided without scoring the whole tile again", "[screening]")
{
  check_near_tie_paths<kimi_k2_config<>>("Kimi-K2 (no groups)", 101);
  check_near_tie_paths<grouped_384_config>("384 experts, 8 groups, keep 4", 102);
  check_near_tie_paths<minimax_m2_config<>>("MiniMax-M2 (32 experts a lane)", 103);
  check_near_tie_paths<deepseek_v3_config<>>("DeepSeek-V3 (8 groups, keep 4)", 104);
  check_near_tie_paths<glm_4_5_config<>>("GLM-4.5 (20 experts a lane)", 105);
  check_near_tie_paths<grouped_max_config>("256 experts, 8 groups by max, keep 4", 107);
  check_near_tie_paths<two_groups_config>("256 experts, 2 groups, keep 1", 108);
}

/// The tiled kernel of `Config` on 8192 random rows (2048 tiles) and on 8192 adversarial ones:
/// both exact; on the random rows the screened keys must decide nearly every tile (the
/// adversarial rows, ties and NaN among them, are only reported).
template <class Config>
void check_ordinary_rows(const char* label, std::uint64_t seed_index)
{
  for (const input_flavour flavour : {input_flavour::random, input_flavour::nasty}) {
    case_desc d = screened_desc<Config>(label, 8192);
    d.flavour = flavour;
    const test_case c = make_case(d, derive_seed(base_seed(), seed_index));
    INFO(label << ": " << c.describe() << "\nreplay with " << replay_note());
    tiled_paths paths;
    const route_outputs tiled = run_tiled_counting_paths<Config>(c, paths);
    MOE_ROUTER_REQUIRE_OK(
        check_bitwise_equal(c, tiled, run_device(c, reference_entry), "fused (tiled, screened)", "reference"));
    const double decided = static_cast<double>(paths.screened) / static_cast<double>(paths.tiles());
    std::printf("  %-32s %-6s 2048 tiles: screened keys decided %llu (%.2f%%), exact groups %llu, exact keys %llu\n",
                label, flavour == input_flavour::random ? "random" : "nasty", paths.screened, 100.0 * decided,
                paths.exact_groups, paths.exact_keys);
    CHECK(paths.tiles() == 2048);
    if (flavour == input_flavour::random) CHECK(decided >= 0.95);
  }
}

TEST_CASE("on ordinary rows the screened keys decide nearly every tile", "[screening]")
{
  check_ordinary_rows<deepseek_v3_config<>>("DeepSeek-V3 fp32", 11);
  check_ordinary_rows<deepseek_v3_config<__nv_bfloat16>>("DeepSeek-V3 bf16", 12);
  check_ordinary_rows<kimi_k2_config<>>("Kimi-K2 fp32", 13);
  check_ordinary_rows<kimi_k2_config<__nv_bfloat16>>("Kimi-K2 bf16", 14);
  check_ordinary_rows<minimax_m2_config<>>("MiniMax-M2 fp32", 15);
  check_ordinary_rows<glm_4_5_config<>>("GLM-4.5 fp32", 16);
  check_ordinary_rows<llama_4_config<>>("Llama-4 fp32", 17);
}

}  // namespace screening_paths_test
