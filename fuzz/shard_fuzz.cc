// Fuzz target shard: token shard files (llm.c .bin layout) as the trainer opens them
// (worker/trainer/shard.h). The reader takes a path, so each input is written to one file in
// the temporary directory (named after the process id) and read back through the header check
// and the full read, which must agree on the token count.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz/fuzz_target.h"
#include "worker/trainer/shard.h"

namespace {

const std::string& ShardPath() {
  static const auto* path = [] {
    auto* p = new std::string((std::filesystem::temp_directory_path() /
                               ("sparsescale-fuzz-shard-" + std::to_string(getpid()) + ".bin"))
                                  .string());
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove(ShardPath(), ec);
    });
    return p;
  }();
  return *path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace trainer = sparsescale::trainer;
  {
    std::ofstream out(ShardPath(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto header = trainer::ReadShardHeader(ShardPath());
  auto tokens = trainer::ReadShard(ShardPath());
  SPARSESCALE_FUZZ_CHECK(header.ok() == tokens.ok());
  if (tokens.ok()) SPARSESCALE_FUZZ_CHECK(static_cast<int64_t>(tokens->size()) == *header);
  return 0;
}
