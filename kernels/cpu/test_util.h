// Helpers shared by the CPU backend tests: seeded random data, float/double conversion and
// tolerance checks. Not thread-safe (tests are single-threaded).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace sparsescale::kernels::testing {

// Uniform values in [lo, hi) from a fixed seed, so every run sees the same data.
inline std::vector<double> RandomVector(size_t n, uint32_t seed, double lo = -1.0,
                                        double hi = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (double& x : v) {
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

// Rounds to float and back, so the double reference sees exactly the fp32 op's inputs.
inline std::vector<double> RoundToFloat(std::vector<double> v) {
  for (double& x : v) {
    x = static_cast<float>(x);
  }
  return v;
}

inline std::vector<float> ToFloat(const std::vector<double>& v) {
  return std::vector<float>(v.begin(), v.end());
}

// Every element within rtol of the reference, measured against the larger of the element and
// a tenth of the reference's largest magnitude (sums with cancellation lose relative accuracy
// in their small elements, not in absolute terms).
inline void ExpectClose(const std::vector<float>& actual, const std::vector<double>& expected,
                        double rtol, const char* what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  double max_abs = 0.0;
  for (double e : expected) {
    max_abs = std::max(max_abs, std::abs(e));
  }
  int failures = 0;
  for (size_t i = 0; i < actual.size() && failures < 5; ++i) {
    const double tol = rtol * std::max(std::abs(expected[i]), 0.1 * max_abs) + 1e-30;
    if (!(std::abs(actual[i] - expected[i]) <= tol)) {
      ADD_FAILURE() << what << "[" << i << "]: got " << actual[i] << ", want " << expected[i]
                    << " (tol " << tol << ")";
      ++failures;
    }
  }
}

}  // namespace sparsescale::kernels::testing
