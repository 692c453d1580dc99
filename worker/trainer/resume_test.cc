// Resume is bit-exact: 2N steps straight equal N steps, then a NEW PROCESS (the built
// `sparsescale train --resume` binary) continuing from the step-N checkpoint for N more.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "spec/job_spec.h"
#include "spec/loss_point_codec.h"
#include "worker/trainer/safetensors.h"
#include "worker/trainer/test_util.h"
#include "worker/trainer/trainer.h"

namespace sparsescale::trainer {
namespace {

using sparsescale::v1::JobSpec;

JobSpec ResumeSpec(const std::string& dir) {
  const std::string shard =
      testing::WriteTextShard(dir, "train.bin", testing::SyntheticText(30000, 11));
  JobSpec spec = testing::TinySpec(shard, 24);
  spec.mutable_pruning()->set_sparsity(0.5);  // the window (6..18) straddles the resume step
  spec.mutable_pruning()->set_update_interval_steps(3);
  spec.mutable_data()->set_eval_interval_steps(5);
  return spec;
}

// Every tensor of a checkpoint except nothing: weights, masks, moments, trainer state.
std::map<std::string, std::string> TensorBytes(const std::string& path) {
  auto file = SafetensorsFile::Read(path);
  EXPECT_TRUE(file.ok()) << file.status();
  std::map<std::string, std::string> out;
  for (const auto& [name, view] : file->tensors()) {
    out[name] = std::string(view.data, view.bytes);
  }
  return out;
}

// A point without its wall time (the only field that differs between runs), as bytes.
std::string WithoutWallTime(LossPoint point) {
  point.clear_wall_s();
  return point.SerializeAsString();
}

// The points of a points.jsonl, read with the codec `sparsescale train` writes them with.
std::vector<LossPoint> ReadPointsJsonl(const std::string& path) {
  std::vector<LossPoint> points;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto point = spec::LossPointFromJson(line);
    EXPECT_TRUE(point.ok()) << point.status() << ": " << line;
    points.push_back(point.value_or(LossPoint()));
  }
  return points;
}

TEST(ResumeTest, StopAndResumeInANewProcessIsBitExact) {
  const std::string dir = testing::MakeTempDir("resume");
  const JobSpec spec = ResumeSpec(dir);
  {
    std::string json = spec::JobSpecToJson(spec);
    testing::WriteText(dir + "/job.json", json);
  }
  // Straight run: 24 steps.
  testing::RecordingObserver straight;
  TrainOptions options;
  options.out_dir = dir + "/straight";
  auto full = RunTraining(spec, options, &straight);
  ASSERT_TRUE(full.ok()) << full.status();

  // First half, stopped on request after step 12 (checkpoint written on stop).
  testing::RecordingObserver first(/*stop_after=*/12);
  options.out_dir = dir + "/split";
  auto half = RunTraining(spec, options, &first);
  ASSERT_EQ(half.status().code(), absl::StatusCode::kCancelled) << half.status();
  ASSERT_FALSE(first.checkpoints.empty());
  EXPECT_EQ(first.checkpoints.back().first, 12);
  const std::string ckpt = first.checkpoints.back().second;

  // Second half in a new process.
  testing::CommandResult second = testing::RunCli("train --config " + dir + "/job.json --out " +
                                                  dir + "/split --resume " + ckpt);
  ASSERT_EQ(second.exit_code, 0) << second.output;

  // Same final state, bit for bit.
  const auto a = TensorBytes(dir + "/straight/ckpt-24.safetensors");
  const auto b = TensorBytes(dir + "/split/ckpt-24.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, bytes] : a) {
    EXPECT_TRUE(b.at(name) == bytes) << name << " differs";
  }
  // Same loss points (except wall time): 1..12 from the first run, 13..24 from the new process.
  ASSERT_EQ(straight.points.size(), 24u);
  ASSERT_EQ(first.points.size(), 12u);
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(WithoutWallTime(first.points[i]), WithoutWallTime(straight.points[i])) << i;
  }
  const std::vector<LossPoint> resumed = ReadPointsJsonl(dir + "/split/points.jsonl");
  ASSERT_EQ(resumed.size(), 12u);
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(WithoutWallTime(resumed[i]), WithoutWallTime(straight.points[12 + i])) << i;
  }
}

TEST(ResumeTest, CheckpointOfAnotherJobIsRejected) {
  const std::string dir = testing::MakeTempDir("resume-other");
  JobSpec spec = ResumeSpec(dir);
  testing::RecordingObserver observer(/*stop_after=*/3);
  TrainOptions options;
  options.out_dir = dir + "/run";
  ASSERT_EQ(RunTraining(spec, options, &observer).status().code(), absl::StatusCode::kCancelled);
  spec.set_seed(spec.seed() + 1);
  options.resume_from = observer.checkpoints.back().second;
  auto status = RunTraining(spec, options, nullptr).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("different job"), std::string::npos) << status;
}

TEST(ResumeTest, ResumeWithoutConfigUsesTheCheckpointSpec) {
  const std::string dir = testing::MakeTempDir("resume-noconfig");
  JobSpec spec = ResumeSpec(dir);
  testing::RecordingObserver observer(/*stop_after=*/20);
  TrainOptions options;
  options.out_dir = dir + "/run";
  ASSERT_EQ(RunTraining(spec, options, &observer).status().code(), absl::StatusCode::kCancelled);
  testing::CommandResult r =
      testing::RunCli("train --out " + dir + "/run --resume " + observer.checkpoints.back().second);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir + "/run/ckpt-24.safetensors"));
}

}  // namespace
}  // namespace sparsescale::trainer
