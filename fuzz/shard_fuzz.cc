// Fuzz target shard: token shard files (llm.c .bin layout) as the trainer opens them
// (worker/trainer/shard.h). The reader takes a path, so each input is written to one file in
// memory-backed /dev/shm when there is one, else the temporary directory (named after the
// process id), and read back through the header check and the full read, which must agree on the
// token count. The old file is unlinked before each write: on ext4, truncating a file and writing
// it again forces its blocks out on close (auto_da_alloc), which made each input cost ~5 ms.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz/fuzz_target.h"
#include "worker/trainer/shard.h"

namespace {

const std::string& ShardPath() {
  static const auto* path = [] {
    std::error_code ec;
    const std::filesystem::path dir = std::filesystem::is_directory("/dev/shm", ec)
                                          ? std::filesystem::path("/dev/shm")
                                          : std::filesystem::temp_directory_path();
    auto* p = new std::string((dir /
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
    std::error_code ec;
    std::filesystem::remove(ShardPath(), ec);
    std::ofstream out(ShardPath(), std::ios::binary);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto header = trainer::ReadShardHeader(ShardPath());
  auto tokens = trainer::ReadShard(ShardPath());
  SPARSESCALE_FUZZ_CHECK(header.ok() == tokens.ok());
  if (tokens.ok()) SPARSESCALE_FUZZ_CHECK(static_cast<int64_t>(tokens->size()) == *header);
  return 0;
}
