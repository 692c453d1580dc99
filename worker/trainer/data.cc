#include "worker/trainer/data.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "worker/trainer/job_inputs.h"
#include "worker/trainer/rng.h"
#include "worker/trainer/shard.h"

namespace sparsescale::trainer {
namespace {

// Reads every shard of one list, checking tokens against the vocabulary.
absl::Status LoadShards(const google::protobuf::RepeatedPtrField<std::string>& patterns,
                        const std::string& field, int vocab,
                        std::vector<std::vector<uint16_t>>* shards, std::vector<int>* indices) {
  ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandShardPatterns(patterns, field));
  for (const std::string& path : paths) {
    auto tokens = ReadShard(path);
    if (!tokens.ok()) {
      return absl::Status(tokens.status().code(),
                          field + ": " + std::string(tokens.status().message()));
    }
    const auto max_it = std::max_element(tokens->begin(), tokens->end());
    if (max_it != tokens->end() && *max_it >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: %s holds token %d at position %d, outside model.vocab (%d)", field,
                          path, *max_it, max_it - tokens->begin(), vocab));
    }
    indices->push_back(static_cast<int>(shards->size()));
    shards->push_back(*std::move(tokens));
  }
  return absl::OkStatus();
}

}  // namespace

void TokenDataset::Finish(Split* split) const {
  split->first_start.clear();
  split->starts = 0;
  split->tokens = 0;
  for (const Span& span : split->spans) {
    split->first_start.push_back(split->starts);
    split->starts += std::max<int64_t>(0, span.end - span.begin - context_);
    split->tokens += span.end - span.begin;
  }
}

absl::StatusOr<TokenDataset> TokenDataset::Load(const sparsescale::v1::JobSpec& spec) {
  TokenDataset data;
  data.batch_ = spec.data().batch_size();
  data.context_ = spec.model().context();
  data.eval_batches_ = spec.data().eval_batches();
  const int vocab = spec.model().vocab();
  std::vector<int> train_ids, eval_ids;
  RETURN_IF_ERROR(LoadShards(spec.data().train_shards(), "data.train_shards", vocab, &data.shards_,
                             &train_ids));
  for (int id : train_ids) {
    data.train_.spans.push_back(
        Span{id, 0, static_cast<int64_t>(data.shards_[static_cast<size_t>(id)].size())});
  }
  std::string eval_field = "data.eval_shards";
  if (!spec.data().eval_shards().empty()) {
    RETURN_IF_ERROR(
        LoadShards(spec.data().eval_shards(), "data.eval_shards", vocab, &data.shards_, &eval_ids));
    for (int id : eval_ids) {
      data.eval_.spans.push_back(
          Span{id, 0, static_cast<int64_t>(data.shards_[static_cast<size_t>(id)].size())});
    }
  } else {
    // Hold out the last eval_fraction of the train tokens, cutting spans from the end.
    eval_field = "data.eval_fraction";
    int64_t total = 0;
    for (const Span& s : data.train_.spans) {
      total += s.end - s.begin;
    }
    int64_t held = static_cast<int64_t>(static_cast<double>(total) * spec.data().eval_fraction());
    while (held > 0 && !data.train_.spans.empty()) {
      Span& last = data.train_.spans.back();
      const int64_t take = std::min(held, last.end - last.begin);
      data.eval_.spans.insert(data.eval_.spans.begin(),
                              Span{last.shard, last.end - take, last.end});
      last.end -= take;
      held -= take;
      if (last.end == last.begin) {
        data.train_.spans.pop_back();
      }
    }
  }
  data.Finish(&data.train_);
  data.Finish(&data.eval_);
  if (data.train_.starts == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "data.train_shards: the train split (%d tokens) has no shard with context + 1 = %d "
        "tokens",
        data.train_.tokens, data.context_ + 1));
  }
  if (data.eval_.starts == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the held-out split (%d tokens) has no shard with context + 1 = %d tokens", eval_field,
        data.eval_.tokens, data.context_ + 1));
  }
  return data;
}

void TokenDataset::Window(const Split& split, int64_t start_index, int32_t* inputs,
                          int32_t* targets) const {
  const auto it = std::upper_bound(split.first_start.begin(), split.first_start.end(), start_index);
  size_t k = static_cast<size_t>(it - split.first_start.begin()) - 1;
  // Spans with no window share their first_start with the next span; skip them.
  while (split.spans[k].end - split.spans[k].begin <= context_) {
    ++k;
  }
  const Span& span = split.spans[k];
  const uint16_t* tokens = shards_[static_cast<size_t>(span.shard)].data() + span.begin +
                           (start_index - split.first_start[k]);
  for (int t = 0; t < context_; ++t) {
    inputs[t] = tokens[t];
    targets[t] = tokens[t + 1];
  }
}

void TokenDataset::TrainBatch(uint64_t seed, int64_t step, int32_t* inputs,
                              int32_t* targets) const {
  TrainBatchSlice(seed, step, 0, batch_, inputs, targets);
}

void TokenDataset::TrainBatchSlice(uint64_t seed, int64_t step, int first, int count,
                                   int32_t* inputs, int32_t* targets) const {
  const uint64_t base = Mix64(seed) + static_cast<uint64_t>(step) * static_cast<uint64_t>(batch_);
  for (int i = 0; i < count; ++i) {
    const uint64_t h = Mix64(base + static_cast<uint64_t>(first + i));
    const auto start = static_cast<int64_t>(h % static_cast<uint64_t>(train_.starts));
    Window(train_, start, inputs + static_cast<size_t>(i) * context_,
           targets + static_cast<size_t>(i) * context_);
  }
}

void TokenDataset::EvalBatch(int index, int32_t* inputs, int32_t* targets) const {
  EvalBatchSlice(index, 0, batch_, inputs, targets);
}

void TokenDataset::EvalBatchSlice(int index, int first, int count, int32_t* inputs,
                                  int32_t* targets) const {
  const int64_t windows = int64_t{eval_batches_} * batch_;
  for (int i = 0; i < count; ++i) {
    const int64_t k = int64_t{index} * batch_ + first + i;
    const int64_t start = windows <= 1 ? 0 : k * (eval_.starts - 1) / (windows - 1);
    Window(eval_, start, inputs + static_cast<size_t>(i) * context_,
           targets + static_cast<size_t>(i) * context_);
  }
}

}  // namespace sparsescale::trainer
