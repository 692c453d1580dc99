// Data-parallel training with ranks as threads of this process (TCP ring over loopback): W ranks
// on a global batch B train the same job as one process on B, within float tolerance.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/tcp_comm.h"
#include "spec/job_spec.h"
#include "worker/trainer/safetensors.h"
#include "worker/trainer/test_util.h"
#include "worker/trainer/trainer.h"

namespace sparsescale::trainer {
namespace {

using spec::CanonicalJobSpecHash;
using spec::DataParallelRanks;
using spec::JobSpecToJson;
using spec::NormalizeJobSpec;
using spec::ReadJobSpecFile;
using spec::ValidateJobSpec;
using testing::CliPath;
using testing::MakeTempDir;
using testing::ReadAll;
using testing::RecordingObserver;
using testing::RunCli;
using testing::SourceDir;
using testing::SyntheticText;
using testing::TinySpec;
using testing::WriteTextShard;

// Tolerance of an N-rank loss against the one-process loss (nats/token). The runs differ only in
// float summation order (each rank's GEMMs see half the rows; the loss and gradients are
// averaged across ranks), which AdamW amplifies a little over the steps. Measured: under 1e-6
// over these 40 steps (2 and 4 ranks); the bound leaves two orders of magnitude for other
// compilers and GEMM code paths.
constexpr double kLossTolerance = 1e-4;

// Tolerance of the final trainer state (weights, masks, both AdamW moments) of an N-rank run
// against the one-process run: the largest relative difference ||a - b|| / ||a|| over the
// tensors of each kind. The losses alone cannot catch a wrong gradient scale (a sum over ranks
// where the mean belongs): AdamW's update m / sqrt(v) hardly changes when every gradient is
// scaled by W, but m scales by W and v by W^2. Measured over these 40 steps: moments within
// 4e-6, weights within 1e-4 (small LayerNorm tensors), masks identical; with the reduction left
// unscaled, m was off by 1.0 and v by 3.0 at 2 ranks (3.0 and 15 at 4), while the 4-rank
// losses stayed within 2e-5 of the one-process run.
constexpr double kStateTolerance = 1e-3;

// The tensors of a checkpoint grouped by kind ("weights", "mask.", "optim.m.", "optim.v."):
// for each kind, the largest relative difference between the checkpoints `a` and `b`.
// Every F32 tensor of `a` must be in `b` with the same shape (test failures otherwise).
std::map<std::string, double> StateDifferences(const std::string& a_path,
                                               const std::string& b_path) {
  std::map<std::string, double> worst;
  auto a = SafetensorsFile::Read(a_path);
  auto b = SafetensorsFile::Read(b_path);
  EXPECT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(b.ok()) << b.status();
  if (!a.ok() || !b.ok()) {
    return worst;
  }
  for (const auto& [name, ta] : a->tensors()) {
    const TensorView* tb = b->Find(name);
    if (ta.dtype != DType::kF32) {
      EXPECT_TRUE(tb != nullptr && tb->bytes == ta.bytes &&
                  std::memcmp(ta.data, tb->data, ta.bytes) == 0)
          << name;  // trainer.step, trainer.tokens, trainer.rng: identical
      continue;
    }
    if (tb == nullptr || tb->shape != ta.shape || tb->dtype != DType::kF32) {
      ADD_FAILURE() << name << " missing or of another shape in " << b_path;
      continue;
    }
    double diff2 = 0, norm2 = 0;
    for (int64_t i = 0; i < ta.numel(); ++i) {
      float x = 0, y = 0;
      std::memcpy(&x, ta.data + i * sizeof(float), sizeof(float));
      std::memcpy(&y, tb->data + i * sizeof(float), sizeof(float));
      diff2 += (static_cast<double>(x) - y) * (static_cast<double>(x) - y);
      norm2 += static_cast<double>(x) * x;
    }
    std::string kind = "weights";
    for (const char* prefix : {"mask.", "optim.m.", "optim.v."}) {
      if (name.rfind(prefix, 0) == 0) {
        kind = prefix;
      }
    }
    const double relative = norm2 > 0 ? std::sqrt(diff2 / norm2) : std::sqrt(diff2);
    worst[kind] = std::max(worst[kind], relative);
  }
  return worst;
}

// A tiny job with pruning inside the run, so masks are recomputed on every rank.
sparsescale::v1::JobSpec PrunedSpec(const std::string& dir, int64_t steps) {
  const std::string shard = WriteTextShard(dir, "train.bin", SyntheticText(60000, 5));
  sparsescale::v1::JobSpec spec = TinySpec(shard, steps);
  spec.mutable_pruning()->set_sparsity(0.5);
  spec.mutable_pruning()->set_update_interval_steps(2);
  return spec;
}

struct RankRun {
  absl::StatusOr<TrainSummary> summary = absl::UnknownError("not run");
  std::unique_ptr<RecordingObserver> observer;
};

// Runs every rank of `spec` as a thread; rank 0 writes to out_dir.
std::vector<RankRun> RunRanks(const sparsescale::v1::JobSpec& spec, int world,
                              const std::string& out_dir, const std::string& resume = "",
                              int64_t stop_after_on_rank0 = -1) {
  const std::string rendezvous = "file:" + MakeTempDir("dp_rendezvous") + "/rank0";
  std::vector<RankRun> runs(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    runs[static_cast<size_t>(r)].observer =
        std::make_unique<RecordingObserver>(r == 0 ? stop_after_on_rank0 : -1);
    threads.emplace_back([&, r] {
      TrainOptions options;
      options.out_dir = r == 0 ? out_dir : "";
      options.resume_from = resume;
      options.rank = r;
      options.rendezvous = rendezvous;
      RankRun& run = runs[static_cast<size_t>(r)];
      run.summary = RunTraining(spec, options, run.observer.get());
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  return runs;
}

class DataParallelEquivalenceTest : public ::testing::TestWithParam<int> {};

TEST_P(DataParallelEquivalenceTest, RanksTrainLikeOneProcessOnTheWholeBatch) {
  const int world = GetParam();
  const std::string dir = MakeTempDir("dp_equal");
  sparsescale::v1::JobSpec spec = PrunedSpec(dir, 40);
  RecordingObserver single;
  TrainOptions options;
  options.out_dir = dir + "/single";
  auto one = RunTraining(spec, options, &single);
  ASSERT_TRUE(one.ok()) << one.status();

  spec.set_processes(world);
  std::vector<RankRun> ranks = RunRanks(spec, world, dir + "/dp");
  for (const RankRun& run : ranks) {
    ASSERT_TRUE(run.summary.ok()) << run.summary.status();
  }
  const RecordingObserver& lead = *ranks[0].observer;
  ASSERT_EQ(lead.points.size(), single.points.size());
  double worst = 0;
  for (size_t i = 0; i < single.points.size(); ++i) {
    const LossPoint& a = single.points[i];
    const LossPoint& b = lead.points[i];
    EXPECT_EQ(a.step(), b.step());
    EXPECT_EQ(a.tokens(), b.tokens());  // global tokens: the whole batch per step
    EXPECT_EQ(a.sparsity(), b.sparsity());
    EXPECT_EQ(a.lr(), b.lr());
    EXPECT_EQ(a.nonzeros_paper(), b.nonzeros_paper());
    EXPECT_NEAR(a.train_loss(), b.train_loss(), kLossTolerance) << "step " << a.step();
    worst = std::max(worst, std::abs(a.train_loss() - b.train_loss()));
    ASSERT_EQ(a.has_eval_loss(), b.has_eval_loss());
    if (a.has_eval_loss()) {
      EXPECT_NEAR(a.eval_loss(), b.eval_loss(), kLossTolerance) << "step " << a.step();
    }
  }
  std::cerr << "largest train-loss difference, " << world << " ranks vs 1 process: " << worst
            << "\n";
  EXPECT_NEAR(*one->final_eval_loss, *ranks[0].summary->final_eval_loss, kLossTolerance);
  for (const RankRun& run : ranks) {
    EXPECT_EQ(run.summary->final_eval_loss, ranks[0].summary->final_eval_loss);
  }
  EXPECT_EQ(one->final_sparsity, ranks[0].summary->final_sparsity);
  // The state after the last step: same weights, masks and AdamW moments.
  const std::map<std::string, double> state =
      StateDifferences(one->last_checkpoint, ranks[0].summary->last_checkpoint);
  ASSERT_EQ(state.size(), 4u);  // weights, masks and both moments were all compared
  for (const auto& [kind, difference] : state) {
    std::cerr << "largest relative difference of " << kind << ": " << difference << "\n";
    EXPECT_LE(difference, kStateTolerance) << kind;
  }
  // Only rank 0 reports and writes.
  EXPECT_FALSE(lead.checkpoints.empty());
  EXPECT_TRUE(ranks[1].observer->points.empty());
  EXPECT_TRUE(ranks[1].observer->checkpoints.empty());
  EXPECT_TRUE(std::filesystem::exists(ranks[0].summary->last_checkpoint));
}

INSTANTIATE_TEST_SUITE_P(Ranks, DataParallelEquivalenceTest, ::testing::Values(2, 4));

TEST(DataParallelTest, StoppedTwoRankRunResumesBitExactly) {
  const std::string dir = MakeTempDir("dp_resume");
  sparsescale::v1::JobSpec spec = PrunedSpec(dir, 24);
  spec.set_processes(2);
  std::vector<RankRun> full = RunRanks(spec, 2, dir + "/full");
  ASSERT_TRUE(full[0].summary.ok()) << full[0].summary.status();

  std::vector<RankRun> stopped = RunRanks(spec, 2, dir + "/parts", "", 10);
  for (const RankRun& run : stopped) {
    EXPECT_TRUE(absl::IsCancelled(run.summary.status())) << run.summary.status();
  }
  ASSERT_FALSE(stopped[0].observer->checkpoints.empty());
  const auto [step, path] = stopped[0].observer->checkpoints.back();
  EXPECT_GE(step, 10);
  std::vector<RankRun> resumed = RunRanks(spec, 2, dir + "/parts", path);
  ASSERT_TRUE(resumed[0].summary.ok()) << resumed[0].summary.status();
  ASSERT_TRUE(resumed[1].summary.ok()) << resumed[1].summary.status();
  const auto& rest = resumed[0].observer->points;
  const auto& whole = full[0].observer->points;
  ASSERT_EQ(rest.front().step(), step + 1);
  for (const LossPoint& p : rest) {
    const LossPoint& q = whole[static_cast<size_t>(p.step() - 1)];
    ASSERT_EQ(q.step(), p.step());
    EXPECT_EQ(q.train_loss(), p.train_loss()) << "step " << p.step();
    EXPECT_EQ(EvalLoss(q), EvalLoss(p)) << "step " << p.step();
  }
  EXPECT_EQ(full[0].summary->final_eval_loss, resumed[0].summary->final_eval_loss);
}

TEST(DataParallelTest, RankCountMustDivideTheBatchAndNeedsARendezvous) {
  const std::string dir = MakeTempDir("dp_invalid");
  sparsescale::v1::JobSpec spec = PrunedSpec(dir, 8);
  TrainOptions options;
  options.out_dir = dir + "/out";
  spec.set_processes(3);  // batch 4
  auto indivisible = RunTraining(spec, options, nullptr);
  ASSERT_TRUE(absl::IsInvalidArgument(indivisible.status()));
  EXPECT_NE(indivisible.status().message().find("data.batch_size"), std::string::npos)
      << indivisible.status();
  spec.set_processes(2);
  auto alone = RunTraining(spec, options, nullptr);
  ASSERT_TRUE(absl::IsInvalidArgument(alone.status()));
  EXPECT_NE(alone.status().message().find("processes"), std::string::npos) << alone.status();
  options.rank = 2;
  options.rendezvous = "file:" + dir + "/rv";
  auto bad_rank = RunTraining(spec, options, nullptr);
  ASSERT_TRUE(absl::IsInvalidArgument(bad_rank.status()));
  EXPECT_NE(bad_rank.status().message().find("rank"), std::string::npos) << bad_rank.status();
  spec.set_device("cuda");
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateJobSpec(spec)));  // processes is CPU only
  EXPECT_FALSE(std::filesystem::exists(dir + "/out"));
}

TEST(DataParallelTest, ReadyCommunicatorIsUsedAndMustMatchTheJob) {
  const std::string dir = MakeTempDir("dp_comm");
  sparsescale::v1::JobSpec spec = PrunedSpec(dir, 8);
  const std::string rendezvous = "file:" + dir + "/rank0";
  std::vector<absl::StatusOr<TrainSummary>> wrong(2, absl::UnknownError("")), right = wrong;
  std::vector<RecordingObserver> observers(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      auto comm = kernels::ConnectTcpCommunicator(kernels::CommConfig{r, 2, rendezvous});
      ASSERT_TRUE(comm.ok()) << comm.status();
      TrainOptions options;
      options.out_dir = r == 0 ? dir + "/out" : "";
      options.comm = comm->get();
      sparsescale::v1::JobSpec mine = spec;
      wrong[static_cast<size_t>(r)] = RunTraining(mine, options, nullptr);  // 1-rank job
      mine.set_processes(2);
      right[static_cast<size_t>(r)] =
          RunTraining(mine, options, &observers[static_cast<size_t>(r)]);
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (int r = 0; r < 2; ++r) {
    const auto& w = wrong[static_cast<size_t>(r)];
    ASSERT_TRUE(absl::IsInvalidArgument(w.status())) << w.status();
    EXPECT_NE(w.status().message().find("processes"), std::string::npos) << w.status();
    ASSERT_TRUE(right[static_cast<size_t>(r)].ok()) << right[static_cast<size_t>(r)].status();
  }
  EXPECT_EQ(observers[0].points.size(), 8u);
  EXPECT_TRUE(observers[1].points.empty());
}

TEST(DataParallelTest, RankCountIsNotPartOfTheJobIdentity) {
  const std::string dir = MakeTempDir("dp_hash");
  sparsescale::v1::JobSpec spec = PrunedSpec(dir, 8);
  const std::string hash = CanonicalJobSpecHash(spec);
  sparsescale::v1::JobSpec normalized = spec;
  NormalizeJobSpec(&normalized);
  EXPECT_FALSE(normalized.has_processes());  // existing specs normalise as before
  EXPECT_EQ(JobSpecToJson(normalized).find("processes"), std::string::npos);
  spec.set_processes(4);
  EXPECT_EQ(CanonicalJobSpecHash(spec), hash);
  EXPECT_EQ(DataParallelRanks(spec), 4);
  spec.set_device("auto");
  spec.clear_processes();
  spec.set_gpus(2);
  EXPECT_EQ(DataParallelRanks(spec), 2);
}

// (train_loss, eval_loss or NaN) of every row of a points.csv.
std::vector<std::pair<double, double>> ReadLosses(const std::string& path) {
  std::vector<std::pair<double, double>> rows;
  std::istringstream in(ReadAll(path));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) {
      cells.push_back(cell);
    }
    if (cells.size() < 4) {
      continue;
    }
    rows.emplace_back(std::stod(cells[2]), cells[3].empty() ? NAN : std::stod(cells[3]));
  }
  return rows;
}

TEST(DataParallelCliTest, TwoTrainProcessesMatchOneProcessOnTheWholeBatch) {
  const std::string dir = MakeTempDir("dp_cli");
  auto spec = ReadJobSpecFile(SourceDir() + "/configs/tiny.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  // The tiny config (2 layers, width 64, batch 16, pruning to 50%) on synthetic text, cut to
  // 20 steps with masks updated every 3 steps inside the run.
  spec->mutable_data()->clear_train_shards();
  spec->mutable_data()->clear_eval_shards();
  spec->mutable_data()->add_train_shards(
      WriteTextShard(dir, "train.bin", SyntheticText(200000, 11)));
  spec->mutable_data()->add_eval_shards(WriteTextShard(dir, "val.bin", SyntheticText(20000, 12)));
  spec->mutable_data()->set_tokens(20 * 16 * 64);
  spec->mutable_data()->set_eval_interval_steps(10);
  spec->mutable_pruning()->set_update_interval_steps(3);
  spec->mutable_checkpoint()->set_interval_steps(10);
  spec->set_device("cpu");
  spec->set_log_interval_steps(1);
  const std::string config = dir + "/config.json";
  testing::WriteText(config, JobSpecToJson(*spec));

  const auto one = RunCli("train --config " + config + " --out " + dir + "/one");
  ASSERT_EQ(one.exit_code, 0) << one.output;

  const std::string rank = CliPath() + " train --config " + config +
                           " --world-size 2 --rendezvous file:" + dir + "/rank0.addr";
  const std::string script = rank + " --rank 1 --out " + dir + "/rank1 > " + dir +
                             "/rank1.log 2>&1 & r1=$!; " + rank + " --rank 0 --out " + dir +
                             "/two > " + dir + "/rank0.log 2>&1; s0=$?; wait $r1; s1=$?; " +
                             "exit $((s0 * 16 + s1))";
  const int status = std::system(("sh -c '" + script + "'").c_str());
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << ReadAll(dir + "/rank0.log") << ReadAll(dir + "/rank1.log");
  EXPECT_NE(ReadAll(dir + "/rank1.log").find("rank 1: trained 20 steps"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir + "/rank1"));  // only rank 0 writes
  EXPECT_TRUE(std::filesystem::exists(dir + "/two/ckpt-20.safetensors"));

  const auto a = ReadLosses(dir + "/one/points.csv");
  const auto b = ReadLosses(dir + "/two/points.csv");
  ASSERT_EQ(a.size(), 20u);
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i].first, b[i].first, kLossTolerance) << "step " << i + 1;
    EXPECT_EQ(std::isnan(a[i].second), std::isnan(b[i].second)) << "step " << i + 1;
    if (!std::isnan(a[i].second)) {
      EXPECT_NEAR(a[i].second, b[i].second, kLossTolerance) << "step " << i + 1;
    }
  }
}

