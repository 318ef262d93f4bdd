/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file error.hpp
 * @brief The readable reason behind the last failed call on this thread.
 *
 * Host entry points return a status (`cudaError_t` for the device ones) and never throw. When
 * one fails, `last_error_message()` says why, in one sentence; a call that succeeds clears it.
 * Plain C++: the host reference uses it too.
 */

#include <cstdarg>
#include <cstdio>

namespace moe_router {

namespace detail {
/// Longest reason kept, terminating zero included (a refused dispatch lists the compiled shapes).
constexpr int max_error_length = 2048;
inline char* last_error_buffer()
{
  thread_local char buffer[max_error_length] = {0};
  return buffer;
}
}  // namespace detail

/// Why the last moe_router call on this thread failed; "" if it succeeded.
inline const char* last_error_message() { return detail::last_error_buffer(); }

namespace detail {
/// Record the reason for a failure (printf-style). Always returns false, to chain in returns.
inline bool fail(const char* format, ...)
{
  std::va_list args;
  va_start(args, format);
  std::vsnprintf(last_error_buffer(), max_error_length, format, args);
  va_end(args);
  return false;
}
inline void clear_error() { last_error_buffer()[0] = '\0'; }
}  // namespace detail

}  // namespace moe_router
