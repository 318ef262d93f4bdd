/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file host_reference.hpp
 * @brief The host reference: the whole contract on the CPU, plain C++ (no CUDA needed).
 *
 * Every kernel of the library is tested against it. It runs `reference_route_row` on each row
 * with libm's `expf`, so it agrees with the device kernels to a few ulp, not bit for bit.
 */

#include <moe_router/error.hpp>
#include <moe_router/reference/reference_row.hpp>
#include <moe_router/types.hpp>
#include <moe_router/validate.hpp>

#include <cstdint>
#include <vector>

namespace moe_router {

/**
 * @brief Route every row of `p` on the host. All pointers of `p` are host pointers,
 * `num_valid_tokens` included.
 * @return true on success; false, with `last_error_message()` set and nothing written, when `p`
 * breaks the contract or exceeds `reference_limits`.
 */
inline bool host_route(const route_params& p)
{
  detail::clear_error();
  if (!validate_params(p, reference_limits)) return false;
  if (p.num_tokens == 0) return true;
  std::int64_t num_valid = p.num_tokens;
  if (p.num_valid_tokens != nullptr) num_valid = *p.num_valid_tokens < 0 ? 0 : *p.num_valid_tokens;
  std::vector<float> buffer((reference::row_scratch_bytes(p.num_experts) + 3) / 4);
  const reference::row_scratch scratch = reference::make_row_scratch(buffer.data(), p.num_experts);
  for (std::int64_t t = 0; t < p.num_tokens; ++t) reference::reference_route_row(p, t, num_valid, scratch);
  return true;
}

}  // namespace moe_router
