#include "law/optimal_sparsity.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sparsescale::law {
namespace {

CostOptions Cost(CostModel model, double tokens_per_unit = 1) {
  CostOptions options;
  options.model = model;
  options.tokens_per_data_unit = tokens_per_unit;
  return options;
}

TEST(OptimalSparsityTest, DefaultScheduleAverageDensityIsPaperValue) {
  const PruningSchedule schedule;
  EXPECT_DOUBLE_EQ(AverageDensity(0.0, schedule), 1.0);
  EXPECT_DOUBLE_EQ(AverageDensity(0.8, schedule), 1.0 - 0.625 * 0.8);
  const double s = 0.75;
  EXPECT_DOUBLE_EQ(ComputeMultiplier(s, Cost(CostModel::kSparse)), (1 - 0.625 * s) / (1 - s));
  EXPECT_DOUBLE_EQ(ComputeMultiplier(s, Cost(CostModel::kDense)), 1 / (1 - s));
}

TEST(OptimalSparsityTest, AverageDensityFollowsWindowAndPower) {
  // Linear ramp over the whole run: density falls from 1 to 1 - S, averaging 1 - S/2.
  EXPECT_NEAR(AverageDensity(0.5, {0.0, 1.0, 1.0}), 0.75, 1e-15);
  // Pruned at once at the start: density 1 - S throughout.
  EXPECT_NEAR(AverageDensity(0.5, {0.0, 0.0, 3.0}), 0.5, 1e-15);
  // Numerical average of the cubic schedule s(t) = S (1 - (1 - p)^3) over a custom window.
  const PruningSchedule window{0.1, 0.6, 3.0};
  const double s = 0.9;
  double sum = 0;
  const int steps = 200000;
  for (int i = 0; i < steps; ++i) {
    const double t = (i + 0.5) / steps;
    const double p = std::clamp((t - 0.1) / 0.5, 0.0, 1.0);
    sum += 1 - s * (1 - std::pow(1 - p, 3));
  }
  EXPECT_NEAR(AverageDensity(s, window), sum / steps, 1e-9);
}

TEST(OptimalSparsityTest, TrainingComputeIsSixNDForDenseRuns) {
  EXPECT_DOUBLE_EQ(TrainingCompute(0.0, 1e8, 1e9, Cost(CostModel::kSparse)), 6e17);
  EXPECT_DOUBLE_EQ(TrainingCompute(0.0, 1e8, 1e5, Cost(CostModel::kDense, 65536)), 6e13 * 65536);
  EXPECT_NEAR(DataForCompute(0.5, 1e8, TrainingCompute(0.5, 1e8, 3e9, Cost(CostModel::kSparse)),
                             Cost(CostModel::kSparse)),
              3e9, 1e-3);
}

TEST(OptimalSparsityTest, DenseOptimalSizeMinimisesDenseLossAtFixedCompute) {
  for (const char* name : {"t5", "vit"}) {
    const LawPreset preset = *FindPreset(name);
    const CostOptions cost = Cost(CostModel::kSparse, preset.tokens_per_data_unit);
    const double compute = 1e20;
    const double n_opt = DenseOptimalNonzeros(preset.paper, compute, cost);
    auto loss = [&](double n) {
      return PredictLoss(preset.paper, 0, n, DataForCompute(0, n, compute, cost));
    };
    EXPECT_LT(loss(n_opt), loss(n_opt * 1.05)) << name;
    EXPECT_LT(loss(n_opt), loss(n_opt / 1.05)) << name;
    EXPECT_NEAR(DenseOptimalCompute(preset.paper, n_opt, cost) / compute, 1.0, 1e-10) << name;
  }
}

TEST(OptimalSparsityTest, OptimumMatchesBruteForceSearch) {
  const LawPreset t5 = *FindPreset("t5");
  const CostOptions cost = Cost(CostModel::kSparse, t5.tokens_per_data_unit);
  const double n = 1e7, compute = 30 * DenseOptimalCompute(t5.paper, n, cost);
  const OptimalSparsity opt = *FindOptimalSparsity(t5.paper, n, compute, cost);
  double best_s = 0, best_loss = 1e300;
  for (int i = 0; i < 200000; ++i) {
    const double s = i / 200000.0;
    const double loss = PredictLoss(t5.paper, s, n, DataForCompute(s, n, compute, cost));
    if (loss < best_loss) {
      best_s = s, best_loss = loss;
    }
  }
  EXPECT_NEAR(opt.sparsity, best_s, 1e-4);
  EXPECT_LE(opt.loss, best_loss + 1e-12);
  EXPECT_GT(opt.sparsity, 0.1);
}

TEST(OptimalSparsityTest, NonDecreasingInComputeAndZeroBelowThreshold) {
  for (const char* name : {"t5", "vit"}) {
    const LawPreset preset = *FindPreset(name);
    for (CostModel model : {CostModel::kSparse, CostModel::kDense}) {
      const CostOptions cost = Cost(model, preset.tokens_per_data_unit);
      for (double n : {1e6, 1e8}) {
        const double anchor = DenseOptimalCompute(preset.paper, n, cost);
        double previous = -1;
        bool saw_zero = false, saw_positive = false;
        for (double c : LogSpace(anchor * 1e-2, anchor * 1e8, 120)) {
          const double s = FindOptimalSparsity(preset.paper, n, c, cost)->sparsity;
          EXPECT_GE(s, previous - 1e-9) << name << " N=" << n << " C=" << c;
          EXPECT_FALSE(saw_positive && s == 0) << "zero after positive at C=" << c;
          saw_zero |= s == 0;
          saw_positive |= s > 0;
          previous = s;
        }
        EXPECT_TRUE(saw_zero) << name << ": dense must be optimal at small compute";
        EXPECT_TRUE(saw_positive) << name << ": sparsity must pay off at large compute";
      }
    }
  }
}

TEST(OptimalSparsityTest, DenseCostNeverGivesMoreSparsityThanSparseCost) {
  for (const char* name : {"t5", "vit"}) {
    const LawPreset preset = *FindPreset(name);
    const CostOptions sparse = Cost(CostModel::kSparse, preset.tokens_per_data_unit);
    const CostOptions dense = Cost(CostModel::kDense, preset.tokens_per_data_unit);
    for (double n : {1e6, 1e7, 1e9}) {
      const double anchor = DenseOptimalCompute(preset.paper, n, sparse);
      for (double c : LogSpace(anchor * 1e-2, anchor * 1e8, 60)) {
        EXPECT_LE(FindOptimalSparsity(preset.paper, n, c, dense)->sparsity,
                  FindOptimalSparsity(preset.paper, n, c, sparse)->sparsity + 1e-9)
            << name << " N=" << n << " C=" << c;
      }
    }
  }
}

// S_opt depends on (N, C) only through C / C*_dense(N) (Frantar et al. 2024).
TEST(OptimalSparsityTest, ContoursRunParallelToDenseFrontier) {
  const LawPreset vit = *FindPreset("vit");
  const CostOptions cost = Cost(CostModel::kSparse);
  for (double level : {0.5, 0.875}) {
    const double ratio_small = *ComputeForSparsity(vit.paper, 1e6, level, cost) /
                               DenseOptimalCompute(vit.paper, 1e6, cost);
    const double ratio_large = *ComputeForSparsity(vit.paper, 1e9, level, cost) /
                               DenseOptimalCompute(vit.paper, 1e9, cost);
    EXPECT_NEAR(ratio_small / ratio_large, 1.0, 1e-6) << "level " << level;
    EXPECT_GT(ratio_small, 1.0);
  }
}

TEST(OptimalSparsityTest, ContourTableHasTheOptimumOfEachGridPoint) {
  const LawPreset t5 = *FindPreset("t5");
  const std::vector<double> nonzeros = {1e6, 1e7, 1e8}, computes = {1e17, 1e19, 1e21};
  const CostOptions cost = Cost(CostModel::kSparse, 65536);
  const ContourTable table = *SparsityContourTable(t5.paper, nonzeros, computes, cost);
  EXPECT_EQ(table.nonzeros, nonzeros);
  EXPECT_EQ(table.computes, computes);
  ASSERT_EQ(table.sparsity.size(), 3u);
  for (size_t r = 0; r < 3; ++r) {
    ASSERT_EQ(table.sparsity[r].size(), 3u);
    for (size_t c = 0; c < 3; ++c) {
      const absl::StatusOr<OptimalSparsity> cell =
          FindOptimalSparsity(t5.paper, nonzeros[r], computes[c], cost);
      ASSERT_TRUE(cell.ok()) << cell.status();
      EXPECT_EQ(table.sparsity[r][c], cell->sparsity) << "row " << r << " column " << c;
    }
    EXPECT_LE(table.sparsity[r][0], table.sparsity[r][1]);
    EXPECT_LE(table.sparsity[r][1], table.sparsity[r][2]);
  }
  // Bigger models need more compute before sparsity pays.
  EXPECT_GE(table.sparsity[0][1], table.sparsity[2][1]);
}

TEST(OptimalSparsityTest, NonPositiveInputsAreErrors) {
  const PaperCoeffs law = FindPreset("t5")->paper;
  const CostOptions cost;
  EXPECT_NE(FindOptimalSparsity(law, 0, 1e20, cost).status().message().find("nonzeros"),
            std::string::npos);
  EXPECT_NE(FindOptimalSparsity(law, 1e6, -1, cost).status().message().find("compute"),
            std::string::npos);
  EXPECT_EQ(ComputeForSparsity(law, 1e6, 1.0, cost).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(OptimalSparsityTest, LogSpaceIncludesBothEnds) {
  const std::vector<double> v = LogSpace(1e2, 1e6, 5);
  ASSERT_EQ(v.size(), 5u);
  EXPECT_DOUBLE_EQ(v.front(), 1e2);
  EXPECT_NEAR(v[2], 1e4, 1e-8);
  EXPECT_NEAR(v.back(), 1e6, 1e-6);
}

}  // namespace
}  // namespace sparsescale::law
