/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file dispatch.cuh
 * @brief Run-time shape to compiled kernel, in one place: a table of compiled configurations
 * and one function that runs the fused kernel when the call matches an entry and the reference
 * kernel otherwise.
 */

#include <moe_router/config.cuh>
#include <moe_router/error.hpp>
#include <moe_router/route.cuh>
#include <moe_router/types.hpp>
#include <moe_router/validate.hpp>

#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstring>

namespace moe_router {

namespace detail {
template <class Config>
void describe_entry(char* buffer, std::size_t size, std::size_t& used);
template <class Table>
cudaError_t refuse_uncompiled(const route_params& p);
}  // namespace detail

/// Which kernel a call may use.
enum class route_path {
  automatic,  ///< fused when the table has the shape, else reference
  fused,      ///< fused only: a shape not in the table is an error that lists the table
  reference   ///< reference only
};

/// Which kernel a call ran.
enum class route_kernel { none, fused, reference };

/// A list of compiled configurations. Instantiating a table compiles a kernel for each entry.
template <class... Configs>
struct route_table {
  static constexpr int size = sizeof...(Configs);

  /// Is there an entry for `p` (shape, scoring, element types)?
  static bool contains(const route_params& p) { return (Configs::matches(p) || ...); }

  /// Run the first entry that matches `p` (as `route_fused`). If none does, launch nothing and
  /// return cudaErrorInvalidValue, `last_error_message()` naming the parameter at fault or, for
  /// a valid call, its shape and the compiled ones.
  static cudaError_t launch(const route_params& p, cudaStream_t stream, launch_options options)
  {
    cudaError_t status = cudaErrorInvalidValue;
    const bool found =
      ((Configs::matches(p) ? (status = route_fused<Configs>(p, stream, options), true) : false) || ...);
    return found ? status : detail::refuse_uncompiled<route_table>(p);
  }

  /// Write the entries, "E/G/TG/K scoring [group score] logits bias ids" separated by "; ", into
  /// `buffer` (of `size` bytes, at least 4); entries that do not fit whole are replaced by "...".
  static void describe(char* buffer, std::size_t size)
  {
    std::size_t used = 0;
    buffer[0] = '\0';
    (detail::describe_entry<Configs>(buffer, size, used), ...);
  }
};

namespace detail {
/// Append the description of `Config` to `buffer` (see `route_table::describe`).
template <class Config>
void describe_entry(char* buffer, std::size_t size, std::size_t& used)
{
  if (used >= size) return;  // already cut
  char entry[128];
  const int length = std::snprintf(
      entry, sizeof entry, "%s%d/%d/%d/%d %s%s%s %s %s %s", used ? "; " : "", Config::num_experts, Config::num_groups,
      Config::topk_group, Config::topk, to_string(Config::scoring), Config::num_groups > 1 ? " " : "",
      Config::num_groups > 1 ? to_string(Config::group_score) : "", to_string(Config::logits_data_type),
      to_string(Config::bias_data_type), to_string(Config::ids_index_type));
  const std::size_t n = length > 0 ? static_cast<std::size_t>(length) : 0;
  if (used + n + 6 <= size) {  // room for the entry, a later "; ..." and the NUL
    std::memcpy(buffer + used, entry, n + 1);
    used += n;
  } else {
    std::memcpy(buffer + used, used + 6 <= size ? "; ..." : "", used + 6 <= size ? 6 : 1);
    used = size;
  }
}

/// The refusal of a call that no entry of `Table` matches: cudaErrorInvalidValue, with the
/// reason of `validate_params` against `fused_limits` when `p` is invalid, else one that gives
/// the call's shape and types as `describe` writes the compiled ones (the group score only with
/// groups) and lists those.
template <class Table>
cudaError_t refuse_uncompiled(const route_params& p)
{
  if (!validate_params(p, fused_limits)) return cudaErrorInvalidValue;
  char shapes[1536];
  Table::describe(shapes, sizeof shapes);
  fail("no fused kernel is compiled for E=%d G=%d TG=%d K=%d %s%s%s logits=%s bias=%s ids=%s; compiled: %s",
       p.num_experts, p.num_groups, p.topk_group, p.topk, to_string(p.scoring), p.num_groups > 1 ? " " : "",
       p.num_groups > 1 ? to_string(p.group_score) : "", to_string(p.logits_type),
       p.bias ? to_string(p.bias_type) : "none", to_string(p.ids_type), shapes);
  return cudaErrorInvalidValue;
}
}  // namespace detail

namespace detail {
template <class... Tables>
struct route_table_union_impl;
template <class... A>
struct route_table_union_impl<route_table<A...>> {
  using type = route_table<A...>;
};
template <class... A, class... B, class... Rest>
struct route_table_union_impl<route_table<A...>, route_table<B...>, Rest...> {
  using type = typename route_table_union_impl<route_table<A..., B...>, Rest...>::type;
};
}  // namespace detail

/// The entries of several tables in one.
template <class... Tables>
using route_table_union = typename detail::route_table_union_impl<Tables...>::type;

/**
 * @brief Route `p` with the fused kernel of the matching entry of `Table`, or with the
 * reference kernel.
 * @param path  automatic (fused if compiled, else reference), fused only, or reference only
 * @param ran   optional: which kernel ran (`none` when nothing was launched)
 * @return as `route_fused` / `route_reference`; with `route_path::fused` and a shape not in the
 * table, cudaErrorInvalidValue with a reason that lists the compiled shapes.
 */
template <class Table>
cudaError_t route(const route_params& p, cudaStream_t stream = 0, route_path path = route_path::automatic,
                  route_kernel* ran = nullptr, launch_options options = {})
{
  if (ran != nullptr) *ran = route_kernel::none;
  detail::clear_error();
  if (path != route_path::automatic && path != route_path::fused && path != route_path::reference) {
    detail::fail("unknown route_path (%d): must be automatic, fused or reference", static_cast<int>(path));
    return cudaErrorInvalidValue;
  }
  // Checked whichever kernel runs, so that a bad value fails the same way for every shape.
  if (!detail::validate_launch_options(options)) return cudaErrorInvalidValue;
  const bool fused = path != route_path::reference && Table::contains(p);
  if (path == route_path::fused && !fused) return detail::refuse_uncompiled<Table>(p);
  const cudaError_t status = fused ? Table::launch(p, stream, options) : route_reference(p, stream);
  if (status == cudaSuccess && ran != nullptr && p.num_tokens > 0)
    *ran = fused ? route_kernel::fused : route_kernel::reference;
  return status;
}

}  // namespace moe_router
