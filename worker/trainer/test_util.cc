#include "worker/trainer/test_util.h"

#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "worker/trainer/rng.h"
#include "worker/trainer/shard.h"

namespace sparsescale::trainer::testing {

namespace {

// Removes every directory MakeTempDir created when the test binary exits (set
// SPARSESCALE_KEEP_TEST_DIRS=1 to keep them for inspection).
class TempDirs {
 public:
  ~TempDirs() {
    if (std::getenv("SPARSESCALE_KEEP_TEST_DIRS") != nullptr) {
      return;
    }
    std::error_code ec;
    for (const std::string& dir : dirs_) {
      std::filesystem::remove_all(dir, ec);
    }
  }
  void Add(const std::string& dir) { dirs_.push_back(dir); }

 private:
  std::vector<std::string> dirs_;
};

TempDirs& CreatedDirs() {
  static TempDirs dirs;
  return dirs;
}

}  // namespace

std::string MakeTempDir(const std::string& tag) {
  static std::atomic<int> counter{0};
  const char* base = std::getenv("TMPDIR");
  std::filesystem::path dir = std::filesystem::path(base != nullptr ? base : "/tmp") /
                              absl::StrCat("sparsescale-", tag, "-", ::getpid(), "-", counter++);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  CreatedDirs().Add(dir.string());
  return dir.string();
}

std::string SyntheticText(size_t n, uint64_t seed) {
  static const char* kWords[] = {"the",  "and",  "of",  "to",   "in", "he",   "said", "lord",
                                 "unto", "them", "for", "that", "is", "with", "his",  "a"};
  Rng rng(seed);
  std::string text;
  while (text.size() < n) {
    text += kWords[rng.NextU64() % 16];
    text += (rng.NextU64() % 9 == 0) ? ". " : " ";
  }
  text.resize(n);
  return text;
}

std::string WriteTextShard(const std::string& dir, const std::string& name,
                           const std::string& text) {
  const std::string path = (std::filesystem::path(dir) / name).string();
  auto status = WriteShard(path, ByteTokens(text));
  if (!status.ok()) {
    std::abort();
  }
  return path;
}

absl::Status RecordingObserver::OnLossPoint(const LossPoint& p) {
  points.push_back(p);
  return absl::OkStatus();
}

absl::Status RecordingObserver::OnCheckpoint(int64_t step, const std::string& path) {
  checkpoints.emplace_back(step, path);
  return absl::OkStatus();
}

bool RecordingObserver::StopRequested() { return stop_after_ >= 0 && last_step_ >= stop_after_; }

std::string CliPath() {
#ifdef SPARSESCALE_TEST_CLI
  return SPARSESCALE_TEST_CLI;
#else
  const char* bin = std::getenv("SPARSESCALE_BINARY_DIR");
  return (std::filesystem::path(bin != nullptr ? bin : ".") / "client" / "sparsescale").string();
#endif
}

std::string SourceDir() {
  const char* source = std::getenv("SPARSESCALE_SOURCE_DIR");
  if (source != nullptr) {
    return source;
  }
#ifdef SPARSESCALE_TEST_SOURCE_DIR
  return SPARSESCALE_TEST_SOURCE_DIR;
#else
  return ".";
#endif
}

CommandResult RunCli(const std::string& args) {
  const std::string command = CliPath() + " " + args + " 2>&1";
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return result;
  }
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    result.output.append(buffer, n);
  }
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace sparsescale::trainer::testing
