// Test support for the end-to-end tests: a corpus slice prepared into shards, tiny job specs,
// polling with a deadline, and running the `sparsescale` CLI as a process.
// Not thread-safe; used from the test thread.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::e2e {

// Writes the first `bytes` of data/corpus/web.txt to `dir` and prepares byte-level shards
// there. Returns the shard directory (dir/shards); NotFound naming the corpus path when it is
// missing, or the shard writer's error.
absl::StatusOr<std::string> PrepareCorpusSlice(const std::string& dir, size_t bytes);

// A job small enough to train in a second or two on one CPU core: one block, width 16,
// `steps` steps of 4 x 32 tokens, a loss point every step, a checkpoint every `ckpt_every`.
sparsescale::v1::JobSpec TinySpec(const std::string& shard_dir, int steps, int ckpt_every,
                                  double sparsity = 0.5, uint64_t seed = 1);

// Polls `done` every 100 ms until it returns true (true) or `timeout` passes (false).
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout);

struct CliResult {
  int exit_code = -1;
  std::string out;  // stdout
};
// Runs the `sparsescale` binary with `args`; stderr goes to the test's stderr.
CliResult RunCli(const std::vector<std::string>& args);

}  // namespace sparsescale::e2e
