#include "coordinator/core/job_rules.h"

#include <set>

#include "gtest/gtest.h"

namespace sparsescale::coordinator {
namespace {

v1::JobSpec Base() {
  v1::JobSpec spec;
  spec.mutable_model()->set_layers(4);
  spec.mutable_model()->set_width(128);
  spec.mutable_model()->set_heads(8);
  spec.mutable_model()->set_context(64);
  spec.mutable_data()->add_train_shards("train.bin");
  spec.mutable_data()->set_batch_size(8);
  spec.mutable_data()->set_tokens(1 << 20);
  spec.set_seed(3);
  return spec;
}

TEST(JobRulesTest, WidthSolvesTheNonzeroRuleRoundedToHeads) {
  // 12 * 256^2 * 4 = 3,145,728 non-zeros dense.
  EXPECT_EQ(WidthForNonzeros(3'145'728, 0.0, 4, 8), 256);
  // At S = 0.75 the same N needs twice the width.
  EXPECT_EQ(WidthForNonzeros(3'145'728, 0.75, 4, 8), 512);
  // Rounds to the nearest multiple; never below one multiple.
  EXPECT_EQ(WidthForNonzeros(3'145'728, 0.0, 4, 24), 264);
  EXPECT_EQ(WidthForNonzeros(10, 0.0, 4, 8), 8);
}

TEST(JobRulesTest, SweepExpandsEveryAxisCombination) {
  v1::SweepAxes axes;
  axes.add_nonzeros(1'000'000);
  axes.add_nonzeros(4'000'000);
  axes.add_sparsities(0);
  axes.add_sparsities(0.5);
  axes.add_sparsities(0.9);
  axes.add_tokens(1 << 20);
  axes.add_seeds(1);
  axes.add_seeds(2);
  auto cells = ExpandSweep(Base(), axes);
  ASSERT_TRUE(cells.ok()) << cells.status();
  EXPECT_EQ(cells->size(), 2u * 3u * 2u);
  std::set<std::string> ids;
  for (const SweepCell& cell : *cells) {
    auto job = PrepareJob(cell.spec, "");
    ASSERT_TRUE(job.ok()) << cell.label << ": " << job.status();
    ids.insert(job->id);
  }
  EXPECT_EQ(ids.size(), cells->size());
}

TEST(JobRulesTest, NmStructureFixesSparsityAndIgnoresTheSparsityAxis) {
  v1::SweepAxes axes;
  axes.add_nonzeros(1'000'000);
  axes.add_sparsities(0.1);
  axes.add_sparsities(0.2);
  auto* nm = axes.add_structures();
  nm->set_structure(v1::SPARSITY_STRUCTURE_NM);
  nm->set_n(2);
  nm->set_m(4);
  auto cells = ExpandSweep(Base(), axes);
  ASSERT_TRUE(cells.ok()) << cells.status();
  ASSERT_EQ(cells->size(), 1u);
  const v1::JobSpec& spec = (*cells)[0].spec;
  EXPECT_DOUBLE_EQ(spec.pruning().sparsity(), 0.5);
  EXPECT_EQ(spec.model().width() % 8, 0);
  EXPECT_TRUE(PrepareJob(spec, "").ok());
}

TEST(JobRulesTest, EmptyAxesKeepTheBase) {
  auto cells = ExpandSweep(Base(), v1::SweepAxes());
  ASSERT_TRUE(cells.ok());
  ASSERT_EQ(cells->size(), 1u);
  EXPECT_EQ((*cells)[0].spec.model().width(), 128);
  EXPECT_EQ(PrepareJob((*cells)[0].spec, "")->id, PrepareJob(Base(), "")->id);
}

TEST(JobRulesTest, TooManyCellsAreRefused) {
  v1::SweepAxes axes;
  for (int i = 0; i < 500; ++i) {
    axes.add_nonzeros(1000 + i);
    axes.add_seeds(i);
  }
  auto cells = ExpandSweep(Base(), axes);
  EXPECT_EQ(cells.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cells.status().message().rfind("axes", 0), 0u);
}

TEST(JobRulesTest, ContentAddressIgnoresNameAndDevice) {
  v1::JobSpec a = Base();
  v1::JobSpec b = Base();
  b.set_name("other");
  b.set_device("cpu");
  EXPECT_EQ(PrepareJob(a, "")->id, PrepareJob(b, "")->id);
  b.set_seed(4);
  EXPECT_NE(PrepareJob(a, "")->id, PrepareJob(b, "")->id);
}

TEST(JobRulesTest, PrepareNamesTheFieldWithThePrefix) {
  v1::JobSpec spec = Base();
  spec.mutable_model()->set_heads(7);
  auto job = PrepareJob(spec, "spec.");
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(job.status().message().rfind("spec.model.width", 0), 0u) << job.status();
}

TEST(JobRulesTest, MemoryEstimateGrowsWithTheModel) {
  v1::JobSpec small = Base();
  v1::JobSpec big = Base();
  big.mutable_model()->set_width(1024);
  EXPECT_GT(EstimateMemoryBytes(big), 10 * EstimateMemoryBytes(small));
  EXPECT_GT(EstimateMemoryBytes(small), 0);
}

TEST(JobRulesTest, MemoryEstimateCountsAReplicaOfTheWeightsPerCpuRank) {
  v1::JobSpec one = Base();
  one.set_device("cpu");
  v1::JobSpec four = one;
  four.set_processes(4);
  const int64_t d = one.model().width(), layers = one.model().layers();
  const int64_t vocab = one.model().has_vocab() ? one.model().vocab() : 256;
  const int64_t params = 12 * d * d * layers + vocab * d + one.model().context() * d;
  // Three more replicas of weights, gradients, moments and masks; the same activations.
  EXPECT_NEAR(static_cast<double>(EstimateMemoryBytes(four) - EstimateMemoryBytes(one)),
              3.0 * 17 * static_cast<double>(params), 2.0);
}

}  // namespace
}  // namespace sparsescale::coordinator
