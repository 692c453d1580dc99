#include "client/study_report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "law/proto/law_proto.h"
#include "law/scaling_law.h"

namespace sparsescale::client {
namespace {

namespace v1 = sparsescale::v1;

TEST(StudyReportTest, HeldOutCheckListsEveryCellWithItsError) {
  v1::HeldOutCheck check;
  check.set_held_out_nonzeros(24576);
  check.set_fitted_runs(24);
  check.set_mean_abs_relative_error(0.0125);
  check.set_max_abs_relative_error(0.029);
  check.set_minima(2);
  for (int i = 0; i < 3; ++i) {
    v1::HeldOutPoint* p = check.add_points();
    p->set_job_id(absl::StrCat("job-", i));
    p->set_sparsity(0.5);
    p->set_nonzeros(24576);
    p->set_tokens(4e5);
    p->set_measured(2.0);
    p->set_predicted(2.02 + 0.01 * i);
    p->set_relative_error((p->predicted() - 2.0) / 2.0);
  }
  const std::string text = FormatHeldOutCheck(check);
  EXPECT_NE(text.find("held-out check (fit 24 runs below N = 2.458e+04, predict its 3 cells): "
                      "mean |error| 1.25%, worst 2.90%"),
            std::string::npos)
      << text;
  for (const char* cell : {"job-0", "job-1", "job-2", "+1.00%", "+1.50%", "+2.00%"}) {
    EXPECT_NE(text.find(cell), std::string::npos) << cell << "\n" << text;
  }
  check.set_skipped("needs at least 3 model sizes (2 to fit, 1 to predict), got 2");
  EXPECT_EQ(HeldOutSummaryLine(check),
            "held-out check skipped: needs at least 3 model sizes (2 to fit, 1 to predict), got 2");
}

TEST(StudyReportTest, StructureRefitsListEachPatternWithItsEquivalentUnstructuredSparsity) {
  v1::FitLawResponse fit;
  EXPECT_EQ(FormatStructureRefits(fit), "");  // no n:m runs: no section
  v1::StructureRefit* family = fit.add_structures();
  family->set_m(4);
  family->set_runs(12);
  family->set_b_s_shared(false);
  family->mutable_coefficients()->set_a_s(21.5);
  family->mutable_coefficients()->set_b_s(0.8);
  family->mutable_coefficients()->set_c_s(40.25);
  v1::StructurePattern* two = family->add_patterns();
  two->set_pattern("2:4");
  two->set_sparsity(0.5);
  two->set_equivalent_unstructured(0.412);
  v1::StructurePattern* one = family->add_patterns();
  one->set_pattern("1:4");
  one->set_sparsity(0.75);  // no equivalent: its factor is below every unstructured one
  const std::string text = FormatStructureRefits(fit);
  EXPECT_NE(text.find("2:4"), std::string::npos) << text;
  EXPECT_NE(text.find("0.412"), std::string::npos) << text;
  EXPECT_NE(text.find("1:4"), std::string::npos) << text;
  EXPECT_NE(text.find("none in [0, 1)"), std::string::npos) << text;
  EXPECT_NE(text.find("21.5"), std::string::npos) << text;
  EXPECT_NE(text.find("40.25"), std::string::npos) << text;
}

TEST(StudyReportTest, SparsityCarriesItsBootstrapIntervalWhenThereAreSamples) {
  const law::PaperCoeffs vit = law::FindPreset("vit")->paper;
  const double n = 3e7, compute = 1e22;
  const std::string plain = SparsityWithInterval(vit, {}, n, compute);
  EXPECT_EQ(plain.find('['), std::string::npos);
  // Identical samples give a zero-width interval around the estimate.
  EXPECT_EQ(SparsityWithInterval(vit, {vit, vit, vit}, n, compute),
            absl::StrCat(plain, " [", plain, ", ", plain, "]"));
  law::PaperCoeffs weaker = vit, stronger = vit;
  weaker.b_s *= 0.9;
  stronger.b_s *= 1.1;
  const std::string spread = SparsityWithInterval(vit, {weaker, vit, stronger}, n, compute);
  EXPECT_EQ(spread.rfind(plain + " [", 0), 0u) << spread;
  EXPECT_NE(spread, absl::StrCat(plain, " [", plain, ", ", plain, "]"));
}

TEST(StudyReportTest, FiguresAreWrittenNextToTheCsvs) {
  const law::LawPreset t5 = *law::FindPreset("t5");
  std::vector<v1::Job> jobs;
  for (int width : {16, 32, 64}) {
    for (double s : {0.0, 0.5}) {
      v1::Job job;
      job.set_id(absl::StrCat("j", width, "-", s));
      job.set_state(v1::JOB_STATE_SUCCEEDED);
      job.mutable_spec()->mutable_model()->set_width(width);
      job.mutable_spec()->mutable_model()->set_layers(2);
      job.mutable_spec()->mutable_data()->set_tokens(1e6);
      job.mutable_spec()->mutable_pruning()->set_sparsity(s);
      job.set_last_eval_loss(3.0 - 0.01 * width);
      jobs.push_back(job);
    }
  }
  v1::FitLawResponse fit;
  *fit.mutable_coefficients() = law::LawCoefficientsOf(t5.paper);
  fit.mutable_held_out()->set_held_out_nonzeros(12.0 * 64 * 64 * 2);
  *fit.add_bootstrap_samples() = law::LawCoefficientsOf(t5.paper);
  *fit.add_bootstrap_samples() = law::LawCoefficientsOf(t5.paper);
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / absl::StrCat("study_report_test_", getpid());
  std::filesystem::create_directories(dir);
  std::vector<std::string> written;
  ASSERT_TRUE(WriteStudyFigures(fit, jobs, dir.string(), &written).ok());
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(written[0], (dir / "loss_vs_nonzeros.svg").string());
  std::stringstream loss;
  loss << std::ifstream(written[0]).rdbuf();
  EXPECT_NE(loss.str().find("held out (N = 9.83e+04)"), std::string::npos);
  EXPECT_EQ(written[1], (dir / "sparsity_contours.svg").string());
  EXPECT_TRUE(std::filesystem::file_size(written[1]) > 0);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(WriteStudyFigures(fit, jobs, "/nonexistent-dir", &written).code(),
            absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace sparsescale::client
