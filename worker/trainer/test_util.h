// Helpers shared by the trainer tests: temporary directories, small shards and job specs, and
// running the built `sparsescale` binary as a separate process. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sparsescale/v1/job.pb.h"
#include "spec/testing.h"
#include "worker/trainer/trainer.h"

namespace sparsescale::trainer::testing {

// A fresh empty directory under $TMPDIR (or /tmp), unique per call, removed at exit.
std::string MakeTempDir(const std::string& tag);

// Deterministic pseudo-text of `n` bytes (letters, spaces, punctuation, some structure).
std::string SyntheticText(size_t n, uint64_t seed);

// Writes `text` as a byte-level shard at dir/name and returns its path.
std::string WriteTextShard(const std::string& dir, const std::string& name,
                           const std::string& text);

// A tiny job over `shard` for `steps` steps (the spec's shared test fixture).
using ::sparsescale::spec::testing::TinySpec;

// Records every loss point and checkpoint; optionally requests a stop after `stop_after` steps.
class RecordingObserver : public TrainObserver {
 public:
  explicit RecordingObserver(int64_t stop_after = -1) : stop_after_(stop_after) {}
  absl::Status OnLossPoint(const LossPoint& p) override;
  absl::Status OnCheckpoint(int64_t step, const std::string& path) override;
  bool StopRequested() override;
  void OnProgress(const TrainProgress& p) override { last_step_ = p.step; }
  std::vector<LossPoint> points;
  std::vector<std::pair<int64_t, std::string>> checkpoints;

 private:
  int64_t stop_after_;
  int64_t last_step_ = 0;
};

// Path of the built CLI (compiled in by CMake; else $SPARSESCALE_BINARY_DIR/client/sparsescale).
std::string CliPath();

// The source tree ($SPARSESCALE_SOURCE_DIR, else the path compiled in by CMake).
std::string SourceDir();

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs `sparsescale <args>` through /bin/sh, capturing its output.
CommandResult RunCli(const std::string& args);

// The whole file as bytes ("" when unreadable).
std::string ReadAll(const std::string& path);

// Writes `text` to `path`.
void WriteText(const std::string& path, const std::string& text);

}  // namespace sparsescale::trainer::testing
