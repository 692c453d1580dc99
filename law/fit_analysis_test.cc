#include "law/fit_analysis.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "law/fit_report.h"
#include "law/paper_data_for_test.h"
#include "law/run_io.h"
#include "law/synthetic_runs_for_test.h"

namespace sparsescale::law {
namespace {

using testing::LoadPaperRuns;
using testing::SyntheticRuns;

FitOptions QuickOptions(int starts) {
  FitOptions options;
  options.starts = starts;
  return options;
}

TEST(FitAnalysisTest, BootstrapIntervalsCoverTrueCoefficientsAndAreReproducible) {
  const LawPreset truth = *FindPreset("vit");
  const std::vector<RunRecord> runs = SyntheticRuns(truth.norm, truth.scales, 0.005, 3);
  const FitOptions options = QuickOptions(30);
  const FitResult base = *FitLaw(runs, truth.scales, options);
  BootstrapOptions bootstrap;
  bootstrap.resamples = 30;
  bootstrap.starts = 2;
  const BootstrapResult result = *BootstrapIntervals(runs, truth.scales, options, base, bootstrap);
  EXPECT_EQ(result.resamples, 30);
  EXPECT_GE(result.usable, 28);
  const std::array<double, 7> want = PaperArray(truth.paper);
  // b_N, b_D and c are the well-determined ones; their 95% intervals must hold the truth.
  for (int k : {3, 5, 6}) {
    EXPECT_LE(result.paper[k].low, want[k]) << kPaperNames[k];
    EXPECT_GE(result.paper[k].high, want[k]) << kPaperNames[k];
  }
  for (int k = 0; k < 7; ++k) {
    EXPECT_LE(result.paper[k].low, result.paper[k].high) << kPaperNames[k];
  }
  const BootstrapResult again = *BootstrapIntervals(runs, truth.scales, options, base, bootstrap);
  for (int k = 0; k < 7; ++k) {
    EXPECT_EQ(result.paper[k].low, again.paper[k].low);
    EXPECT_EQ(result.paper[k].high, again.paper[k].high);
  }
}

// On the released T5 data b_D is poorly determined: some resamples send it to 0, where a_D =
// e^(1/b_D) d_scale overflows. The interval must then be open (infinite), never NaN.
TEST(FitAnalysisTest, BootstrapIntervalOfUnboundedCoefficientIsInfiniteNotNan) {
  const std::optional<RunSet> t5_file = LoadPaperRuns("t5-c4.csv");
  ASSERT_TRUE(t5_file.has_value());
  const RunSet& t5 = *t5_file;
  const FitOptions options = QuickOptions(60);
  const FitResult base = *FitLaw(t5.runs, t5.scales, options);
  BootstrapOptions bootstrap;
  bootstrap.resamples = 40;
  bootstrap.starts = 4;
  const BootstrapResult result = *BootstrapIntervals(t5.runs, t5.scales, options, base, bootstrap);
  for (int k = 0; k < 7; ++k) {
    EXPECT_FALSE(std::isnan(result.paper[k].low)) << kPaperNames[k];
    EXPECT_FALSE(std::isnan(result.paper[k].high)) << kPaperNames[k];
    EXPECT_LE(result.paper[k].low, result.paper[k].high) << kPaperNames[k];
  }
}

TEST(FitAnalysisTest, BootstrapRejectsBadOptions) {
  const LawPreset truth = *FindPreset("vit");
  const std::vector<RunRecord> runs = SyntheticRuns(truth.norm, truth.scales, 0.0, 3);
  FitResult base;
  base.paper = truth.paper;
  BootstrapOptions bootstrap;
  bootstrap.resamples = 0;
  EXPECT_EQ(
      BootstrapIntervals(runs, truth.scales, QuickOptions(1), base, bootstrap).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(FitAnalysisTest, LeaveLargestOutPredictsNoiselessRunsExactly) {
  const LawPreset truth = *FindPreset("t5");
  const std::vector<RunRecord> runs = SyntheticRuns(truth.norm, truth.scales, 0.0, 1);
  const ExtrapolationResult result = *LeaveLargestOut(runs, truth.scales, QuickOptions(30));
  EXPECT_DOUBLE_EQ(result.held_out_nonzeros, 3e8);
  EXPECT_EQ(result.fitted_runs, 100);
  EXPECT_EQ(result.held_out.size(), 20u);
  EXPECT_LT(result.max_abs_relative_error, 1e-4);
}

TEST(FitAnalysisTest, LeaveLargestOutOnReleasedVitDataExtrapolatesWithinTwoPercent) {
  const std::optional<RunSet> vit_file = LoadPaperRuns("vit-jft.json");
  ASSERT_TRUE(vit_file.has_value());
  const RunSet& vit = *vit_file;
  FitOptions options = QuickOptions(50);
  options.residual = ResidualKind::kAbs;
  options.delta = 1e-2;
  const ExtrapolationResult result = *LeaveLargestOut(vit.runs, vit.scales, options);
  EXPECT_DOUBLE_EQ(result.held_out_nonzeros, 84934656.0 * 0.5);
  EXPECT_FALSE(result.held_out.empty());
  EXPECT_LT(result.mean_abs_relative_error, 0.02);
}

// Unstructured runs from law U, n:4 runs (2:4 and 1:4) from a weaker sparsity term sharing
// U's b_N, a_D, b_D and c: the refit must recover that term and the equivalent sparsities.
TEST(FitAnalysisTest, StructureRefitRecoversSparsityTermAndEquivalentSparsity) {
  const LawPreset truth = *FindPreset("vit");
  std::vector<RunRecord> runs = SyntheticRuns(truth.norm, truth.scales, 0.0, 1);
  NormCoeffs structured = truth.norm;
  structured.p[0] = 1.0, structured.p[1] = 0.6, structured.p[2] = 2.38;  // a + c unchanged
  for (const RunRecord& run :
       SyntheticRuns(structured, truth.scales, 0.0, 1, std::vector<double>{0.5, 0.75})) {
    RunRecord nm = run;
    nm.m = 4;
    nm.n = run.sparsity == 0.5 ? 2 : 1;
    nm.structure = nm.n == 2 ? "2:4" : "1:4";
    runs.push_back(nm);
  }
  std::vector<RunRecord> unstructured_runs;
  for (const RunRecord& run : runs) {
    if (!IsNmStructured(run)) {
      unstructured_runs.push_back(run);
    }
  }
  const FitOptions options = QuickOptions(30);
  const FitResult unstructured = *FitLaw(unstructured_runs, truth.scales, options);
  const std::vector<StructureFit> fits = *FitStructures(runs, truth.scales, options, unstructured);
  ASSERT_EQ(fits.size(), 1u);
  const StructureFit& fit = fits[0];
  EXPECT_EQ(fit.m, 4);
  EXPECT_FALSE(fit.b_s_shared);
  EXPECT_EQ(fit.runs, 60 + 30);  // 60 n:4 runs plus the 30 dense runs
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(fit.norm.p[k] / structured.p[k], 1.0, 1e-3) << "abc"[k];
  }
  for (int k = 3; k < 7; ++k) {
    EXPECT_EQ(fit.norm.p[k], unstructured.norm.p[k]);
  }
  ASSERT_EQ(fit.patterns.size(), 2u);
  for (const PatternEquivalent& pattern : fit.patterns) {
    const double factor =
        structured.p[0] * std::pow(1 - pattern.sparsity, structured.p[1]) + structured.p[2];
    const double want =
        1 - std::pow((factor - truth.norm.p[2]) / truth.norm.p[0], 1 / truth.norm.p[1]);
    ASSERT_TRUE(pattern.equivalent_unstructured.has_value()) << pattern.pattern;
    EXPECT_NEAR(*pattern.equivalent_unstructured, want, 1e-3) << pattern.pattern;
    EXPECT_LT(*pattern.equivalent_unstructured, pattern.sparsity) << pattern.pattern;
  }
}

TEST(FitAnalysisTest, NoStructuredRunsGiveNoStructureFits) {
  const LawPreset truth = *FindPreset("t5");
  const std::vector<RunRecord> runs = SyntheticRuns(truth.norm, truth.scales, 0.0, 1);
  FitResult unstructured;
  unstructured.norm = truth.norm;
  EXPECT_TRUE(FitStructures(runs, truth.scales, QuickOptions(1), unstructured)->empty());
}

TEST(FitAnalysisTest, EquivalentSparsityInvertsTheCapacityFactor) {
  const NormCoeffs law = FindPreset("t5")->norm;
  const double s = 0.6;
  const double factor = law.p[0] * std::pow(1 - s, law.p[1]) + law.p[2];
  EXPECT_NEAR(*EquivalentUnstructuredSparsity(law, factor), s, 1e-12);
  EXPECT_FALSE(EquivalentUnstructuredSparsity(law, law.p[2] * 0.9).has_value());  // beyond S=1
  EXPECT_FALSE(EquivalentUnstructuredSparsity(law, (law.p[0] + law.p[2]) * 1.1).has_value());
}

// The released T5 runs (4 sizes): the held-out fit's minima, their spread, the lowest-objective
// errors and the selection all agree with each other, and the whole check is reproducible.
TEST(FitAnalysisTest, LeaveLargestOutOnT5ReportsEveryMinimumAndChoosesByValidationError) {
  const std::optional<RunSet> t5_file = LoadPaperRuns("t5-c4.csv");
  ASSERT_TRUE(t5_file.has_value());
  const RunSet& t5 = *t5_file;
  const FitOptions options = QuickOptions(60);
  const ExtrapolationResult e = *LeaveLargestOut(t5.runs, t5.scales, options);
  ASSERT_FALSE(e.fit.minima.empty());
  ASSERT_EQ(e.minima_mean_abs_relative_error.size(), e.fit.minima.size());
  EXPECT_DOUBLE_EQ(e.lowest_objective_mean_abs_relative_error, e.minima_mean_abs_relative_error[0]);
  EXPECT_DOUBLE_EQ(e.mean_abs_relative_error,
                   e.minima_mean_abs_relative_error[e.fit.chosen_minimum]);
  if (e.selection.applied) {
    ASSERT_EQ(e.selection.validation_errors.size(), e.fit.minima.size());
    const double chosen = e.selection.validation_errors[e.selection.chosen];
    for (double v : e.selection.validation_errors) {
      EXPECT_LE(chosen, v);
    }
    EXPECT_EQ(e.fit.chosen_minimum, e.selection.chosen);
  }
  ASSERT_EQ(e.held_out_prediction_range.size(), e.held_out.size());
  for (size_t i = 0; i < e.held_out.size(); ++i) {
    EXPECT_LE(e.held_out_prediction_range[i].first, e.held_out[i].predicted);
    EXPECT_GE(e.held_out_prediction_range[i].second, e.held_out[i].predicted);
  }
  const ExtrapolationResult again = *LeaveLargestOut(t5.runs, t5.scales, options);
  EXPECT_EQ(again.fit.norm.p, e.fit.norm.p);
  EXPECT_EQ(again.mean_abs_relative_error, e.mean_abs_relative_error);
  const ExtrapolationResult plain = *LeaveLargestOut(t5.runs, t5.scales, options, false);
  EXPECT_EQ(plain.fit.chosen_minimum, 0);
  EXPECT_DOUBLE_EQ(plain.mean_abs_relative_error, e.lowest_objective_mean_abs_relative_error);
}

// The 24 runs of a quick study on the corpus (tiny, noisy models: the sparsity term is barely
// identified). Their bootstrap once drove a coefficient to 0 while its partner overflowed, and
// Ceres aborted the process on a finite value with a NaN gradient; every resample must now end
// in a physical fit or a clean failure.
TEST(FitAnalysisTest, BootstrapOnDegenerateStudyRunsFinishesWithPhysicalFits) {
  const double cells[24][4] = {
      {0, 1536, 149504, 2.5584103215369396},     {0, 1536, 299520, 2.4323871450033039},
      {0.5, 1728, 149504, 2.5843968245899305},   {0.5, 1728, 299520, 2.4820403305639047},
      {0.75, 1536, 149504, 2.6910558950039558},  {0.75, 1536, 299520, 2.7699488646176178},
      {0.875, 1452, 149504, 2.6383918910578359}, {0.875, 1452, 299520, 2.5869437607034342},
      {0, 3456, 149504, 2.4891694910766091},     {0, 3456, 299520, 2.4036348439112771},
      {0.5, 3072, 149504, 2.5229247194365598},   {0.5, 3072, 299520, 2.4343909039453138},
      {0.75, 2904, 149504, 2.5569628387165722},  {0.75, 2904, 299520, 2.4632115611602785},
      {0.875, 3072, 149504, 2.7296976903162431}, {0.875, 3072, 299520, 2.5714674165064935},
      {0, 6144, 149504, 2.4426037674129475},     {0, 6144, 299520, 2.3795634610287379},
      {0.5, 5808, 149504, 2.4557009956042748},   {0.5, 5808, 299520, 2.3835807098075747},
      {0.75, 6144, 149504, 2.4955418746394571},  {0.75, 6144, 299520, 2.4094884333462687},
      {0.875, 6348, 149504, 2.5627000525710173}, {0.875, 6348, 299520, 2.4623330500908196},
  };
  std::vector<RunRecord> runs;
  for (const auto& cell : cells) {
    RunRecord run;
    run.label = "cell " + std::to_string(runs.size());
    run.sparsity = cell[0];
    run.nonzeros = cell[1];
    run.data = cell[2];
    run.loss = cell[3];
    runs.push_back(run);
  }
  const Normalisation scales{1e6, 1e5};
  const FitOptions options = QuickOptions(100);
  const FitResult base = *FitLaw(runs, scales, options);
  BootstrapOptions bootstrap;
  bootstrap.resamples = 50;
  const BootstrapResult result = *BootstrapIntervals(runs, scales, options, base, bootstrap);
  EXPECT_EQ(result.usable, 50);
  for (const PaperCoeffs& sample : result.samples) {
    EXPECT_GE(sample.b_s, 0.0);
    EXPECT_GT(sample.b_n, 0.0);
    EXPECT_GT(sample.b_d, 0.0);
    EXPECT_GE(sample.c, 0.0);
    EXPECT_LT(sample.c, 2.3796);  // the lowest measured loss
  }
}

TEST(FitAnalysisTest, SelectionNeedsThreeSizes) {
  const LawPreset truth = *FindPreset("t5");
  std::vector<RunRecord> runs;
  for (const RunRecord& run : SyntheticRuns(truth.norm, truth.scales, 0.01, 1)) {
    if (run.nonzeros <= 3e6) {
      runs.push_back(run);
    }
  }
  EXPECT_EQ(DistinctSizes(runs), 2);
  FitResult fit = *FitLaw(runs, truth.scales, QuickOptions(10));
  const MinimumSelection selection = SelectMinimum(runs, truth.scales, QuickOptions(10), fit);
  EXPECT_FALSE(selection.applied);
  EXPECT_EQ(selection.skipped, "needs at least 3 model sizes, got 2");
  FitRequest request;
  request.fit = QuickOptions(10);
  const FitReport report = *FitRunRecords(runs, truth.scales, "steps", 1, request);
  EXPECT_FALSE(report.extrapolation.has_value());
  EXPECT_EQ(report.extrapolation_error,
            "needs at least 3 model sizes (2 to fit, 1 to predict), got 2");
}

// The report prints every held-out cell with measured, predicted and relative error.
TEST(FitAnalysisTest, ReportListsEveryHeldOutCell) {
  const LawPreset truth = *FindPreset("vit");
  const std::vector<RunRecord> runs = SyntheticRuns(truth.norm, truth.scales, 0.005, 4);
  FitRequest request;
  request.fit = QuickOptions(20);
  const FitReport report = *FitRunRecords(runs, truth.scales, "images", 1, request);
  ASSERT_TRUE(report.extrapolation.has_value());
  const std::string text = FormatFitReport(report, false);
  EXPECT_NE(text.find("leave-largest-out: fit 100 runs with N < 3e+08, predict the 20"),
            std::string::npos)
      << text;
  for (const PointResidual& point : report.extrapolation->held_out) {
    EXPECT_NE(text.find(point.label + " "), std::string::npos) << point.label;
  }
  const nlohmann::json json = FitReportToJson(report);
  EXPECT_EQ(json["leave_largest_out"]["held_out"].size(), 20u);
  EXPECT_EQ(json["minima"].size(), report.fit.minima.size());
}

// The S_opt interval of bootstrap samples holds the estimate and, on runs from a known law,
// the true S_opt.
TEST(FitAnalysisTest, OptimalSparsityIntervalHoldsEstimateAndTruth) {
  const LawPreset truth = *FindPreset("vit");
  const std::vector<RunRecord> runs = SyntheticRuns(truth.norm, truth.scales, 0.005, 3);
  const FitOptions options = QuickOptions(30);
  const FitResult base = *FitLaw(runs, truth.scales, options);
  BootstrapOptions bootstrap;
  bootstrap.resamples = 40;
  bootstrap.starts = 2;
  const BootstrapResult result = *BootstrapIntervals(runs, truth.scales, options, base, bootstrap);
  EXPECT_EQ(result.samples.size(), static_cast<size_t>(result.usable));
  const double n = 3e7, compute = 50 * DenseOptimalCompute(truth.paper, n, CostOptions{});
  const CoefficientInterval s =
      *OptimalSparsityInterval(*base.paper, result.samples, n, compute, CostOptions{}, 0.95);
  const double want = FindOptimalSparsity(truth.paper, n, compute, CostOptions{})->sparsity;
  EXPECT_GT(want, 0.3);
  EXPECT_LE(s.low, s.estimate);
  EXPECT_GE(s.high, s.estimate);
  EXPECT_LE(s.low, want);
  EXPECT_GE(s.high, want);
  EXPECT_FALSE(
      OptimalSparsityInterval(*base.paper, result.samples, -1, compute, CostOptions{}, 0.95).ok());
}

}  // namespace
}  // namespace sparsescale::law
