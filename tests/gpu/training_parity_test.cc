// Fifty training steps of a small GPT with gradual magnitude pruning, once on the CPU backend
// and once on CUDA, from the same spec and data: the loss curves must agree step by step
// within 2% (the CUDA products use bf16 operands) and end at the same sparsity.
// Skips when no GPU is usable.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "worker/trainer/shard.h"
#include "worker/trainer/trainer.h"

namespace sparsescale::trainer {
namespace {

class RecordingObserver : public TrainObserver {
 public:
  absl::Status OnLossPoint(const LossPoint& point) override {
    losses.push_back(point.train_loss);
    sparsity = point.sparsity;
    nonzeros = point.nonzeros_exact;
    return absl::OkStatus();
  }
  std::vector<double> losses;
  double sparsity = 0;
  int64_t nonzeros = 0;
};

std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TMPDIR");
  std::string dir = std::string(base != nullptr ? base : "/tmp") + "/sparsescale_gpu_" +
                    std::to_string(getpid()) + "_" + name;
  return dir;
}

sparsescale::v1::JobSpec SmallSpec(const std::string& shard) {
  sparsescale::v1::JobSpec spec;
  spec.mutable_model()->set_layers(2);
  spec.mutable_model()->set_width(64);
  spec.mutable_model()->set_heads(4);
  spec.mutable_model()->set_context(64);
  spec.mutable_data()->add_train_shards(shard);
  spec.mutable_data()->set_batch_size(4);
  spec.mutable_data()->set_tokens(50 * 4 * 64);  // 50 steps
  spec.mutable_pruning()->set_sparsity(0.5);
  spec.mutable_pruning()->set_update_interval_steps(5);
  spec.mutable_checkpoint()->set_interval_steps(0);
  spec.set_seed(7);
  return spec;
}

TEST(GpuTrainingTest, FiftyStepsOnCudaFollowTheCpuLossCurve) {
  if (!kernels::CudaAvailable()) {
    GTEST_SKIP() << "no CUDA GPU is usable in this process: GPU-versus-CPU training needs one";
  }
  std::string text;
  for (int i = 0; i < 4000; ++i) {
    text += "In the beginning the word was spoken " + std::to_string(i % 97) + " times. ";
  }
  const std::string dir = TempDir("data");
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  const std::string shard = dir + "/train.bin";
  ASSERT_TRUE(WriteShard(shard, ByteTokens(text)).ok());

  RecordingObserver cpu, gpu;
  TrainOptions options;
  options.out_dir = TempDir("cpu");
  options.device = "cpu";
  auto cpu_run = RunTraining(SmallSpec(shard), options, &cpu);
  ASSERT_TRUE(cpu_run.ok()) << cpu_run.status().ToString();
  options.out_dir = TempDir("cuda");
  options.device = "cuda";
  auto gpu_run = RunTraining(SmallSpec(shard), options, &gpu);
  ASSERT_TRUE(gpu_run.ok()) << gpu_run.status().ToString();

  ASSERT_EQ(cpu.losses.size(), gpu.losses.size());
  ASSERT_GE(cpu.losses.size(), 50u);
  for (size_t i = 0; i < cpu.losses.size(); ++i) {
    ASSERT_TRUE(std::isfinite(gpu.losses[i])) << "step " << i;
    EXPECT_NEAR(gpu.losses[i], cpu.losses[i], 0.02 * cpu.losses[i]) << "step " << i;
  }
  EXPECT_LT(gpu.losses.back(), gpu.losses.front());
  EXPECT_EQ(gpu.sparsity, cpu.sparsity);
  // Masks are chosen from slightly different weights, so the counts may differ a little.
  EXPECT_NEAR(static_cast<double>(gpu.nonzeros), static_cast<double>(cpu.nonzeros),
              0.01 * static_cast<double>(cpu.nonzeros));
}

}  // namespace
}  // namespace sparsescale::trainer
