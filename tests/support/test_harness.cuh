/*
 * Copyright (c) 2026 The moe_router authors. SPDX-License-Identifier: Apache-2.0
 */
#pragma once

/**
 * @file test_harness.cuh
 * @brief Running a routing entry point on the device under test conditions.
 *
 * An entry point is anything callable as `cudaError_t entry(const route_params&, cudaStream_t)`
 * (`moe_router::route_reference`, a fused launcher, a lambda). `device_case` puts a
 * `test_case`'s inputs on the device and owns outputs framed by guard regions; before each run
 * outputs and guards are poisoned (weights 0x7fc0dead, a NaN no kernel computes; ids
 * 0x7eadbeef / 0x7eadbeef7eadbeef), and after it `download` requires that every slot of every
 * row was written and that no guard element changed. Every CUDA call is checked with REQUIRE.
 *
 *     const test_case c = make_case(desc, seed);
 *     const route_outputs device = run_device(c, moe_router::route_reference);
 *     MOE_ROUTER_REQUIRE_OK(check_against_host(c, device, run_host(c)));
 */

#include "support/test_checks.hpp"
#include "support/test_data.hpp"

#include <moe_router/error.hpp>
#include <moe_router/types.hpp>

#include <cuda_runtime_api.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

/// REQUIRE that a CUDA call succeeds, naming the call and the error on failure.
#define MOE_ROUTER_TEST_CUDA(call)                                          \
  do {                                                                      \
    const cudaError_t moe_router_test_status_ = (call);                     \
    INFO(#call << ": " << cudaGetErrorName(moe_router_test_status_) << " (" \
               << cudaGetErrorString(moe_router_test_status_) << ")");      \
    REQUIRE(moe_router_test_status_ == cudaSuccess);                        \
  } while (0)

namespace moe_router {
namespace test {

/// Weight poison: a NaN with a payload no arithmetic produces.
constexpr std::uint32_t weight_poison = 0x7fc0deadu;
/// int32 id poison.
constexpr std::int32_t id32_poison = 0x7eadbeef;
/// int64 id poison.
constexpr std::int64_t id64_poison = 0x7eadbeef7eadbeefLL;
/// Poisoned elements before and after each output array.
constexpr std::size_t guard_elements = 64;

/// A device array of `count` T (cudaMalloc'd, at least one element so it is never null).
template <class T>
class device_array {
 public:
  device_array() = default;
  explicit device_array(std::size_t count) : count_(count)
  {
    void* p = nullptr;
    MOE_ROUTER_TEST_CUDA(cudaMalloc(&p, std::max<std::size_t>(count, 1) * sizeof(T)));
    data_ = static_cast<T*>(p);
  }
  /// A device copy of `host`.
  explicit device_array(const std::vector<T>& host) : device_array(host.size()) { upload(host); }
  ~device_array()
  {
    if (data_ != nullptr) cudaFree(data_);  // errors here are reported by the next checked call
  }
  device_array(device_array&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), count_(std::exchange(other.count_, 0))
  {
  }
  device_array& operator=(device_array&& other) noexcept
  {
    std::swap(data_, other.data_);
    std::swap(count_, other.count_);
    return *this;
  }
  device_array(const device_array&) = delete;
  device_array& operator=(const device_array&) = delete;

  T* data() const { return data_; }
  std::size_t size() const { return count_; }

