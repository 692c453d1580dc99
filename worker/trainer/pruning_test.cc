#include "worker/trainer/pruning.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "worker/trainer/gpt.h"
#include "worker/trainer/safetensors.h"
#include "worker/trainer/test_util.h"
#include "worker/trainer/trainer.h"

namespace sparsescale::trainer {
namespace {

using sparsescale::v1::JobSpec;

TEST(PruningScheduleTest, CubicRampValues) {
  EXPECT_DOUBLE_EQ(CubicSparsity(0.8, 0.0, 3), 0.0);
  EXPECT_DOUBLE_EQ(CubicSparsity(0.8, 0.5, 3), 0.8 * 0.875);
  EXPECT_DOUBLE_EQ(CubicSparsity(0.8, 1.0, 3), 0.8);
  EXPECT_DOUBLE_EQ(CubicSparsity(0.8, 2.0, 3), 0.8);   // clamped
  EXPECT_DOUBLE_EQ(CubicSparsity(0.8, -1.0, 3), 0.0);  // clamped
}

TEST(PruningScheduleTest, WindowAndUpdateSteps) {
  sparsescale::v1::PruningSpec spec;
  spec.set_sparsity(0.5);
  spec.set_start_fraction(0.25);
  spec.set_end_fraction(0.75);
  spec.set_power(3);
  spec.set_update_interval_steps(10);
  PruningSchedule s(spec, 100);
  EXPECT_EQ(s.start_step(), 25);
  EXPECT_EQ(s.end_step(), 75);
  std::vector<int64_t> updates;
  for (int64_t t = 0; t <= 100; ++t) {
    if (s.IsUpdateStep(t)) {
      updates.push_back(t);
    }
  }
  EXPECT_EQ(updates, (std::vector<int64_t>{25, 35, 45, 55, 65, 75}));
  EXPECT_DOUBLE_EQ(s.BodySparsity(25), 0.0);
  EXPECT_DOUBLE_EQ(s.BodySparsity(50), 0.5 * 0.875);
  EXPECT_DOUBLE_EQ(s.BodySparsity(75), 0.5);
  EXPECT_DOUBLE_EQ(s.BodySparsity(100), 0.5);
  EXPECT_DOUBLE_EQ(s.MaskSparsityAfter(54), s.BodySparsity(45));  // frozen between updates
  EXPECT_DOUBLE_EQ(s.MaskSparsityAfter(99), 0.5);
  EXPECT_DOUBLE_EQ(s.EmbeddingSparsity(75), 1 - std::sqrt(0.5));
}

TEST(PruningScheduleTest, FinalUpdateIsExactlyAtTheEndOffTheGrid) {
  sparsescale::v1::PruningSpec spec;
  spec.set_sparsity(0.5);
  spec.set_start_fraction(0.1);
  spec.set_end_fraction(0.77);
  spec.set_power(3);
  spec.set_update_interval_steps(100);  // clamped to the window
  PruningSchedule s(spec, 100);
  EXPECT_EQ(s.interval_steps(), 67);
  EXPECT_TRUE(s.IsUpdateStep(10));
  EXPECT_TRUE(s.IsUpdateStep(77));
  EXPECT_FALSE(s.IsUpdateStep(78));
}

TEST(PruningScheduleTest, EmbeddingTargets) {
  EXPECT_NEAR(EmbeddingTarget(0.5, sparsescale::v1::EMBEDDING_PRUNING_SQRT), 0.2929, 1e-4);
  EXPECT_DOUBLE_EQ(EmbeddingTarget(0.75, sparsescale::v1::EMBEDDING_PRUNING_SQRT), 0.5);
  EXPECT_NEAR(EmbeddingTarget(0.875, sparsescale::v1::EMBEDDING_PRUNING_SQRT), 0.646, 1e-3);
  EXPECT_DOUBLE_EQ(EmbeddingTarget(0.75, sparsescale::v1::EMBEDDING_PRUNING_SAME), 0.75);
  EXPECT_DOUBLE_EQ(EmbeddingTarget(0.75, sparsescale::v1::EMBEDDING_PRUNING_NONE), 0.0);
  EXPECT_EQ(KeepCount(1000, 0.2929), 707u);
}

// The weights (or masks) of a checkpoint, by tensor name.
std::map<std::string, std::vector<float>> LoadTensors(const std::string& path,
                                                      const std::string& prefix) {
  auto file = SafetensorsFile::Read(path);
  EXPECT_TRUE(file.ok()) << file.status();
  std::map<std::string, std::vector<float>> out;
  for (const auto& [name, view] : file->tensors()) {
    if (view.dtype == DType::kF32 && name.rfind(prefix, 0) == 0) {
      std::vector<float> values(static_cast<size_t>(view.numel()));
      EXPECT_TRUE(file->CopyF32(name, view.shape, values.data()).ok());
      out[name.substr(prefix.size())] = std::move(values);
    }
  }
  return out;
}

int64_t Zeros(const std::vector<float>& x) { return std::count(x.begin(), x.end(), 0.0f); }

// Trains the tiny model with pruning; checkpoints every 5 steps, all kept.
struct PrunedRun {
  GptConfig config;
  std::vector<std::pair<int64_t, std::string>> checkpoints;
  std::vector<LossPoint> points;
};

PrunedRun TrainPruned(JobSpec spec) {
  const std::string dir = testing::MakeTempDir("prune");
  spec.mutable_checkpoint()->set_interval_steps(5);
  spec.mutable_pruning()->set_update_interval_steps(4);
  testing::RecordingObserver observer;
  TrainOptions options;
  options.out_dir = dir + "/run";
  auto summary = RunTraining(spec, options, &observer);
  EXPECT_TRUE(summary.ok()) << summary.status();
  const auto& m = spec.model();
  return PrunedRun{GptConfig{m.layers(), m.width(), m.heads(), m.context(), 256},
                   observer.checkpoints, observer.points};
}

JobSpec PruningSpecFor(const std::string& tag) {
  const std::string dir = testing::MakeTempDir(tag);
  const std::string shard =
      testing::WriteTextShard(dir, "train.bin", testing::SyntheticText(20000, 3));
  return testing::TinySpec(shard, 40);
}

TEST(PruningTrainingTest, EveryTensorReachesItsTargetAndPrunedWeightsStayZero) {
  JobSpec spec = PruningSpecFor("unstructured");
  spec.mutable_pruning()->set_sparsity(0.75);
  PrunedRun run = TrainPruned(spec);
  ASSERT_EQ(run.checkpoints.back().first, 40);
  const auto weights = LoadTensors(run.checkpoints.back().second, "");
  const auto masks = LoadTensors(run.checkpoints.back().second, "mask.");
  ParamLayout layout(run.config);
  int64_t nonzeros = 0;
  for (const ParamTensor& t : layout.tensors()) {
    const std::vector<float>& w = weights.at(t.name);
    nonzeros += static_cast<int64_t>(w.size()) - Zeros(w);
    double target = 0;
    if (t.role == TensorRole::kBodyMatrix) {
      target = 0.75;
    } else if (t.role == TensorRole::kTokenEmbedding || t.role == TensorRole::kHead) {
      target = 0.5;  // 1 - sqrt(1 - 0.75)
    }
    EXPECT_NEAR(static_cast<double>(Zeros(w)), std::round(target * w.size()), 1.0) << t.name;
    if (t.maskable) {
      EXPECT_EQ(Zeros(masks.at(t.name)), Zeros(w)) << t.name;
    }
  }
  const LossPoint& last = run.points.back();
  EXPECT_EQ(last.step(), 40);
  EXPECT_DOUBLE_EQ(last.sparsity(), 0.75);
  EXPECT_EQ(last.nonzeros_paper(), std::llround(12.0 * 32 * 32 * 2 * 0.25));
  EXPECT_EQ(last.nonzeros_exact(), nonzeros);
  EXPECT_LT(last.flops_sparse(), last.flops_dense());
  ASSERT_TRUE(last.has_eval_loss());
  // Once pruned, a weight stays exactly zero at every later checkpoint (and so do its moments).
  for (size_t i = 0; i + 1 < run.checkpoints.size(); ++i) {
    const auto early = LoadTensors(run.checkpoints[i].second, "mask.");
    for (size_t j = i + 1; j < run.checkpoints.size(); ++j) {
      const auto later = LoadTensors(run.checkpoints[j].second, "");
      const auto later_m = LoadTensors(run.checkpoints[j].second, "optim.m.");
      for (const auto& [name, mask] : early) {
        for (size_t k = 0; k < mask.size(); ++k) {
          if (mask[k] == 0.0f) {
            ASSERT_EQ(later.at(name)[k], 0.0f) << name << " " << k << " regrew";
            ASSERT_EQ(later_m.at(name)[k], 0.0f) << name << " " << k;
          }
        }
      }
    }
  }
}

TEST(PruningTrainingTest, SparsityRisesAlongTheScheduleAndIsDenseBeforeTheWindow) {
  JobSpec spec = PruningSpecFor("ramp");
  spec.mutable_pruning()->set_sparsity(0.5);
  PrunedRun run = TrainPruned(spec);
  double previous = 0;
  for (const LossPoint& p : run.points) {
    if (p.step() < 10) {
      EXPECT_EQ(p.sparsity(), 0.0) << p.step();
    }
    EXPECT_GE(p.sparsity(), previous);
    previous = p.sparsity();
  }
  EXPECT_DOUBLE_EQ(run.points.back().sparsity(), 0.5);
  // Window 10..30, updates every 4 steps: after step 18 the masks are at s(18) = 0.5 *
  // (1 - (1 - 0.4)^3) and stay there through step 21.
  const double s18 = 0.5 * (1 - 0.6 * 0.6 * 0.6);
  EXPECT_DOUBLE_EQ(run.points.at(17).sparsity(), s18);
  EXPECT_DOUBLE_EQ(run.points.at(20).sparsity(), s18);
  EXPECT_GT(run.points.at(21).sparsity(), s18);
}

TEST(PruningTrainingTest, GradualNmIsExactlyNmAtTheEnd) {
  JobSpec spec = PruningSpecFor("nm");
  spec.mutable_pruning()->set_structure(sparsescale::v1::SPARSITY_STRUCTURE_NM);
  spec.mutable_pruning()->set_n(2);
  spec.mutable_pruning()->set_m(4);
  PrunedRun run = TrainPruned(spec);
  ParamLayout layout(run.config);
  const auto final_weights = LoadTensors(run.checkpoints.back().second, "");
  const auto mid_masks = LoadTensors(run.checkpoints.at(3).second, "mask.");  // step 20
  for (const ParamTensor& t : layout.tensors()) {
    if (t.role != TensorRole::kBodyMatrix) {
      continue;
    }
    const std::vector<float>& w = final_weights.at(t.name);
    const std::vector<float>& mid = mid_masks.at(t.name);
    for (size_t g = 0; g < w.size(); g += 4) {
      const int live = (w[g] != 0) + (w[g + 1] != 0) + (w[g + 2] != 0) + (w[g + 3] != 0);
      ASSERT_EQ(live, 2) << t.name << " group " << g / 4;
      const int mid_live =
          (mid[g] != 0) + (mid[g + 1] != 0) + (mid[g + 2] != 0) + (mid[g + 3] != 0);
      ASSERT_GE(mid_live, 2) << t.name << " group " << g / 4;
    }
    // At step 20 (masks of the update at 18) the tensor is sparser than dense, not yet 2:4.
    EXPECT_NEAR(static_cast<double>(Zeros(mid)), std::round(0.5 * (1 - 0.216) * mid.size()), 1.0);
  }
  // The embedding and head follow the sqrt rule, unstructured.
  const std::vector<float>& wte = final_weights.at("transformer.wte.weight");
  EXPECT_NEAR(static_cast<double>(Zeros(wte)), std::round((1 - std::sqrt(0.5)) * wte.size()), 1.0);
}

TEST(PruningTrainingTest, EmbeddingPruningNoneKeepsEmbeddingAndHeadDense) {
  JobSpec spec = PruningSpecFor("embnone");
  spec.mutable_pruning()->set_sparsity(0.5);
  spec.mutable_pruning()->set_embedding(sparsescale::v1::EMBEDDING_PRUNING_NONE);
  PrunedRun run = TrainPruned(spec);
  const auto weights = LoadTensors(run.checkpoints.back().second, "");
  EXPECT_EQ(Zeros(weights.at("transformer.wte.weight")), 0);
  EXPECT_EQ(Zeros(weights.at("lm_head.weight")), 0);
  EXPECT_NEAR(static_cast<double>(Zeros(weights.at("transformer.h.0.mlp.c_fc.weight"))),
              0.5 * 128 * 32, 1.0);
}

}  // namespace
}  // namespace sparsescale::trainer
