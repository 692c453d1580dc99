// Pruning masks, masked AdamW and CountNonZero: exact counts, exact sets, deterministic ties.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "kernels/cpu/reference.h"
#include "kernels/cpu/test_util.h"
#include "kernels/ops.h"

namespace sparsescale::kernels {
namespace {

using testing::RandomVector;
using testing::ToFloat;
using FVec = std::vector<float>;

// Magnitudes drawn from a few values, so ties are everywhere.
FVec TiedWeights(size_t n, uint32_t seed) {
  FVec w = ToFloat(RandomVector(n, seed, -3, 3));
  for (float& x : w) {
    x = std::round(x);
  }
  return w;
}

size_t Ones(const FVec& mask) {
  size_t ones = 0;
  for (float m : mask) {
    EXPECT_TRUE(m == 0.0f || m == 1.0f);
    ones += m == 1.0f ? 1 : 0;
  }
  return ones;
}

class MasksTest : public ::testing::Test {
 protected:
  std::unique_ptr<Ops> ops_ = MakeCpuOps(1);
};

TEST_F(MasksTest, MagnitudeMaskBreaksTiesByLowerIndex) {
  const FVec w = {1, -3, 3, 2, -1, 0};
  FVec mask(w.size());
  ASSERT_TRUE(ops_->MagnitudeMask(mask.data(), w.data(), w.size(), 2).ok());
  EXPECT_EQ(mask, (FVec{0, 1, 1, 0, 0, 0}));
  ASSERT_TRUE(ops_->MagnitudeMask(mask.data(), w.data(), w.size(), 4).ok());
  EXPECT_EQ(mask, (FVec{1, 1, 1, 1, 0, 0}));  // |1| at index 0 beats |-1| at index 4.
  ASSERT_TRUE(ops_->MagnitudeMask(mask.data(), w.data(), w.size(), 0).ok());
  EXPECT_EQ(mask, FVec(6, 0.0f));
  ASSERT_TRUE(ops_->MagnitudeMask(mask.data(), w.data(), w.size(), 6).ok());
  EXPECT_EQ(mask, FVec(6, 1.0f));
}

TEST_F(MasksTest, MagnitudeMaskKeepsExactlyTheTopMagnitudeSet) {
  const size_t n = 5000;
  for (const FVec& w : {TiedWeights(n, 1), ToFloat(RandomVector(n, 2))}) {
    for (size_t keep : {size_t{1}, size_t{777}, size_t{2500}, n - 1}) {
      FVec mask(n, 7.0f);
      ASSERT_TRUE(ops_->MagnitudeMask(mask.data(), w.data(), n, keep).ok());
      EXPECT_EQ(Ones(mask), keep);
      FVec want(n);
      reference::MagnitudeMask(want.data(), w.data(), n, keep);
      EXPECT_EQ(mask, want) << "keep=" << keep;
    }
  }
}

TEST_F(MasksTest, NmMaskWithExactBudgetIsExactlyNOfMInEveryGroup) {
  const int rows = 12, cols = 64, n = 2, m = 4;
  const FVec w = TiedWeights(rows * cols, 3);
  const size_t keep = rows * cols / m * n;
  FVec mask(rows * cols);
  ASSERT_TRUE(ops_->NmMask(mask.data(), w.data(), rows, cols, n, m, keep).ok());
  for (size_t g = 0; g < mask.size(); g += m) {
    int ones = 0;
    for (int j = 0; j < m; ++j) {
      ones += mask[g + j] == 1.0f ? 1 : 0;
    }
    ASSERT_EQ(ones, n) << "group at " << g;
  }
  FVec want(mask.size());
  reference::NmMask(want.data(), w.data(), rows, cols, n, m, keep);
  EXPECT_EQ(mask, want);
}

TEST_F(MasksTest, NmMaskWithLargerBudgetKeepsEveryGroupsTopNPlusLargestOthers) {
  const int rows = 16, cols = 48, n = 1, m = 8;
  const size_t total = rows * cols;
  for (const FVec& w : {TiedWeights(total, 4), ToFloat(RandomVector(total, 5))}) {
    for (size_t keep : {total / m + 1, total / 2, total}) {
      FVec mask(total);
      ASSERT_TRUE(ops_->NmMask(mask.data(), w.data(), rows, cols, n, m, keep).ok());
      EXPECT_EQ(Ones(mask), keep);
      FVec want(total);
      reference::NmMask(want.data(), w.data(), rows, cols, n, m, keep);
      EXPECT_EQ(mask, want) << "keep=" << keep;
      FVec top_n(total);
      reference::NmMask(top_n.data(), w.data(), rows, cols, n, m, total / m * n);
      for (size_t i = 0; i < total; ++i) {
        if (top_n[i] == 1.0f) {
          ASSERT_EQ(mask[i], 1.0f) << "group top-n element " << i << " dropped, keep=" << keep;
        }
      }
    }
  }
}

TEST_F(MasksTest, MasksRejectNaNAndBadBudgets) {
  FVec w = {1, 2, std::numeric_limits<float>::quiet_NaN(), 4};
  FVec mask(4);
  absl::Status s = ops_->MagnitudeMask(mask.data(), w.data(), 4, 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("w"), std::string::npos) << s;
  w[2] = 3;
  s = ops_->MagnitudeMask(mask.data(), w.data(), 4, 5);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("keep"), std::string::npos) << s;
  s = ops_->NmMask(mask.data(), w.data(), 1, 4, 2, 4, 1);  // below the n:m floor of 2
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("keep"), std::string::npos) << s;
  s = ops_->NmMask(mask.data(), w.data(), 2, 2, 1, 4, 2);  // cols not a multiple of m
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("cols"), std::string::npos) << s;
  s = ops_->NmMask(mask.data(), w.data(), 1, 4, 5, 4, 4);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("n:"), std::string::npos) << s;
}

