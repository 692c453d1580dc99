// RankGroup with a shell stand-in, and (when the worker executable is built) a real two-rank
// job run by `sparsescale-worker run-job` exactly as the daemon starts it.
#include "worker/agent/rank_launcher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "worker/agent/job_events.h"

namespace sparsescale::agent {
namespace {

namespace fs = std::filesystem;

std::string TempDir(const std::string& tag) {
  const fs::path dir =
      fs::temp_directory_path() / absl::StrCat("rank_launcher_", tag, "_", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(RankLauncherTest, GpusForRanksNarrowsTheVisibleDevices) {
  EXPECT_EQ(*GpusForRanks(3, nullptr), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(*GpusForRanks(2, "3,5,7"), (std::vector<std::string>{"3", "5"}));
  auto few = GpusForRanks(2, "1");
  ASSERT_TRUE(absl::IsInvalidArgument(few.status()));
  EXPECT_NE(few.status().message().find("gpus"), std::string::npos);
}

TEST(RankLauncherTest, StartsTheOtherRanksWithTheirEnvironmentAndReportsFailures) {
  const std::string dir = TempDir("shell");
  RankLaunchOptions options;
  // Rank 1 succeeds, rank 2 fails; each prints what it was told.
  options.argv = {"/bin/sh", "-c",
                  "echo \"$SPARSESCALE_RANK/$SPARSESCALE_WORLD_SIZE $SPARSESCALE_RENDEZVOUS "
                  "gpu=$CUDA_VISIBLE_DEVICES\"; test \"$SPARSESCALE_RANK\" = 1"};
  options.world_size = 3;
  options.rendezvous_path = dir + "/rank0.addr";
  options.log_dir = dir + "/ranks";
  options.gpus = {"4", "5", "6"};
  auto group = RankGroup::Launch(options);
  ASSERT_TRUE(group.ok()) << group.status();
  EXPECT_EQ(group->size(), 2u);
  const std::string failed = group->Finish(std::chrono::seconds(10));
  EXPECT_NE(failed.find("rank 2: "), std::string::npos) << failed;
  EXPECT_EQ(failed.find("rank 1"), std::string::npos) << failed;
  EXPECT_EQ(ReadAll(dir + "/ranks/rank1.log"), "1/3 file:" + options.rendezvous_path + " gpu=5\n");
  EXPECT_EQ(ReadAll(dir + "/ranks/rank2.log"), "2/3 file:" + options.rendezvous_path + " gpu=6\n");
}

TEST(RankLauncherTest, WithoutARendezvousPathTheChildrenGetNoRendezvousVariable) {
  const std::string dir = TempDir("no_file");
  RankLaunchOptions options;
  options.argv = {"/bin/sh", "-c",
                  "echo \"$SPARSESCALE_RANK/$SPARSESCALE_WORLD_SIZE "
                  "${SPARSESCALE_RENDEZVOUS-unset}\""};
  options.world_size = 2;
  options.log_dir = dir + "/ranks";
  auto group = RankGroup::Launch(options);
  ASSERT_TRUE(group.ok()) << group.status();
  EXPECT_EQ(group->Finish(std::chrono::seconds(10)), "");
  EXPECT_EQ(ReadAll(dir + "/ranks/rank1.log"), "1/2 unset\n");
}

#ifdef AGENT_WORKER_EXE
// A byte-level llm.c shard of pseudo-text.
std::string WriteShard(const std::string& path, size_t n) {
  std::vector<int32_t> header(256, 0);
  header[0] = 20240520;
  header[1] = 1;
  header[2] = static_cast<int32_t>(n);
  std::vector<uint16_t> tokens(n);
  uint64_t x = 12345;
  for (size_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    tokens[i] =
        static_cast<uint16_t>("the quick brown fox jumps over a lazy dog. "[(x >> 33) % 43]);
  }
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(header.data()), 1024);
  out.write(reinterpret_cast<const char*>(tokens.data()), static_cast<std::streamsize>(2 * n));
  return path;
}

TEST(RankLauncherTest, WorkerJobProcessTrainsATwoRankJobAndReportsOnce) {
  const std::string dir = TempDir("worker");
  const std::string shard = WriteShard(dir + "/train.bin", 40000);
  const std::string spec = dir + "/spec.json";
  std::ofstream(spec) << R"({"model": {"layers": 1, "width": 32, "heads": 2, "context": 16},
    "data": {"train_shards": [")"
                      << shard << R"("], "batch_size": 4, "tokens": 1280},
    "pruning": {"sparsity": 0.5, "update_interval_steps": 2},
    "device": "cpu", "processes": 2, "seed": 3})";
  SpawnOptions spawn;
  spawn.argv = {AGENT_WORKER_EXE, "run-job",      "--spec",        spec,       "--out",
                dir + "/ckpt",    "--upload-dir", dir + "/upload", "--device", "cpu"};
  spawn.capture_stdout = true;
  spawn.stderr_path = dir + "/job.log";
  auto child = Subprocess::Spawn(spawn);
  ASSERT_TRUE(child.ok()) << child.status();
  std::vector<std::string> lines;
  while (child->ReadLines(std::chrono::milliseconds(200), &lines)) {
  }
  const ExitInfo exit = child->Wait();
  ASSERT_TRUE(exit.ok()) << exit.ToString() << ReadAll(dir + "/job.log")
                         << ReadAll(dir + "/ckpt.ranks/rank1.log");
  std::set<int64_t> steps;
  int done = 0;
  for (const std::string& line : lines) {
    auto event = ParseChildEvent(line);
    ASSERT_TRUE(event.ok()) << line;
    if (event->has_point()) {
      EXPECT_TRUE(steps.insert(event->point().step()).second) << "step reported twice";
    }
    done += event->has_done() ? 1 : 0;
  }
  EXPECT_EQ(done, 1);
  EXPECT_EQ(steps.size(), 20u);  // 1280 tokens / (4 x 16), one point per step
  EXPECT_TRUE(fs::exists(dir + "/ckpt/ckpt-20.safetensors"));
  EXPECT_NE(ReadAll(dir + "/ckpt.ranks/rank1.log").find("{\"done\":"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir + "/ckpt.ranks/rank0.addr"));  // removed once everyone joined
  EXPECT_NE(ReadAll(dir + "/job.log").find("rank 0 of 2: rendezvous file:"), std::string::npos);
  EXPECT_NE(ReadAll(dir + "/ckpt.ranks/rank1.log").find("rank 1 of 2: rendezvous env"),
            std::string::npos);
}

TEST(RankLauncherTest, RunJobRejectsABadAttemptNamingTheFlag) {
  const std::string dir = TempDir("bad_attempt");
  SpawnOptions spawn;
  spawn.argv = {AGENT_WORKER_EXE, "run-job",     "--spec",       dir + "/spec.json",
                "--out",          dir + "/ckpt", "--upload-dir", dir + "/upload",
                "--coordinator",  "127.0.0.1:1", "--job-id",     "j",
                "--attempt",      "first"};
  spawn.stdout_path = dir + "/out.log";
  spawn.stderr_path = dir + "/err.log";
  auto child = Subprocess::Spawn(spawn);
  ASSERT_TRUE(child.ok()) << child.status();
  const ExitInfo exit = child->Wait();
  EXPECT_EQ(exit.exit_code, 2) << exit.ToString();
  EXPECT_NE(ReadAll(dir + "/err.log").find("--attempt: must be a positive integer, got \"first\""),
            std::string::npos)
      << ReadAll(dir + "/err.log");
}
#endif

}  // namespace
}  // namespace sparsescale::agent
