// FitLaw fits the final eval loss of a sweep's succeeded jobs and stores the fit with its
// inputs; OptimalSparsity answers from the stored fit.
#include <cmath>
#include <string>
#include <vector>

#include "law/optimal_sparsity.h"
#include "law/scaling_law.h"
#include "tests/coordinator/coordinator_fixture.h"

namespace sparsescale::coordinator::testing {
namespace {

// The law the synthetic runs follow (paper form).
double TrueLoss(double s, double n, double d) {
  return (40.0 * std::pow(1.0 - s, 1.5) + 10.0) * std::pow(n, -0.3) + std::pow(2e4 / d, 0.4) + 1.0;
}

// The synthetic n:m runs lose capacity like unstructured runs at a lower sparsity: 2:4 (S = 0.5)
// like unstructured 0.4, 1:4 (S = 0.75) like 0.65. Unstructured and dense cells map to
// themselves.
double CapacitySparsity(const v1::PruningSpec& pruning) {
  if (pruning.structure() != v1::SPARSITY_STRUCTURE_NM) {
    return pruning.sparsity();
  }
  return pruning.n() == 2 ? 0.4 : 0.65;
}

class FitLawTest : public CoordinatorFixture {
 protected:
  void SetUp() override {
    CoordinatorFixture::SetUp();
    StartServer();
  }

