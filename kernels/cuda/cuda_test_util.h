// Helpers for the CUDA backend tests: the skip-without-GPU fixture, seeded random data,
// host <-> device copies and tolerance checks that never let a NaN pass.
// Not thread-safe (tests are single-threaded).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/ops.h"

namespace sparsescale::kernels::cuda::testing {

inline std::vector<float> RandomFloats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) {
    x = dist(rng);
  }
  return v;
}

inline std::vector<int32_t> RandomTokens(size_t n, int32_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<int32_t> v(n);
  for (int32_t& x : v) {
    x = dist(rng);
  }
  return v;
}

// Every element within rtol of the CPU value, measured against the larger of the element and
// a tenth of the reference's largest magnitude (cancellation makes small elements of a sum
// inaccurate in relative, not absolute, terms). NaN never passes. Returns the failure count.
inline int ExpectClose(const std::vector<float>& actual, const std::vector<float>& expected,
                       double rtol, const std::string& what) {
  EXPECT_EQ(actual.size(), expected.size()) << what;
  double max_abs = 0.0;
  for (float e : expected) {
    max_abs = std::max(max_abs, std::fabs(double{e}));
  }
  int failures = 0;
  for (size_t i = 0; i < actual.size() && i < expected.size(); ++i) {
    const double tol = rtol * std::max(std::fabs(double{expected[i]}), 0.1 * max_abs) + 1e-30;
    const double diff = std::fabs(double{actual[i]} - double{expected[i]});
    if (!(diff <= tol)) {
      if (failures < 5) {
        ADD_FAILURE() << what << "[" << i << "]: cuda " << actual[i] << ", cpu " << expected[i]
                      << " (tol " << tol << ")";
      }
      ++failures;
    }
  }
  return failures;
}

// Normwise: every element within rtol * (the reference's largest magnitude) of the CPU value,
// for bf16 paths whose rounding error scales with the whole operand rather than each element
// (attention on tensor cores). NaN never passes. Returns the failure count.
inline int ExpectCloseNormwise(const std::vector<float>& actual,
                               const std::vector<float>& expected, double rtol,
                               const std::string& what) {
  EXPECT_EQ(actual.size(), expected.size()) << what;
  double max_abs = 0.0;
  for (float e : expected) {
    max_abs = std::max(max_abs, std::fabs(double{e}));
  }
  const double tol = rtol * max_abs + 1e-30;
  int failures = 0;
  for (size_t i = 0; i < actual.size() && i < expected.size(); ++i) {
    const double diff = std::fabs(double{actual[i]} - double{expected[i]});
    if (!(diff <= tol)) {
      if (failures < 5) {
        ADD_FAILURE() << what << "[" << i << "]: cuda " << actual[i] << ", cpu " << expected[i]
                      << " (normwise tol " << tol << ")";
      }
      ++failures;
    }
  }
  return failures;
}

// Skips the test unless a GPU is usable; otherwise gives a CUDA and a CPU backend.
class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (DeviceCount() == 0) {
      GTEST_SKIP() << "no CUDA GPU is usable in this process (cudaGetDeviceCount found none): "
                      "the CUDA backend tests need one; run bench/gpu/gpu.sh on a GPU machine";
    }
    auto gpu = MakeCudaOps(0);
    ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
    gpu_ = std::move(gpu).value();
    cpu_ = MakeCpuOps(1);
  }

  // A device copy of `host` (nullptr and a test failure when the copy fails).
  template <typename T>
  std::unique_ptr<DeviceBuffer> Up(const std::vector<T>& host) {
    auto buffer = gpu_->Allocate(host.size() * sizeof(T));
    if (!buffer.ok()) {
      ADD_FAILURE() << buffer.status().ToString();
      return nullptr;
    }
    const absl::Status s =
        gpu_->CopyToDevice((*buffer)->data(), host.data(), host.size() * sizeof(T));
    EXPECT_TRUE(s.ok()) << s.ToString();
    return std::move(buffer).value();
  }

  std::vector<float> Down(DeviceBuffer& buffer, size_t n) {
    std::vector<float> host(n);
    const absl::Status s = gpu_->CopyToHost(host.data(), buffer.data(), n * sizeof(float));
    EXPECT_TRUE(s.ok()) << s.ToString();
    return host;
  }

  std::unique_ptr<Ops> gpu_;
  std::unique_ptr<Ops> cpu_;
};

}  // namespace sparsescale::kernels::cuda::testing