// Starts `sparsescale <args>` with stdout and stderr into `log`; returns its pid.
pid_t StartCli(const std::vector<std::string>& args, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<std::string> argv = {CliPath()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (std::string& a : argv) {
      cargv.push_back(a.data());
    }
    cargv.push_back(nullptr);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  return pid;
}

TEST(DataParallelCliTest, KilledRankMakesTheOtherFailWithACleanErrorNotHang) {
  const std::string dir = MakeTempDir("dp_cli_kill");
  sparsescale::v1::JobSpec spec = PrunedSpec(dir, 100000);  // far longer than the test runs
  const std::string config = dir + "/config.json";
  testing::WriteText(config, JobSpecToJson(spec));
  auto args = [&](int rank) {
    return std::vector<std::string>{"train",
                                    "--config",
                                    config,
                                    "--out",
                                    absl::StrCat(dir, "/out", rank),
                                    "--rank",
                                    absl::StrCat(rank),
                                    "--world-size",
                                    "2",
                                    "--rendezvous",
                                    "file:" + dir + "/rv"};
  };
  const pid_t rank0 = StartCli(args(0), dir + "/rank0.log");
  const pid_t rank1 = StartCli(args(1), dir + "/rank1.log");
  ASSERT_GT(rank0, 0);
  ASSERT_GT(rank1, 0);
  // Training is under way once rank 0 has written a few points.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (ReadLosses(dir + "/out0/points.csv").size() < 3 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(rank1, SIGKILL);
  int status = 0;
  ::waitpid(rank1, &status, 0);
  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(::waitpid(rank0, &status, 0), rank0);
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, std::chrono::seconds(30));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  const std::string log = ReadAll(dir + "/rank0.log");
  EXPECT_NE(log.find("rank 1"), std::string::npos) << log;
  EXPECT_NE(log.find("closed the connection"), std::string::npos) << log;
}

TEST(DataParallelCliTest, WorldSizeWithoutRendezvousIsAUsageError) {
  const std::string dir = MakeTempDir("dp_cli_usage");
  const std::string config = dir + "/config.json";
  testing::WriteText(config, JobSpecToJson(PrunedSpec(dir, 4)));
  const auto r = RunCli("train --config " + config + " --out " + dir + "/out --world-size 2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--rendezvous"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace sparsescale::trainer
