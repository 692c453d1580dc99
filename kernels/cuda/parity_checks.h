// Parity checks of a CUDA kernel's results against the CPU backend, shared by the GPU tests
// (cuda_test_util.h) and the host-emulated ones (kernels/cuda_emu): seeded random data and
// tolerance checks that never let a NaN pass. No CUDA dependency. Not thread-safe.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/test_util.h"

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

using ::sparsescale::kernels::testing::RandomTokens;

// Every element within rtol of the CPU value, measured against the larger of the element and
// `floor` x the reference's largest magnitude. NaN never passes. Returns the failure count.
inline int ExpectCloseWithFloor(const std::vector<float>& actual,
                                const std::vector<float>& expected, double rtol, double floor,
                                const std::string& what) {
  EXPECT_EQ(actual.size(), expected.size()) << what;
  double max_abs = 0.0;
  for (float e : expected) {
    max_abs = std::max(max_abs, std::fabs(double{e}));
  }
  int failures = 0;
  for (size_t i = 0; i < actual.size() && i < expected.size(); ++i) {
    const double tol = rtol * std::max(std::fabs(double{expected[i]}), floor * max_abs) + 1e-30;
    const double diff = std::fabs(double{actual[i]} - double{expected[i]});
    if (!(diff <= tol)) {
      if (failures < 5) {
        ADD_FAILURE() << what << "[" << i << "]: got " << actual[i] << ", cpu " << expected[i]
                      << " (tol " << tol << ")";
      }
      ++failures;
    }
  }
  return failures;
}

// Floor a tenth: cancellation makes small elements of a sum inaccurate in relative, not
// absolute, terms.
inline int ExpectClose(const std::vector<float>& actual, const std::vector<float>& expected,
                       double rtol, const std::string& what) {
  return ExpectCloseWithFloor(actual, expected, rtol, 0.1, what);
}

// Normwise (floor 1: every element within rtol x the largest magnitude), for bf16 paths whose
// rounding error scales with the whole operand rather than each element (tensor-core attention).
inline int ExpectCloseNormwise(const std::vector<float>& actual,
                               const std::vector<float>& expected, double rtol,
                               const std::string& what) {
  return ExpectCloseWithFloor(actual, expected, rtol, 1.0, what);
}

// One third of an attention gradient dqkv [rows, 3C] (part 0 = dq, 1 = dk, 2 = dv), minus the
// values it was accumulated onto: the gradient alone, to check against its own scale.
inline std::vector<float> QkvGradientPart(const std::vector<float>& dqkv,
                                          const std::vector<float>& start, int part, size_t rows,
                                          size_t C) {
  std::vector<float> out;
  out.reserve(rows * C);
  for (size_t row = 0; row < rows; ++row) {
    for (size_t i = row * 3 * C + part * C, e = i + C; i < e; ++i) {
      out.push_back(dqkv[i] - start[i]);
    }
  }
  return out;
}

}  // namespace sparsescale::kernels::cuda::testing