  // Reports one point for the leased cell (its non-zeros, as the trainer counts them) and
  // completes it with the final eval loss TrueLoss gives for its sparsity, size and tokens.
  void SucceedOnTheTrueLaw(const std::string& w, const v1::Lease& lease) {
    const auto& spec = lease.spec();
    const double s = spec.pruning().sparsity();
    const double n =
        12.0 * spec.model().width() * spec.model().width() * spec.model().layers() * (1.0 - s);
    auto points = MakePoints(1, 1);
    points[0].set_nonzeros_paper(static_cast<int64_t>(n));
    ASSERT_TRUE(Report(w, lease.job_id(), 1, points).ok());
    v1::CompleteJobRequest done;
    done.set_request_id("done-" + lease.job_id());
    done.set_worker_id(w);
    done.set_job_id(lease.job_id());
    done.set_attempt(1);
    done.set_outcome(v1::JOB_STATE_SUCCEEDED);
    done.set_final_eval_loss(TrueLoss(CapacitySparsity(spec.pruning()),
                                      static_cast<double>(static_cast<int64_t>(n)),
                                      static_cast<double>(spec.data().tokens())));
    v1::CompleteJobResponse response;
    ASSERT_TRUE(worker().CompleteJob(Context().get(), done, &response).ok());
  }
  // A sweep of TinySpec over `sizes` x {0, 0.5, 0.75} x `tokens` (x `structures` when given),
  // every cell leased to one worker and succeeded on the true law; returns the sweep id.
  std::string SucceededSweep(const std::string& request_id, const std::vector<int64_t>& sizes,
                             const std::vector<int64_t>& tokens, int want_jobs,
                             const std::vector<v1::StructureAxis>& structures = {}) {
    v1::CreateSweepRequest sweep;
    sweep.set_request_id(request_id);
    *sweep.mutable_base() = TinySpec();
    for (int64_t n : sizes) {
      sweep.mutable_axes()->add_nonzeros(n);
    }
    for (double s : {0.0, 0.5, 0.75}) {
      sweep.mutable_axes()->add_sparsities(s);
    }
    for (int64_t d : tokens) {
      sweep.mutable_axes()->add_tokens(d);
    }
    for (const v1::StructureAxis& structure : structures) {
      *sweep.mutable_axes()->add_structures() = structure;
    }
    v1::CreateSweepResponse created;
    grpc::Status status = client().CreateSweep(Context().get(), sweep, &created);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(created.jobs_created(), want_jobs);
    const std::string w = RegisterWorker("w-" + request_id, want_jobs);
    const auto leases = Acquire(w);
    EXPECT_EQ(leases.size(), static_cast<size_t>(want_jobs));
    for (const v1::Lease& lease : leases) {
      SucceedOnTheTrueLaw(w, lease);
    }
    return created.sweep().id();
  }
};

TEST_F(FitLawTest, FitsSucceededJobsOfASweepAndAnswersOptimalSparsity) {
  const std::string sweep_id =
      SucceededSweep("sweep", {100'000, 200'000, 400'000, 800'000}, {8192, 32768}, 24);
  ASSERT_FALSE(HasFailure());
  v1::FitLawRequest fit;
  fit.set_request_id("fit-1");
  fit.set_sweep_id(sweep_id);
  fit.set_starts(40);
  fit.set_seed(7);
  v1::FitLawResponse fitted;
  grpc::Status status = client().FitLaw(Context(60'000).get(), fit, &fitted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(fitted.runs(), 24);
  EXPECT_FALSE(fitted.fit_id().empty());
  EXPECT_LT(fitted.mean_relative_error(), 0.01);
  // Four sizes: the check fits the three smaller ones and predicts the 6 cells of the largest
  // (noiseless runs of the law's own form, so the prediction is close).
  const v1::HeldOutCheck& held_out = fitted.held_out();
  EXPECT_EQ(held_out.skipped(), "");
  EXPECT_EQ(held_out.fitted_runs(), 18);
  ASSERT_EQ(held_out.points_size(), 6);
  EXPECT_GT(held_out.minima(), 0);
  EXPECT_LT(held_out.max_abs_relative_error(), 0.01);
  for (const v1::HeldOutPoint& point : held_out.points()) {
    EXPECT_EQ(point.relative_error(), (point.predicted() - point.measured()) / point.measured());
    EXPECT_GT(point.nonzeros(), held_out.held_out_nonzeros() / 1.1);
    EXPECT_FALSE(point.job_id().empty());
  }
  EXPECT_GT(held_out.coefficients().b_n(), 0);
  EXPECT_GT(fitted.minima(), 0);
  EXPECT_EQ(fitted.structures_size(), 0);  // no n:m runs
  v1::FitLawResponse replay;
  ASSERT_TRUE(client().FitLaw(Context().get(), fit, &replay).ok());
  EXPECT_EQ(replay.SerializeAsString(), fitted.SerializeAsString());

  v1::OptimalSparsityRequest optimal;
  optimal.set_fit_id(fitted.fit_id());
  optimal.set_nonzeros(1e6);
  optimal.set_compute(1e15);
  v1::OptimalSparsityResponse best;
  status = client().OptimalSparsity(Context().get(), optimal, &best);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // Exactly what the law library says for the returned coefficients (the stored fit's).
  const v1::LawCoefficients& c = fitted.coefficients();
  const law::PaperCoeffs law{.a_s = c.a_s(),
                             .b_s = c.b_s(),
                             .c_s = c.c_s(),
                             .b_n = c.b_n(),
                             .a_d = c.a_d(),
                             .b_d = c.b_d(),
                             .c = c.c()};
  law::CostOptions cost;
  cost.model = law::CostModel::kSparse;
  cost.tokens_per_data_unit = 1.0;
  const absl::StatusOr<law::OptimalSparsity> expected =
      law::FindOptimalSparsity(law, 1e6, 1e15, cost);
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_EQ(best.sparsity(), expected->sparsity);
  EXPECT_EQ(best.loss(), expected->loss);
  EXPECT_EQ(best.tokens(), expected->data);
  // The same question with the coefficients instead of the fit id gets the same answer.
  optimal.clear_fit_id();
  *optimal.mutable_coefficients() = c;
  v1::OptimalSparsityResponse by_value;
  ASSERT_TRUE(client().OptimalSparsity(Context().get(), optimal, &by_value).ok());
  EXPECT_EQ(by_value.SerializeAsString(), best.SerializeAsString());
}

// n:m cells enter only the per-structure refit: the m = 4 family's sparsity term is refitted on
// its runs plus the dense ones, and each pattern is mapped to the unstructured sparsity with the
// same capacity (the synthetic runs were made with 0.4 for 2:4 and 0.65 for 1:4).
TEST_F(FitLawTest, StructuredCellsGetTheirOwnRefitAndEquivalentUnstructuredSparsity) {
  std::vector<v1::StructureAxis> structures(3);
  structures[0].set_structure(v1::SPARSITY_STRUCTURE_UNSPECIFIED);
  for (int n : {2, 1}) {
    structures[3 - n].set_structure(v1::SPARSITY_STRUCTURE_NM);
    structures[3 - n].set_n(n);
    structures[3 - n].set_m(4);
  }
  // 4 sizes x 2 budgets x (3 unstructured + 2 n:m)
  const std::string sweep_id = SucceededSweep(
      "sweep-nm", {100'000, 200'000, 400'000, 800'000}, {8192, 32768}, 40, structures);
  ASSERT_FALSE(HasFailure());
  v1::FitLawRequest fit;
  fit.set_request_id("fit-nm");
  fit.set_sweep_id(sweep_id);
  fit.set_starts(40);
  fit.set_seed(7);
  v1::FitLawResponse fitted;
  grpc::Status status = client().FitLaw(Context(60'000).get(), fit, &fitted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(fitted.runs(), 24);  // the main fit: dense and unstructured cells only
  ASSERT_EQ(fitted.structures_size(), 1);
  const v1::StructureRefit& family = fitted.structures(0);
  EXPECT_EQ(family.m(), 4);
  EXPECT_EQ(family.runs(), 24);  // 16 n:m runs plus the 8 dense ones
  EXPECT_FALSE(family.b_s_shared());
  EXPECT_TRUE(family.has_coefficients());
  EXPECT_EQ(family.coefficients().b_n(), fitted.coefficients().b_n());  // shared
  ASSERT_EQ(family.patterns_size(), 2);
  for (const v1::StructurePattern& pattern : family.patterns()) {
    ASSERT_TRUE(pattern.has_equivalent_unstructured()) << pattern.pattern();
    if (pattern.pattern() == "2:4") {
      EXPECT_EQ(pattern.sparsity(), 0.5);
      EXPECT_NEAR(pattern.equivalent_unstructured(), 0.4, 0.02);
    } else {
      EXPECT_EQ(pattern.pattern(), "1:4");
      EXPECT_EQ(pattern.sparsity(), 0.75);
      EXPECT_NEAR(pattern.equivalent_unstructured(), 0.65, 0.02);
    }
  }
}

// With bootstrap resamples the fit carries each resample's coefficients, from which intervals
// on S_opt are taken; the held-out check can be skipped.
TEST_F(FitLawTest, BootstrapSamplesAreStoredWithTheFitAndHeldOutCanBeSkipped) {
  const std::string sweep_id = SucceededSweep("sweep-b", {100'000, 400'000}, {8192, 32768}, 12);
  ASSERT_FALSE(HasFailure());
  v1::FitLawRequest fit;
  fit.set_request_id("fit-b");
  fit.set_sweep_id(sweep_id);
  fit.set_starts(20);
  fit.set_bootstrap(12);
  v1::FitLawResponse fitted;
  grpc::Status status = client().FitLaw(Context(60'000).get(), fit, &fitted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(fitted.held_out().skipped(),
            "needs at least 3 model sizes (2 to fit, 1 to predict), got 2");
  EXPECT_EQ(fitted.held_out().points_size(), 0);
  EXPECT_GE(fitted.bootstrap_samples_size(), 10);
  EXPECT_LE(fitted.bootstrap_samples_size(), 12);
  // Noiseless runs: every resample finds the same law again.
  for (const v1::LawCoefficients& sample : fitted.bootstrap_samples()) {
    EXPECT_NEAR(sample.b_n() / fitted.coefficients().b_n(), 1.0, 1e-3);
  }
  fit.set_request_id("fit-c");
  fit.set_skip_held_out(true);
  fit.set_bootstrap(0);
  ASSERT_TRUE(client().FitLaw(Context(60'000).get(), fit, &fitted).ok());
  EXPECT_EQ(fitted.held_out().skipped(), "not requested");
  EXPECT_EQ(fitted.bootstrap_samples_size(), 0);
}

TEST_F(FitLawTest, ExplicitJobThatDidNotSucceedIsNamed) {
  const std::string job_id = Submit(TinySpec(), "s").job().id();
  v1::FitLawRequest fit;
  fit.set_request_id("fit-1");
  fit.add_job_ids(job_id);
  v1::FitLawResponse fitted;
  grpc::Status status = client().FitLaw(Context().get(), fit, &fitted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message().rfind("job_ids[0]", 0), 0u) << status.error_message();
}

}  // namespace
}  // namespace sparsescale::coordinator::testing
