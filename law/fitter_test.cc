#include "law/fitter.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "law/paper_data_for_test.h"
#include "law/run_io.h"

namespace sparsescale::law {
namespace {

using testing::PaperDataFile;

TEST(FitterTest, VitFitReproducesReleasedCoefficients) {
  const RunSet vit = *LoadRuns(PaperDataFile("vit-jft.json"));
  FitOptions options;
  options.residual = ResidualKind::kAbs;
  options.delta = 1e-2;
  const FitResult fit = *FitLaw(vit.runs, vit.scales, options);
  EXPECT_LE(fit.objective, 4.93e-4);
  const LawPreset released = *FindPreset("vit");
  for (int k = 0; k < NormCoeffs::kCount; ++k) {
    EXPECT_NEAR(fit.norm.p[k] / released.norm.p[k], 1.0, 5e-3) << "coefficient "
                                                               << "abcdefg"[k];
  }
  ASSERT_TRUE(fit.paper.has_value());
  EXPECT_NEAR(fit.paper->a_s / released.paper.a_s, 1.0, 5e-3);
  EXPECT_NEAR(fit.paper->c_s / released.paper.c_s, 1.0, 5e-3);
  EXPECT_NEAR(fit.paper->a_d / released.paper.a_d, 1.0, 5e-3);
  EXPECT_GE(fit.starts_within_1pct, 100);
  EXPECT_LT(fit.mean_relative_error, 0.01);
}

TEST(FitterTest, T5FitReachesReleasedObjective) {
  const RunSet t5 = *LoadRuns(PaperDataFile("t5-c4.csv"));
  FitOptions options;
  options.residual = ResidualKind::kLog;
  options.delta = 1e-3;
  const FitResult fit = *FitLaw(t5.runs, t5.scales, options);
  EXPECT_LE(fit.objective, 7.61e-6);
  EXPECT_EQ(fit.starts, 200);
  EXPECT_GT(fit.starts_within_1pct, 0);
  printf("t5 objective %.6g within1%% %d\n", fit.objective, fit.starts_within_1pct);
  for (double v : fit.norm.p) printf("%.6f ", v);
  printf("\n");
}

}  // namespace
}  // namespace sparsescale::law
