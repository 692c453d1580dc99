// The token data of a job: train and held-out splits loaded from shards, deterministic sampling
// of (B, T+1) windows (a pure function of seed and step, so resume needs no sampler state), and
// a fixed set of evaluation windows. Immutable after Load: thread-safe to read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sparsescale/v1/job.pb.h"

namespace sparsescale::trainer {

class TokenDataset {
 public:
  // Loads every shard of a normalised, valid spec. Eval windows come from data.eval_shards, or
  // from the last eval_fraction of the train tokens. Errors name the field and file: missing or
  // malformed shard, a token >= model.vocab, a split without one window of context+1 tokens.
  static absl::StatusOr<TokenDataset> Load(const sparsescale::v1::JobSpec& spec);

  // Windows for training step `step` (1-based): inputs/targets are [batch, context], targets
  // shifted by one token. Window b of step t starts at a position hashed from (seed, t, b).
  void TrainBatch(uint64_t seed, int64_t step, int32_t* inputs, int32_t* targets) const;
  // Windows [first, first + count) of step `step`'s batch (a data-parallel rank's share):
  // inputs/targets are [count, context] and equal the matching rows of TrainBatch's.
  void TrainBatchSlice(uint64_t seed, int64_t step, int first, int count, int32_t* inputs,
                       int32_t* targets) const;
  // Evaluation batch `index` in [0, eval_batches): evenly spaced, fixed windows.
  void EvalBatch(int index, int32_t* inputs, int32_t* targets) const;
  // Windows [first, first + count) of evaluation batch `index`.
  void EvalBatchSlice(int index, int first, int count, int32_t* inputs, int32_t* targets) const;

  int64_t train_tokens() const { return train_.tokens; }
  int64_t eval_tokens() const { return eval_.tokens; }
  int eval_batches() const { return eval_batches_; }

 private:
  // A contiguous run of tokens inside one shard.
  struct Span {
    int shard = 0;
    int64_t begin = 0;
    int64_t end = 0;
  };
  // A split is a list of spans; a window never crosses a span boundary.
  struct Split {
    std::vector<Span> spans;
    std::vector<int64_t> first_start;  // cumulative number of window starts before each span
    int64_t starts = 0;                // total window starts
    int64_t tokens = 0;
  };
  void Finish(Split* split) const;
  void Window(const Split& split, int64_t start_index, int32_t* inputs, int32_t* targets) const;

  int batch_ = 0;
  int context_ = 0;
  int eval_batches_ = 0;
  std::vector<std::vector<uint16_t>> shards_;
  Split train_;
  Split eval_;
};

}  // namespace sparsescale::trainer
