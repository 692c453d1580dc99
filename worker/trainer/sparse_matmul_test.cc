// The frozen-mask sparse products of n:m jobs (TrainOptions::sparse_matmul): when the trainer
// switches the body matrices' forward products to the packed path, what it packs, and that
// the training it produces equals the dense run (bit-equal on the CPU, whose packed product is
// the dense product of the masked weight), also across a resume.
#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "worker/trainer/test_util.h"
#include "worker/trainer/trainer.h"

namespace sparsescale::trainer {
namespace {

using sparsescale::v1::JobSpec;

// 2:4 pruning over steps [5, 15] of 20 (updates every 2 steps), 2 layers.
JobSpec TwoFourSpec(const std::string& tag) {
  const std::string dir = testing::MakeTempDir(tag);
  JobSpec spec = testing::TinySpec(
      testing::WriteTextShard(dir, "train.bin", testing::SyntheticText(20000, 2)), 20);
  auto* p = spec.mutable_pruning();
  p->set_structure(sparsescale::v1::SPARSITY_STRUCTURE_NM);
  p->set_n(2);
  p->set_m(4);
  p->set_sparsity(0.5);
  p->set_update_interval_steps(2);
  spec.set_log_interval_steps(1);
  return spec;
}

struct RunResult {
  TrainSummary summary;
  std::vector<double> losses;
  std::vector<double> evals;
};

RunResult Train(const JobSpec& spec, SparseMatmul mode, const std::string& out,
                const std::string& resume = "") {
  testing::RecordingObserver observer;
  TrainOptions options;
  options.out_dir = out;
  options.resume_from = resume;
  options.sparse_matmul = mode;
  auto summary = RunTraining(spec, options, &observer);
  EXPECT_TRUE(summary.ok()) << summary.status();
  RunResult run;
  if (summary.ok()) {
    run.summary = *summary;
  }
  for (const LossPoint& p : observer.points) {
    run.losses.push_back(p.train_loss());
    run.evals.push_back(EvalLoss(p).value_or(-1));
  }
  return run;
}

TEST(SparseMatmulTest, PacksEveryBodyMatrixAfterTheWindowAndTrainsBitEqualToDense) {
  JobSpec spec = TwoFourSpec("sm-equal");
  RunResult dense = Train(spec, SparseMatmul::kOff, testing::MakeTempDir("sm-dense") + "/run");
  RunResult packed =
      Train(spec, SparseMatmul::kEverywhere, testing::MakeTempDir("sm-pack") + "/run");
  EXPECT_EQ(dense.summary.sparse_matmul_matrices, 0);
  EXPECT_EQ(packed.summary.sparse_matmul_matrices, 4 * spec.model().layers());
  // The window is steps [5, 15]: the last mask update runs after step 15.
  EXPECT_EQ(packed.summary.sparse_matmul_from_step, 16);
  ASSERT_EQ(dense.losses.size(), 20u);
  EXPECT_EQ(packed.losses, dense.losses);
  EXPECT_EQ(packed.evals, dense.evals);
  EXPECT_EQ(packed.summary.nonzeros_exact, dense.summary.nonzeros_exact);
  EXPECT_DOUBLE_EQ(packed.summary.final_sparsity, 0.5);
}

TEST(SparseMatmulTest, AutoPacksNothingOnACpuBackendWithoutASparseKernel) {
  JobSpec spec = TwoFourSpec("sm-auto");
  RunResult run = Train(spec, SparseMatmul::kAuto, testing::MakeTempDir("sm-auto-out") + "/run");
  EXPECT_EQ(run.summary.sparse_matmul_matrices, 0);
  EXPECT_EQ(run.summary.sparse_matmul_from_step, 0);
}

TEST(SparseMatmulTest, UnstructuredJobsNeverPack) {
  JobSpec spec = TwoFourSpec("sm-unstructured");
  auto* p = spec.mutable_pruning();
  p->set_structure(sparsescale::v1::SPARSITY_STRUCTURE_UNSTRUCTURED);
  p->clear_n();
  p->clear_m();
  RunResult run =
      Train(spec, SparseMatmul::kEverywhere, testing::MakeTempDir("sm-unst-out") + "/run");
  EXPECT_EQ(run.summary.sparse_matmul_matrices, 0);
  EXPECT_GT(run.summary.mask_update_s, 0.0);  // six updates in the window were timed
  EXPECT_LT(run.summary.mask_update_s, run.summary.wall_s);
}

TEST(SparseMatmulTest, ResumeAfterTheWindowPacksAtOnceAndContinuesBitExactly) {
  JobSpec spec = TwoFourSpec("sm-resume");
  spec.mutable_checkpoint()->set_interval_steps(17);
  const std::string full_dir = testing::MakeTempDir("sm-full") + "/run";
  RunResult full = Train(spec, SparseMatmul::kEverywhere, full_dir);
  const std::string ckpt = full_dir + "/ckpt-17.safetensors";
  ASSERT_TRUE(std::filesystem::exists(ckpt));
  RunResult resumed =
      Train(spec, SparseMatmul::kEverywhere, testing::MakeTempDir("sm-res") + "/run", ckpt);
  EXPECT_EQ(resumed.summary.sparse_matmul_matrices, 4 * spec.model().layers());
  EXPECT_EQ(resumed.summary.sparse_matmul_from_step, 18);
  ASSERT_EQ(resumed.losses.size(), 3u);  // steps 18, 19, 20
  EXPECT_EQ(resumed.losses, std::vector<double>(full.losses.end() - 3, full.losses.end()));
}

TEST(SparseMatmulTest, ModeNamesParseAndBadOnesNameTheField) {
  EXPECT_EQ(*ParseSparseMatmul("auto", "f"), SparseMatmul::kAuto);
  EXPECT_EQ(*ParseSparseMatmul("off", "f"), SparseMatmul::kOff);
  EXPECT_EQ(*ParseSparseMatmul("everywhere", "f"), SparseMatmul::kEverywhere);
  auto bad = ParseSparseMatmul("on", "--sparse-matmul");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("--sparse-matmul"), std::string::npos);
}

}  // namespace
}  // namespace sparsescale::trainer