  /// Synchronous copy of `host` (host.size() <= size()) to the start of the array.
  void upload(const std::vector<T>& host)
  {
    REQUIRE(host.size() <= count_);
    if (!host.empty())
      MOE_ROUTER_TEST_CUDA(cudaMemcpy(data_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  /// Synchronous copy of the whole array to the host.
  std::vector<T> download() const
  {
    std::vector<T> host(count_);
    if (count_ > 0) MOE_ROUTER_TEST_CUDA(cudaMemcpy(host.data(), data_, count_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  T* data_ = nullptr;
  std::size_t count_ = 0;
};

/// A non-blocking stream, destroyed with its owner.
class cuda_stream {
 public:
  cuda_stream() { MOE_ROUTER_TEST_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~cuda_stream() { cudaStreamDestroy(stream_); }
  cuda_stream(const cuda_stream&) = delete;
  cuda_stream& operator=(const cuda_stream&) = delete;
  cudaStream_t get() const { return stream_; }
  void synchronize() const { MOE_ROUTER_TEST_CUDA(cudaStreamSynchronize(stream_)); }

 private:
  cudaStream_t stream_ = nullptr;
};

/// A captured graph, destroyed with its owner.
struct cuda_graph {
  cudaGraph_t graph = nullptr;
  cuda_graph() = default;
  cuda_graph(const cuda_graph&) = delete;
  cuda_graph& operator=(const cuda_graph&) = delete;
  ~cuda_graph()
  {
    if (graph != nullptr) cudaGraphDestroy(graph);
  }
};

/// An instantiated graph, destroyed with its owner.
struct cuda_graph_exec {
  cudaGraphExec_t exec = nullptr;
  cuda_graph_exec() = default;
  cuda_graph_exec(const cuda_graph_exec&) = delete;
  cuda_graph_exec& operator=(const cuda_graph_exec&) = delete;
  ~cuda_graph_exec()
  {
    if (exec != nullptr) cudaGraphExecDestroy(exec);
  }
};

/**
 * @brief A test case on the device: its inputs, and its outputs between poisoned guards.
 * The `test_case` must outlive this object.
 */
class device_case {
 public:
  explicit device_case(const test_case& c)
      : c_(&c),
        slots_(static_cast<std::size_t>(c.num_tokens() * c.slots())),
        id_bytes_(static_cast<std::size_t>(size_of(c.desc.ids_type))),
        logits_offset_(static_cast<std::size_t>(c.desc.logits_offset * size_of(c.desc.logits_type))),
        logits_(with_leading_bytes(c.logits, logits_offset_)),
        bias_offset_(bias_offset(c)),
        bias_(with_leading_bytes(c.bias, bias_offset_)),
        map_(c.expert_map),
        count_(std::vector<std::int32_t>{c.desc.num_valid_tokens}),
        weights_(slots_ + 2 * guard_elements),
        ids_((slots_ + 2 * guard_elements) * id_bytes_)
  {
    poison();
  }

  const test_case& host_case() const { return *c_; }

  /// The case's parameters with device pointers (inputs and outputs).
  route_params params() const
  {
    route_params p = c_->params();
    p.logits = c_->logits.empty() ? nullptr : logits_.data() + logits_offset_;
    p.bias = c_->bias.empty() ? nullptr : bias_.data() + bias_offset_;
    p.expert_map = c_->expert_map.empty() ? nullptr : map_.data();
    p.num_valid_tokens = c_->desc.has_num_valid ? count_.data() : nullptr;
    p.weights = weights_.data() + guard_elements;
    p.ids = ids_.data() + guard_elements * id_bytes_;
    return p;
  }

  /// Fill the outputs and their guards with the poison patterns (synchronous).
  void poison()
  {
    weights_.upload(std::vector<float>(weights_.size(), bits_to_float(weight_poison)));
    ids_.upload(poisoned_ids(ids_.size() / id_bytes_));
    MOE_ROUTER_TEST_CUDA(cudaDeviceSynchronize());
  }

  /// Overwrite the device-side count (synchronous); the case must have one.
  void set_num_valid(std::int32_t n)
  {
    REQUIRE(c_->desc.has_num_valid);
    count_.upload(std::vector<std::int32_t>{n});
    MOE_ROUTER_TEST_CUDA(cudaDeviceSynchronize());
  }

  /**
   * @brief Poison the outputs, call `entry(params(), stream)` on a fresh stream, require
   * cudaSuccess from it and from the stream, and download.
   */
  template <class Entry>
  route_outputs run(Entry&& entry)
  {
    poison();
    cuda_stream stream;
    const cudaError_t status = entry(params(), stream.get());
    INFO(c_->describe() << "\nentry point returned " << cudaGetErrorName(status) << ": " << last_error_message());
    REQUIRE(status == cudaSuccess);
    stream.synchronize();
    MOE_ROUTER_TEST_CUDA(cudaGetLastError());
    require_inputs_unchanged();
    return download();
  }

  /**
   * @brief Copy the outputs back. Requires that no guard element changed and that every slot of
   * every row holds something other than the poison.
   */
  route_outputs download() const
  {
    const std::vector<float> w = weights_.download();
    const std::vector<unsigned char> raw = ids_.download();
    const std::vector<std::int64_t> ids = widen_ids(raw.data(), c_->desc.ids_type, raw.size() / id_bytes_);
    const std::int64_t poison_id = id_poison();
    for (std::size_t i = 0; i < w.size(); ++i) {
      const bool guard = i < guard_elements || i >= guard_elements + slots_;
      const bool weight_poisoned = float_bits(w[i]) == weight_poison, id_poisoned = ids[i] == poison_id;
      if (guard && !(weight_poisoned && id_poisoned))
        FAIL(c_->describe() << "\na guard element around the outputs was overwritten: element "
                            << static_cast<long long>(i) - static_cast<long long>(guard_elements) << " of " << slots_
                            << ", weight 0x" << std::hex << float_bits(w[i]) << ", id 0x" << ids[i]);
      if (!guard && (weight_poisoned || id_poisoned))
        FAIL(c_->describe() << "\nan output slot was not written: row " << where(i)
                            << (weight_poisoned ? " (weight)" : "") << (id_poisoned ? " (id)" : ""));
    }
    route_outputs out;
    out.num_tokens = c_->num_tokens();
    out.slots = c_->slots();
    out.weights.assign(w.begin() + guard_elements, w.begin() + guard_elements + slots_);
    out.ids.assign(ids.begin() + guard_elements, ids.begin() + guard_elements + slots_);
    return out;
  }

  /// Whether every output slot and every guard element still holds the poison.
  bool untouched() const
  {
    const std::vector<float> w = weights_.download();
    const std::vector<unsigned char> raw = ids_.download();
    const std::vector<std::int64_t> ids = widen_ids(raw.data(), c_->desc.ids_type, raw.size() / id_bytes_);
    for (float v : w)
      if (float_bits(v) != weight_poison) return false;
    for (std::int64_t v : ids)
      if (v != id_poison()) return false;
    return true;
  }

  /// Require that the kernel left its inputs (logits, bias, map, count) as they were.
  void require_inputs_unchanged() const
  {
    INFO(c_->describe() << "\nan input changed on the device");
    if (!c_->logits.empty()) REQUIRE(logits_.download() == with_leading_bytes(c_->logits, logits_offset_));
    if (!c_->bias.empty()) REQUIRE(bias_.download() == with_leading_bytes(c_->bias, bias_offset_));
    if (!c_->expert_map.empty()) REQUIRE(map_.download() == c_->expert_map);
    if (c_->desc.has_num_valid) REQUIRE(count_.download() == std::vector<std::int32_t>{c_->desc.num_valid_tokens});
  }

 private:
  /// Cases with unaligned rows (a row stride that is not a multiple of 16 bytes) get an unaligned
  /// bias too: one element past a 16-byte boundary, so that the bias loads take their element path.
  static std::size_t bias_offset(const test_case& c)
  {
    const std::int64_t row_bytes = c.desc.stride() * size_of(c.desc.logits_type);
    return c.desc.row_stride != 0 && row_bytes % 16 != 0 ? static_cast<std::size_t>(size_of(c.desc.bias_type)) : 0;
  }
  static std::vector<unsigned char> with_leading_bytes(const std::vector<unsigned char>& bytes, std::size_t lead)
  {
    if (bytes.empty()) return bytes;
    std::vector<unsigned char> out(lead, 0xa5);
    out.insert(out.end(), bytes.begin(), bytes.end());
    return out;
  }

  std::int64_t id_poison() const { return c_->desc.ids_type == index_type::i32 ? id32_poison : id64_poison; }

  std::vector<unsigned char> poisoned_ids(std::size_t count) const
  {
    std::vector<unsigned char> bytes(count * id_bytes_);
    for (std::size_t i = 0; i < count; ++i) {
      if (id_bytes_ == 4)
        std::memcpy(bytes.data() + 4 * i, &id32_poison, 4);
      else
        std::memcpy(bytes.data() + 8 * i, &id64_poison, 8);
    }
    return bytes;
  }

  std::string where(std::size_t element) const
  {
    if (element < guard_elements || element >= guard_elements + slots_) return "guard";
    const std::size_t i = element - guard_elements;
    const std::size_t slots = static_cast<std::size_t>(c_->slots());
    return std::to_string(i / slots) + ", slot " + std::to_string(i % slots);
  }

  const test_case* c_;
  std::size_t slots_;     // num_tokens * (K + S)
  std::size_t id_bytes_;  // 4 or 8
  std::size_t logits_offset_;  // bytes before the first row (case_desc::logits_offset elements)
  device_array<unsigned char> logits_;
  std::size_t bias_offset_;  // bytes before the bias (see bias_offset)
  device_array<unsigned char> bias_;
  device_array<std::int32_t> map_, count_;
  device_array<float> weights_;      // guard, slots_, guard
  device_array<unsigned char> ids_;  // the same, in ids of id_bytes_
};

/// Run `entry` on `c` once (see `device_case::run`).
template <class Entry>
route_outputs run_device(const test_case& c, Entry&& entry)
{
  device_case d(c);
  return d.run(entry);
}

/**
 * @brief Replay `exec`, a graph captured on `dev`'s buffers, once for each device-side padding
 * count of `counts`, over poisoned outputs, and require of each replay the invariants, the host
 * reference and the bits of a direct call of `direct` (named `direct_name`) on the same inputs.
 */
template <class Direct>
void replay_with_counts(test_case& c, device_case& dev, cudaGraphExec_t exec, cuda_stream& stream,
                        std::initializer_list<std::int32_t> counts, Direct&& direct, const char* direct_name)
{
  for (const std::int32_t n : counts) {
    c.desc.num_valid_tokens = n;  // what the host and the checkers read
    INFO("count " << n << ": " << c.describe());
    dev.set_num_valid(n);
    dev.poison();
    MOE_ROUTER_TEST_CUDA(cudaGraphLaunch(exec, stream.get()));
    stream.synchronize();
    MOE_ROUTER_TEST_CUDA(cudaGetLastError());
    const route_outputs replayed = dev.download();
    MOE_ROUTER_REQUIRE_OK(check_invariants(c, replayed));
    MOE_ROUTER_REQUIRE_OK(check_against_host(c, replayed, run_host(c)));
    MOE_ROUTER_REQUIRE_OK(check_bitwise_equal(c, replayed, run_device(c, direct), "graph replay", direct_name));
  }
}

/**
 * @brief Call `entry` on `c`'s device buffers with `tweak` applied to the parameters, and
 * require that it refuses: cudaErrorInvalidValue, a reason in `last_error_message()` (returned),
 * no error left behind, and every output and guard element still poisoned.
 */
template <class Entry, class Tweak>
std::string require_rejected(const test_case& c, Entry&& entry, Tweak&& tweak)
{
  device_case d(c);
  route_params p = d.params();
  tweak(p);
  cuda_stream stream;
  const cudaError_t status = entry(p, stream.get());
  const std::string reason = last_error_message();
  INFO(c.describe() << "\nentry point returned " << cudaGetErrorName(status) << ": " << reason);
  REQUIRE(status == cudaErrorInvalidValue);
  REQUIRE(!reason.empty());
  stream.synchronize();
  MOE_ROUTER_TEST_CUDA(cudaGetLastError());
  REQUIRE(d.untouched());
  return reason;
}

}  // namespace test
}  // namespace moe_router
