#include "coordinator/store/downsample.h"

#include <cmath>

#include "gtest/gtest.h"

namespace sparsescale::store {
namespace {

std::vector<LossPoint> Curve(int n) {
  std::vector<LossPoint> points(n);
  for (int i = 0; i < n; ++i) {
    points[i].set_step(i + 1);
    points[i].set_train_loss(4.0 / std::sqrt(1.0 + i) + 0.01 * std::sin(i));
  }
  return points;
}

TEST(DownsampleTest, KeepsEverythingWhenUnderTheBudgetOrUnbounded) {
  const auto points = Curve(50);
  EXPECT_EQ(DownsampleIndices(points, 0).size(), 50u);
  EXPECT_EQ(DownsampleIndices(points, 50).size(), 50u);
  EXPECT_EQ(DownsampleIndices(points, 80).size(), 50u);
}

TEST(DownsampleTest, KeepsFirstAndLastWithinTheBudgetSorted) {
  const auto points = Curve(10000);
  for (size_t budget : {2u, 3u, 10u, 500u}) {
    const auto kept = DownsampleIndices(points, budget);
    ASSERT_LE(kept.size(), budget);
    EXPECT_EQ(kept.front(), 0u);
    EXPECT_EQ(kept.back(), 9999u);
    EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
  }
}

TEST(DownsampleTest, KeepsEveryEvalPointWhenTheyAreFew) {
  auto points = Curve(1000);
  for (int i = 99; i < 1000; i += 100) {
    points[i].set_eval_loss(3.0);
  }
  const auto kept = DownsampleIndices(points, 100);
  EXPECT_LE(kept.size(), 100u);
  for (int i = 99; i < 1000; i += 100) {
    EXPECT_TRUE(std::binary_search(kept.begin(), kept.end(), static_cast<size_t>(i))) << i;
  }
}

TEST(DownsampleTest, LttbKeepsALossSpike) {
  auto points = Curve(5000);
  points[2345].set_train_loss(50.0);
  const auto kept = DownsampleIndices(points, 100);
  EXPECT_TRUE(std::binary_search(kept.begin(), kept.end(), size_t{2345}));
}

}  // namespace
}  // namespace sparsescale::store
