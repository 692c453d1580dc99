// RunTraining's contract as the worker daemon sees it: loss points, checkpoints, observer
// control, FLOP and non-zero accounting, schedules, and starting from a dense checkpoint.
#include "worker/trainer/trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "worker/trainer/flops.h"
#include "worker/trainer/gpt.h"
#include "worker/trainer/lr_schedule.h"
#include "worker/trainer/test_util.h"

namespace sparsescale::trainer {
namespace {

using sparsescale::v1::JobSpec;

JobSpec SpecWithShard(const std::string& tag, int64_t steps) {
  const std::string dir = testing::MakeTempDir(tag);
  return testing::TinySpec(
      testing::WriteTextShard(dir, "train.bin", testing::SyntheticText(20000, 2)), steps);
}

TEST(TrainerTest, LastStepAlwaysEvaluatesLogsAndCheckpoints) {
  JobSpec spec = SpecWithShard("last", 10);
  spec.mutable_data()->set_eval_interval_steps(3);
  spec.mutable_checkpoint()->set_interval_steps(4);
  spec.set_log_interval_steps(4);
  testing::RecordingObserver observer;
  TrainOptions options;
  options.out_dir = testing::MakeTempDir("last-out") + "/run";
  auto summary = RunTraining(spec, options, &observer);
  ASSERT_TRUE(summary.ok()) << summary.status();
  std::vector<int64_t> steps, evals, ckpts;
  for (const LossPoint& p : observer.points) {
    steps.push_back(p.step());
    if (p.has_eval_loss()) {
      evals.push_back(p.step());
    }
  }
  for (const auto& [step, path] : observer.checkpoints) {
    ckpts.push_back(step);
    EXPECT_TRUE(std::filesystem::exists(path)) << path;
  }
  EXPECT_EQ(steps, (std::vector<int64_t>{3, 4, 6, 8, 9, 10}));  // log interval + every eval
  EXPECT_EQ(evals, (std::vector<int64_t>{3, 6, 9, 10}));
  EXPECT_EQ(ckpts, (std::vector<int64_t>{4, 8, 10}));
  EXPECT_EQ(summary->steps, 10);
  EXPECT_EQ(summary->last_checkpoint, observer.checkpoints.back().second);
  EXPECT_EQ(summary->final_eval_loss, EvalLoss(observer.points.back()));
  EXPECT_TRUE(std::isnan(EvalLoss(observer.points[1]).value_or(NAN)));
}

TEST(TrainerTest, KeepLastDeletesOlderCheckpoints) {
  JobSpec spec = SpecWithShard("keep", 8);
  spec.mutable_checkpoint()->set_interval_steps(2);
  spec.mutable_checkpoint()->set_keep_last(2);
  TrainOptions options;
  options.out_dir = testing::MakeTempDir("keep-out") + "/run";
  ASSERT_TRUE(RunTraining(spec, options, nullptr).ok());
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(options.out_dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"ckpt-6.safetensors", "ckpt-8.safetensors"}));
}

TEST(TrainerTest, ObserverErrorAbortsTraining) {
  class Failing : public TrainObserver {
   public:
    absl::Status OnLossPoint(const LossPoint& p) override {
      return p.step() == 3 ? absl::UnavailableError("store down") : absl::OkStatus();
    }
  } observer;
  JobSpec spec = SpecWithShard("abort", 10);
  TrainOptions options;
  options.out_dir = testing::MakeTempDir("abort-out") + "/run";
  auto summary = RunTraining(spec, options, &observer);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(summary.status().message(), "store down");
}

