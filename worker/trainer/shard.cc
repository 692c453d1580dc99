#include "worker/trainer/shard.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "worker/trainer/file_util.h"

namespace sparsescale::trainer {
namespace {

// The project targets little-endian hosts only (x86-64, aarch64); the format is little-endian.
static_assert(std::endian::native == std::endian::little, "shards assume a little-endian host");

struct ShardFile {
  std::ifstream in;
  int64_t tokens = 0;
};

absl::StatusOr<int64_t> CheckHeader(const std::string& path, const int32_t* header,
                                    int64_t file_bytes) {
  if (header[0] != kShardMagic) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: not a token shard: magic %d, expected %d (llm.c .bin layout)", path,
                        header[0], kShardMagic));
  }
  if (header[1] != kShardVersion) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: unsupported shard version %d, expected %d", path, header[1], kShardVersion));
  }
  const int64_t tokens = header[2];
  if (tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: negative token count %d in header", path, header[2]));
  }
  const int64_t expected = kShardHeaderBytes + 2 * tokens;
  if (file_bytes != expected) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %s shard: header says %d tokens (%d bytes) but the file has %d bytes", path,
        file_bytes < expected ? "truncated" : "oversized", tokens, expected, file_bytes));
  }
  return tokens;
}

absl::StatusOr<ShardFile> OpenShard(const std::string& path) {
  std::error_code ec;
  const auto file_bytes = std::filesystem::file_size(path, ec);
  ShardFile shard;
  shard.in.open(path, std::ios::binary);
  if (ec || !shard.in) {
    return absl::NotFoundError(path + ": cannot open token shard");
  }
  if (file_bytes < static_cast<uintmax_t>(kShardHeaderBytes)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: truncated shard: %d bytes, smaller than the %d-byte header", path,
                        static_cast<int64_t>(file_bytes), kShardHeaderBytes));
  }
  int32_t header[kShardHeaderInts];
  shard.in.read(reinterpret_cast<char*>(header), kShardHeaderBytes);
  if (!shard.in) {
    return absl::DataLossError(path + ": cannot read shard header");
  }
  ASSIGN_OR_RETURN(shard.tokens, CheckHeader(path, header, static_cast<int64_t>(file_bytes)));
  return shard;
}

}  // namespace

absl::StatusOr<int64_t> ReadShardHeader(const std::string& path) {
  ASSIGN_OR_RETURN(ShardFile shard, OpenShard(path));
  return shard.tokens;
}

absl::StatusOr<std::vector<uint16_t>> ReadShard(const std::string& path) {
  ASSIGN_OR_RETURN(ShardFile shard, OpenShard(path));
  std::vector<uint16_t> tokens(static_cast<size_t>(shard.tokens));
  shard.in.read(reinterpret_cast<char*>(tokens.data()),
                static_cast<std::streamsize>(tokens.size() * sizeof(uint16_t)));
  if (!shard.in) {
    return absl::DataLossError(path + ": short read of shard tokens");
  }
  return tokens;
}

absl::Status WriteShard(const std::string& path, const std::vector<uint16_t>& tokens) {
  if (tokens.size() > static_cast<size_t>(INT32_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", tokens.size(), " tokens do not fit one shard (max 2^31-1)"));
  }
  int32_t header[kShardHeaderInts] = {};
  header[0] = kShardMagic;
  header[1] = kShardVersion;
  header[2] = static_cast<int32_t>(tokens.size());
  return WriteFileAtomically(path, [&](int fd) -> absl::Status {
    RETURN_IF_ERROR(WriteAll(fd, header, sizeof(header), path));
    return WriteAll(fd, tokens.data(), tokens.size() * sizeof(uint16_t), path);
  });
}

std::vector<uint16_t> ByteTokens(const std::string& text) {
  std::vector<uint16_t> tokens(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    tokens[i] = static_cast<unsigned char>(text[i]);
  }
  return tokens;
}

absl::StatusOr<PrepareResult> PrepareShards(const PrepareOptions& options) {
  if (options.inputs.empty()) {
    return absl::InvalidArgumentError("--input: at least one text file is required");
  }
  if (!(options.eval_fraction >= 0 && options.eval_fraction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--eval-fraction: must be in [0, 1), got ", options.eval_fraction));
  }
  if (options.shard_tokens <= 0 || options.shard_tokens > INT32_MAX) {
    return absl::InvalidArgumentError("shard_tokens: must be in [1, 2^31-1]");
  }
  if (options.out_dir.empty()) {
    return absl::InvalidArgumentError("--out: an output directory is required");
  }
  std::string text;
  for (const std::string& input : options.inputs) {
    ASSIGN_OR_RETURN(std::string content, ReadFileToString(input));
    text += content;
  }
  if (text.empty()) {
    return absl::InvalidArgumentError("--input: the input files are empty");
  }
  std::vector<uint16_t> tokens = ByteTokens(text);
  const auto total = static_cast<int64_t>(tokens.size());
  const auto eval_tokens = static_cast<int64_t>(static_cast<double>(total) * options.eval_fraction);

  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  if (ec) {
    return absl::InternalError(options.out_dir + ": cannot create directory: " + ec.message());
  }
  PrepareResult result;
  result.train_tokens = total - eval_tokens;
  result.eval_tokens = eval_tokens;
  for (int64_t begin = 0, index = 0; begin < result.train_tokens; ++index) {
    const int64_t end = std::min(result.train_tokens, begin + options.shard_tokens);
    std::string path =
        (std::filesystem::path(options.out_dir) / absl::StrFormat("train_%06d.bin", index))
            .string();
    RETURN_IF_ERROR(
        WriteShard(path, std::vector<uint16_t>(tokens.begin() + begin, tokens.begin() + end)));
    result.train_shards.push_back(path);
    begin = end;
  }
  if (eval_tokens > 0) {
    std::string path = (std::filesystem::path(options.out_dir) / "val_000000.bin").string();
    RETURN_IF_ERROR(
        WriteShard(path, std::vector<uint16_t>(tokens.end() - eval_tokens, tokens.end())));
    result.eval_shards.push_back(path);
  }
  return result;
}

}  // namespace sparsescale::trainer