TEST_F(MasksTest, AdamWWithMaskLeavesPrunedParamsAndMomentsExactlyZero) {
  const size_t n = 200;
  FVec params = ToFloat(RandomVector(n, 6)), grads = ToFloat(RandomVector(n, 7));
  FVec m = ToFloat(RandomVector(n, 8)), v = ToFloat(RandomVector(n, 9, 0, 1));
  FVec mask(n);
  ASSERT_TRUE(ops_->MagnitudeMask(mask.data(), params.data(), n, n / 3).ok());
  grads[0] = std::numeric_limits<float>::infinity();  // even an overflowing update stays zero
  AdamWParams p;
  p.lr = 0.01f;
  p.weight_decay = 0.1f;
  ASSERT_TRUE(ops_->AdamW(params.data(), grads.data(), m.data(), v.data(), mask.data(), n, p).ok());
  for (size_t i = 0; i < n; ++i) {
    if (mask[i] == 0.0f) {
      ASSERT_EQ(params[i], 0.0f) << i;
      ASSERT_EQ(m[i], 0.0f) << i;
      ASSERT_EQ(v[i], 0.0f) << i;
      ASSERT_FALSE(std::signbit(params[i])) << i;
    } else {
      ASSERT_NE(params[i], 0.0f) << i;
    }
  }
  int64_t count = -1;
  ASSERT_TRUE(ops_->CountNonZero(&count, params.data(), n).ok());
  EXPECT_EQ(count, static_cast<int64_t>(n / 3));
}

TEST_F(MasksTest, ApplyMaskZeroesPrunedEntries) {
  FVec x = {1, 2, 3, 4};
  const FVec mask = {1, 0, 0, 1};
  ASSERT_TRUE(ops_->ApplyMask(x.data(), mask.data(), 4).ok());
  EXPECT_EQ(x, (FVec{1, 0, 0, 4}));
}

TEST_F(MasksTest, CountNonZeroCountsExactlyNonZeroValues) {
  const FVec x = {0.0f,
                  -0.0f,
                  1e-45f,
                  -2.0f,
                  std::numeric_limits<float>::quiet_NaN(),
                  0.0f,
                  std::numeric_limits<float>::infinity()};
  int64_t count = -1;
  ASSERT_TRUE(ops_->CountNonZero(&count, x.data(), x.size()).ok());
  EXPECT_EQ(count, 4);  // denormal, -2, NaN, inf
  ASSERT_TRUE(ops_->CountNonZero(&count, nullptr, 0).ok());
  EXPECT_EQ(count, 0);
}

}  // namespace
}  // namespace sparsescale::kernels