TEST(TrainerTest, InvalidSpecWritesNothing) {
  JobSpec spec = SpecWithShard("invalid", 10);
  spec.mutable_model()->set_heads(5);
  TrainOptions options;
  options.out_dir = testing::MakeTempDir("invalid-out") + "/run";
  auto summary = RunTraining(spec, options, nullptr);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(options.out_dir));
  spec.mutable_model()->set_heads(2);
  spec.set_gpus(2);  // a CPU job's ranks are `processes`
  auto gpus = RunTraining(spec, options, nullptr);
  EXPECT_EQ(gpus.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(gpus.status().message().find("gpus"), std::string::npos) << gpus.status();
  spec.set_gpus(0);
  spec.set_processes(2);  // no rendezvous: refused before anything is written
  EXPECT_EQ(RunTraining(spec, options, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(options.out_dir));
}

TEST(TrainerTest, PointsCountFlopsAndNonZeros) {
  JobSpec spec = SpecWithShard("flops", 6);
  testing::RecordingObserver observer;
  TrainOptions options;
  options.out_dir = testing::MakeTempDir("flops-out") + "/run";
  ASSERT_TRUE(RunTraining(spec, options, &observer).ok());
  const LossPoint& p = observer.points.at(2);               // step 3, dense
  const double matmul = 2 * (12.0 * 32 * 32) + 256.0 * 32;  // body + lm_head
  const double per_token = 6 * matmul + 12.0 * 2 * 32 * 16;
  EXPECT_EQ(p.tokens(), 3 * 4 * 16);
  EXPECT_DOUBLE_EQ(p.flops_dense(), per_token * p.tokens());
  EXPECT_DOUBLE_EQ(p.flops_sparse(), p.flops_dense());
  EXPECT_EQ(p.nonzeros_paper(), 12 * 32 * 32 * 2);
  const ParamLayout layout(GptConfig{2, 32, 2, 16, 256});
  // Everything but the zero-initialised biases (which have moved off zero by now) is non-zero.
  EXPECT_GT(p.nonzeros_exact(), static_cast<int64_t>(layout.num_params()) - 100);
  EXPECT_LE(p.nonzeros_exact(), static_cast<int64_t>(layout.num_params()));
  EXPECT_GT(p.lr(), 0);
  EXPECT_GE(p.wall_s(), 0);
}

TEST(TrainerTest, LearningRateSchedules) {
  sparsescale::v1::OptimSpec o;
  o.set_lr(1.0);
  o.set_warmup_fraction(0.1);
  o.set_min_lr_fraction(0.1);
  o.set_schedule(sparsescale::v1::LR_SCHEDULE_COSINE);
  EXPECT_DOUBLE_EQ(LearningRate(o, 1.0, 5, 100), 0.5);
  EXPECT_DOUBLE_EQ(LearningRate(o, 1.0, 10, 100), 1.0);
  EXPECT_DOUBLE_EQ(LearningRate(o, 1.0, 55, 100), 0.55);  // halfway down the cosine
  EXPECT_DOUBLE_EQ(LearningRate(o, 1.0, 100, 100), 0.1);
  EXPECT_DOUBLE_EQ(LearningRate(o, 2.0, 55, 100), 1.1);  // the schedule scales with its peak
  o.set_schedule(sparsescale::v1::LR_SCHEDULE_INVERSE_SQRT);
  EXPECT_DOUBLE_EQ(LearningRate(o, 1.0, 40, 100), 0.5);
  o.set_schedule(sparsescale::v1::LR_SCHEDULE_CONSTANT);
  EXPECT_DOUBLE_EQ(LearningRate(o, 1.0, 90, 100), 1.0);
}

TEST(TrainerTest, PeakLearningRateScalesWithWidthWhenAReferenceIsSet) {
  JobSpec spec;
  spec.mutable_model()->set_width(64);
  spec.mutable_optim()->set_lr(0.004);
  EXPECT_DOUBLE_EQ(PeakLearningRate(spec), 0.004);  // no reference: lr as given
  spec.mutable_optim()->set_lr_reference_width(32);
  EXPECT_DOUBLE_EQ(PeakLearningRate(spec), 0.002);  // power 1 by default: lr * 32 / 64
  spec.mutable_optim()->set_lr_width_power(0.5);
  EXPECT_DOUBLE_EQ(PeakLearningRate(spec), 0.004 * std::sqrt(0.5));
  spec.mutable_model()->set_width(8);
  EXPECT_DOUBLE_EQ(PeakLearningRate(spec), 0.008);  // narrower than the reference: faster
}

TEST(TrainerTest, PruningCanStartFromADenseCheckpoint) {
  JobSpec dense = SpecWithShard("init", 30);
  testing::RecordingObserver first;
  TrainOptions options;
  options.out_dir = testing::MakeTempDir("init-out") + "/dense";
  ASSERT_TRUE(RunTraining(dense, options, &first).ok());
  const double trained_loss = first.points.back().train_loss();
  const double fresh_loss = first.points.front().train_loss();

  JobSpec pruned = dense;
  pruned.mutable_data()->set_tokens(10 * 4 * 16);
  pruned.mutable_pruning()->set_sparsity(0.5);
  pruned.mutable_pruning()->set_init_checkpoint(first.checkpoints.back().second);
  testing::RecordingObserver second;
  options.out_dir = testing::MakeTempDir("init-out") + "/pruned";
  ASSERT_TRUE(RunTraining(pruned, options, &second).ok());
  // The continued run starts where the dense one ended, far below a fresh start.
  EXPECT_LT(second.points.front().train_loss(), 0.5 * (trained_loss + fresh_loss));
  EXPECT_DOUBLE_EQ(second.points.back().sparsity(), 0.5);

  pruned.mutable_pruning()->set_init_checkpoint(options.out_dir + "/missing.safetensors");
  auto status = RunTraining(pruned, options, nullptr).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.message().find("pruning.init_checkpoint"), std::string::npos) << status;
}

TEST(TrainerTest, HeldOutTailOfTrainShardsIsUsedWithoutEvalShards) {
  JobSpec spec = SpecWithShard("tail", 4);
  spec.mutable_data()->set_eval_fraction(0.5);
  testing::RecordingObserver observer;
  TrainOptions options;
  options.out_dir = testing::MakeTempDir("tail-out") + "/run";
  ASSERT_TRUE(RunTraining(spec, options, &observer).ok());
  EXPECT_TRUE(observer.points.back().has_eval_loss());
  spec.mutable_data()->set_eval_fraction(0.0005);  // 10 held-out tokens: no window of 17
  auto status = RunTraining(spec, options, nullptr).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("data.eval_fraction"), std::string::npos) << status;
}

}  // namespace
}  // namespace sparsescale::trainer
