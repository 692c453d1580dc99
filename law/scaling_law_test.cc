#include "law/scaling_law.h"

#include <gtest/gtest.h>

namespace sparsescale::law {
namespace {

// Derived check values of Frantar et al. 2024 (full-precision notebook coefficients).
TEST(ScalingLawTest, VitPresetReproducesPaperCheckValues) {
  const LawPreset vit = *FindPreset("vit");
  EXPECT_NEAR(PredictLoss(vit.paper, 0.0, 1e7, 1e9), 6.16474, 5e-5);
  EXPECT_NEAR(PredictLoss(vit.paper, 0.5, 1e7, 1e9), 5.93525, 5e-5);
  EXPECT_NEAR(PredictLoss(vit.paper, 0.75, 1e8, 4e9), 5.00726, 5e-5);
}

TEST(ScalingLawTest, T5PresetReproducesPaperCheckValues) {
  const LawPreset t5 = *FindPreset("t5");
  EXPECT_NEAR(PredictLoss(t5.paper, 0.0, 1e7, 2.5e5), 2.36574, 5e-5);
  EXPECT_NEAR(PredictLoss(t5.paper, 0.5, 1e7, 1e6), 2.10975, 5e-5);
  EXPECT_NEAR(PredictLoss(t5.paper, 0.75, 1e8, 5e5), 1.66792, 5e-5);
}

TEST(ScalingLawTest, DenseEquivalentMultiplierMatchesPaper) {
  const PaperCoeffs vit = FindPreset("vit")->paper;
  const PaperCoeffs t5 = FindPreset("t5")->paper;
  EXPECT_NEAR(DenseEquivalentMultiplier(vit, 0.5), 1.596, 5e-4);
  EXPECT_NEAR(DenseEquivalentMultiplier(vit, 0.75), 2.172, 5e-4);
  EXPECT_NEAR(DenseEquivalentMultiplier(vit, 0.875), 2.634, 5e-4);
  EXPECT_NEAR(DenseEquivalentMultiplier(vit, 1.0), 3.469, 5e-4);
  EXPECT_NEAR(DenseEquivalentMultiplier(t5, 0.5), 1.586, 5e-4);
  EXPECT_NEAR(DenseEquivalentMultiplier(t5, 0.75), 2.157, 5e-4);
  EXPECT_NEAR(DenseEquivalentMultiplier(t5, 0.875), 2.630, 5e-4);
  EXPECT_NEAR(DenseEquivalentMultiplier(t5, 1.0), 3.643, 5e-4);
  EXPECT_DOUBLE_EQ(DenseEquivalentMultiplier(t5, 0.0), 1.0);
}

TEST(ScalingLawTest, PresetPaperFormMatchesRoundedTable) {
  const PaperCoeffs vit = FindPreset("vit")->paper;
  EXPECT_NEAR(vit.a_s / 2.944e2, 1.0, 5e-3);
  EXPECT_NEAR(vit.c_s / 4.682e2, 1.0, 5e-3);
  EXPECT_NEAR(vit.a_d / 2.374e8, 1.0, 5e-3);
  const PaperCoeffs t5 = FindPreset("t5")->paper;
  EXPECT_NEAR(t5.a_s / 1.679e1, 1.0, 5e-3);
  EXPECT_NEAR(t5.c_s / 4.502e1, 1.0, 5e-3);
  EXPECT_NEAR(t5.a_d / 1.053e4, 1.0, 5e-3);
}

TEST(ScalingLawTest, BothFormsPredictTheSameLossAndConvertBack) {
  const LawPreset t5 = *FindPreset("t5");
  for (double s : {0.0, 0.3, 0.9}) {
    EXPECT_NEAR(PredictLoss(t5.norm, t5.scales, s, 3e7, 4e5), PredictLoss(t5.paper, s, 3e7, 4e5),
                1e-12);
  }
  const NormCoeffs back = ToNormalised(t5.paper, t5.scales);
  for (int k = 0; k < NormCoeffs::kCount; ++k) {
    EXPECT_NEAR(back.p[k], t5.norm.p[k], 1e-12 * std::abs(t5.norm.p[k])) << "coefficient " << k;
  }
}

TEST(ScalingLawTest, PaperFormOfNonPositiveDataCoefficientIsAnError) {
  NormCoeffs norm = FindPreset("vit")->norm;
  norm.p[4] = -0.1;
  const absl::StatusOr<PaperCoeffs> paper = ToPaper(norm, Normalisation{1e6, 1e9});
  ASSERT_FALSE(paper.ok());
  EXPECT_NE(paper.status().message().find("e > 0"), std::string::npos);
}

TEST(ScalingLawTest, UnknownPresetIsNotFound) {
  EXPECT_EQ(FindPreset("gpt").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sparsescale::law
