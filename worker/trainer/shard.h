// Token shards in llm.c's .bin layout: a header of 256 little-endian int32 (magic 20240520,
// version 1, token count), then that many little-endian uint16 tokens. Shards written by llm.c
// and nanoGPT-style preparers read as is. Free functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sparsescale::trainer {

inline constexpr int32_t kShardMagic = 20240520;
inline constexpr int32_t kShardVersion = 1;
inline constexpr int kShardHeaderInts = 256;
inline constexpr int64_t kShardHeaderBytes = kShardHeaderInts * 4;

// Reads and checks a shard's header against the file size. Returns the token count.
// NotFound when the file cannot be opened; InvalidArgument (naming the file) for a wrong magic
// or version, a negative count, or a size that does not match the count (truncated or padded).
absl::StatusOr<int64_t> ReadShardHeader(const std::string& path);

// Reads a whole shard (header checked as above).
absl::StatusOr<std::vector<uint16_t>> ReadShard(const std::string& path);

// Writes `tokens` as a shard atomically (temporary file + fsync + rename).
absl::Status WriteShard(const std::string& path, const std::vector<uint16_t>& tokens);

// Byte-level tokenisation: every byte of `text` becomes one token (vocabulary 256).
std::vector<uint16_t> ByteTokens(const std::string& text);

// Options of `sparsescale prepare`.
struct PrepareOptions {
  std::vector<std::string> inputs;     // text files, concatenated in order.
  std::string out_dir;                 // created if absent.
  double eval_fraction = 0.05;         // last fraction of the tokens goes to val_000000.bin.
  int64_t shard_tokens = 100'000'000;  // tokens per train shard at most.
};

struct PrepareResult {
  std::vector<std::string> train_shards;
  std::vector<std::string> eval_shards;
  int64_t train_tokens = 0;
  int64_t eval_tokens = 0;
};

// Turns text files into byte-level shards out_dir/train_NNNNNN.bin and out_dir/val_000000.bin.
// Inputs are all read (and checked) before anything is written.
absl::StatusOr<PrepareResult> PrepareShards(const PrepareOptions& options);

}  // namespace sparsescale::trainer
