// Multi-node gangs across "hosts": each worker runs in its own network namespace, joined to
// this one by a veth pair whose host end is on a bridge the test makes (10.79.N.1 is the
// bridge here, 10.79.N.(2+i) worker i; the namespaces have nothing else but loopback). The
// coordinator listens on the bridge address (--insecure: no TLS or tokens, it is the test's
// own network); every worker advertises its namespace address, so a gang's TCP ring crosses
// the veth pairs. Needs root and iproute2: without root the tests skip saying so; a host that
// cannot make the namespaces or carry TCP across them fails with the command's output.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "client/coordinator_client.h"
#include "client/local_cluster.h"
#include "tests/e2e/e2e_support.h"
#include "worker/agent/subprocess.h"

namespace sparsescale::gang_test {
namespace {

namespace fs = std::filesystem;
namespace v1 = sparsescale::v1;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kIp[] = "/usr/sbin/ip";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int RunCommand(const std::vector<std::string>& argv, const std::string& log) {
  agent::SpawnOptions spawn;
  spawn.argv = argv;
  spawn.stdout_path = log;
  spawn.stderr_path = log;
  absl::StatusOr<agent::Subprocess> child = agent::Subprocess::Spawn(spawn);
  return child.ok() ? child->Wait().exit_code : -1;
}

class GangNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "the gang tests put workers in network namespaces (ip netns): they need "
                      "root, and this process is not root";
    }
    const int id = getpid();
    dir_ = fs::temp_directory_path() / absl::StrCat("sparsescale_gang_", id);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    tag_ = absl::StrCat(id % 100'000);
    subnet_ = absl::StrCat("10.79.", id % 200 + 20, ".");
    bridge_ = "ssgbr" + tag_;
    here_ = subnet_ + "1";
    IpOrFail({"link", "add", bridge_, "type", "bridge"});
    made_bridge_ = true;
    IpOrFail({"addr", "add", here_ + "/24", "dev", bridge_});
    IpOrFail({"link", "set", bridge_, "up"});
    auto shards = e2e::PrepareCorpusSlice(dir_.string(), 200'000);
    ASSERT_TRUE(shards.ok()) << shards.status();
    shards_ = *shards;
  }

  void TearDown() override {
    for (auto& [name, worker] : workers_) {
      worker.Signal(SIGKILL);
      worker.Wait();
    }
    cluster_.reset();
    for (const std::string& ns : namespaces_) {
      RunCommand({kIp, "netns", "del", ns}, "");  // its veth end goes with it
    }
    if (made_bridge_) {
      RunCommand({kIp, "link", "del", bridge_}, "");
    }
    if (dir_.empty()) {
      return;
    }
    if (HasFailure()) {
      std::fprintf(stderr, "gang test: logs kept in %s\n", dir_.c_str());
    } else {
      fs::remove_all(dir_);
    }
  }

  void IpOrFail(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kIp};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string log = (dir_ / "ip.log").string();
    std::error_code ec;
    fs::remove(log, ec);
    const int code = RunCommand(argv, log);
    std::string line;
    for (const std::string& a : argv) {
      absl::StrAppend(&line, a, " ");
    }
    ASSERT_EQ(code, 0) << "cannot set up the test network: `" << line << "` exited " << code
                       << ": " << ReadAll(log);
  }

  // Namespace i: a veth pair with its host end on the bridge, its own end inside with
  // address subnet.(2+i). Returns that address.
  std::string MakeHost(int i) {
    const std::string ns = absl::StrCat("ss_gang_", tag_, "_", i);
    const std::string host_if = absl::StrCat("ssg", tag_, "h", i);
    const std::string ns_if = absl::StrCat("ssg", tag_, "n", i);
    const std::string address = absl::StrCat(subnet_, 2 + i);
    IpOrFail({"netns", "add", ns});
    namespaces_.push_back(ns);
    IpOrFail({"link", "add", host_if, "type", "veth", "peer", "name", ns_if});
    IpOrFail({"link", "set", host_if, "master", bridge_});
    IpOrFail({"link", "set", host_if, "up"});
    IpOrFail({"link", "set", ns_if, "netns", ns});
    IpOrFail({"netns", "exec", ns, kIp, "addr", "add", address + "/24", "dev", ns_if});
    IpOrFail({"netns", "exec", ns, kIp, "link", "set", ns_if, "up"});
    IpOrFail({"netns", "exec", ns, kIp, "link", "set", "lo", "up"});
    return address;
  }

  // The coordinator on the bridge address; `hosts` workers, each alone in a namespace with
  // `slots` slots, advertising its own address to the ranks of the other hosts.
  void StartCluster(int hosts, int slots = 1) {
    std::vector<std::string> addresses;
    for (int i = 0; i < hosts; ++i) {
      addresses.push_back(MakeHost(i));
      if (HasFatalFailure()) {
        return;
      }
    }
    client::LocalClusterOptions o;
    o.work_dir = (dir_ / "cluster").string();
    o.host = here_;
    o.workers = 0;
    o.coordinator_args = {"--insecure", "--auth", "none", "--lease-ttl-ms", "3000",
                          "--heartbeat-period-ms", "300"};
    auto cluster = client::LocalCluster::Start(o);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    client_ = std::make_unique<client::CoordinatorClient>(cluster_->address());
    auto bin = client::FindBinary("sparsescale-worker");
    ASSERT_TRUE(bin.ok()) << bin.status();
    for (int i = 0; i < hosts; ++i) {
      const std::string name = absl::StrCat("host", i);
      agent::SpawnOptions spawn;
      spawn.argv = {kIp,         "netns",       "exec",     namespaces_[i],
                    *bin,        "--coordinator", cluster_->address(),
                    "--name",    name,          "--device", "cpu",
                    "--slots",   absl::StrCat(slots), "--threads", "1",
                    "--work-dir", (dir_ / name).string(),
                    "--advertise-address", addresses[i]};
      spawn.stderr_path = (dir_ / (name + ".log")).string();
      spawn.stdout_path = spawn.stderr_path;
      auto child = agent::Subprocess::Spawn(spawn);
      ASSERT_TRUE(child.ok()) << child.status();
      workers_.emplace(name, std::move(*child));
    }
    ASSERT_TRUE(e2e::WaitFor(
        [&] {
          auto status = client_->GetClusterStatus();
          return status.ok() && status->workers_size() == hosts;
        },
        seconds(60)))
        << "the workers in the namespaces did not register: " << Logs();
  }

  std::string Logs() {
    std::string all;
    for (const auto& [name, worker] : workers_) {
      absl::StrAppend(&all, "\n--- ", name, " ---\n", ReadAll((dir_ / (name + ".log")).string()));
    }
    return all;
  }

  std::string Submit(const v1::JobSpec& spec, int max_attempts = 0) {
    v1::SubmitJobRequest submit;
    submit.set_request_id(client::NewClientRequestId());
    *submit.mutable_spec() = spec;
    if (max_attempts > 0) {
      submit.set_max_attempts(max_attempts);
    }
    auto job = client_->SubmitJob(submit);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? job->job().id() : "";
  }

  v1::JobState WaitFinal(const std::string& id, seconds timeout) {
    v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
    e2e::WaitFor(
        [&] {
          auto j = client_->GetJob(id);
          state = j.ok() ? j->state() : state;
          return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
                 state == v1::JOB_STATE_CANCELLED;
        },
        timeout);
    return state;
  }

  std::vector<v1::LossPoint> Curve(const std::string& id) {
    auto c = client_->GetLossCurve(id, 0);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::vector<v1::LossPoint>(c->points().begin(), c->points().end())
                  : std::vector<v1::LossPoint>{};
  }

  // The workers (by name) that hold the running job, rank 0's first.
  std::vector<std::string> Holders(const std::string& job_id) {
    std::vector<std::string> names;
    auto job = client_->GetJob(job_id);
    auto status = client_->GetClusterStatus();
    if (!job.ok() || !status.ok()) {
      return names;
    }
    for (const v1::WorkerInfo& w : status->workers()) {
      for (const std::string& running : w.running_job_ids()) {
        if (running == job_id) {
          names.insert(w.id() == job->worker_id() ? names.begin() : names.end(), w.name());
        }
      }
    }
    return names;
  }

  void StartFourRanksAndFinish(const std::string& what);

  v1::JobSpec GangSpec(int ranks, int steps, int ckpt_every) {
    v1::JobSpec spec = e2e::TinySpec(shards_, steps, ckpt_every);
    spec.set_processes(ranks);
    return spec;
  }

  fs::path dir_;
  std::string tag_, subnet_, bridge_, here_, shards_;
  bool made_bridge_ = false;
  std::vector<std::string> namespaces_;
  std::unique_ptr<client::LocalCluster> cluster_;
  std::unique_ptr<client::CoordinatorClient> client_;
  std::map<std::string, agent::Subprocess> workers_;
};

// The tolerance of a curve against the one-process run: the ranks sum gradients in another
// order (fp32), measured at ~3e-7 over 40 steps (docs/ARCHITECTURE.md, "Data parallelism").
constexpr double kTolerance = 1e-4;

TEST_F(GangNetnsTest, KilledMemberWorkerEndsTheAttemptAndTheGangResumesToOneCleanCurve) {
  StartCluster(3);
  ASSERT_FALSE(HasFatalFailure());
  // Long enough (a few seconds across the two hosts) to be killed between checkpoints.
  const int steps = 3000;
  const std::string gang = Submit(GangSpec(2, steps, 200), /*max_attempts=*/6);
  ASSERT_FALSE(gang.empty());
  // Both ranks are placed on two of the three one-slot hosts and train past a checkpoint.
  std::vector<std::string> holders;
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        auto j = client_->GetJob(gang);
        holders = Holders(gang);
        return j.ok() && j->checkpoint_step() >= 200 && j->step() > j->checkpoint_step() &&
               holders.size() == 2;
      },
      seconds(120)))
      << Logs();
  const std::string victim = holders[1];  // the member running rank 1
  auto before = client_->GetJob(gang);
  ASSERT_TRUE(before.ok());
  ASSERT_LT(before->step(), steps) << "the job ended before the kill; make it longer";
  workers_.at(victim).Signal(SIGKILL);
  workers_.at(victim).Wait();
  workers_.erase(victim);

  ASSERT_EQ(WaitFinal(gang, seconds(180)), v1::JOB_STATE_SUCCEEDED) << Logs();
  auto job = client_->GetJob(gang);
  ASSERT_TRUE(job.ok());
  EXPECT_GE(job->attempt(), 2) << "the kill did not end the attempt";
  const std::vector<v1::LossPoint> curve = Curve(gang);
  ASSERT_EQ(curve.size(), static_cast<size_t>(steps));
  for (size_t i = 0; i < curve.size(); ++i) {
    ASSERT_EQ(curve[i].step(), static_cast<int64_t>(i + 1)) << "one clean point per step";
  }

  // The same job as one process, on a surviving host.
  const std::string single = Submit(e2e::TinySpec(shards_, steps, 200));
  ASSERT_EQ(WaitFinal(single, seconds(180)), v1::JOB_STATE_SUCCEEDED) << Logs();
  const std::vector<v1::LossPoint> reference = Curve(single);
  ASSERT_EQ(reference.size(), curve.size());
  double worst = 0;
  for (size_t i = 0; i < curve.size(); ++i) {
    worst = std::max(worst, std::abs(curve[i].train_loss() - reference[i].train_loss()));
  }
  std::printf("gang (2 ranks on 2 hosts, rank 1's host killed at step %lld) vs one process: "
              "largest train-loss difference %.3g over %d steps\n",
              static_cast<long long>(before->step()), worst, steps);
  EXPECT_LE(worst, kTolerance);
}

// Submits a 4-rank, 40-step CPU job and measures its start: from the first moment the job is
// seen RUNNING (its lease granted) to its first loss point (step 1 needs every rank's
// gradients, so all four are training), as this client sees them polling GetJob every 100 ms
// (so within ~100 ms). Prints the figure under `what` (bench/gang/start.sh reads it) and
// checks that the job ends with its whole curve.
void GangNetnsTest::StartFourRanksAndFinish(const std::string& what) {
  const std::string gang = Submit(GangSpec(4, 40, 20));
  ASSERT_FALSE(gang.empty());
  const auto submitted = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point leased{}, training{};
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        auto j = client_->GetJob(gang);
        if (!j.ok()) {
          return false;
        }
        const auto now = std::chrono::steady_clock::now();
        if (leased == std::chrono::steady_clock::time_point{} &&
            j->state() != v1::JOB_STATE_QUEUED) {
          leased = now;
        }
        if (j->step() >= 1 || j->state() == v1::JOB_STATE_SUCCEEDED) {
          training = now;
          return true;
        }
        return false;
      },
      seconds(120)))
      << Logs();
  std::printf("gang start (%s): submit to lease %lld ms, lease to all ranks training %lld ms\n",
              what.c_str(),
              static_cast<long long>(
                  std::chrono::duration_cast<milliseconds>(leased - submitted).count()),
              static_cast<long long>(
                  std::chrono::duration_cast<milliseconds>(training - leased).count()));
  ASSERT_EQ(WaitFinal(gang, seconds(120)), v1::JOB_STATE_SUCCEEDED) << Logs();
  EXPECT_EQ(Curve(gang).size(), 40u);
}

TEST_F(GangNetnsTest, FourRankGangAcrossFourHostsStartsAndFinishes) {
  StartCluster(4);
  ASSERT_FALSE(HasFatalFailure());
  StartFourRanksAndFinish("4 CPU ranks on 4 hosts");
}

// The baseline of the gang-start figure: the same job on one host with 4 slots, its ranks
// meeting over that host's loopback.
TEST_F(GangNetnsTest, FourRankJobOnOneHostStartsAndFinishes) {
  StartCluster(1, /*slots=*/4);
  ASSERT_FALSE(HasFatalFailure());
  StartFourRanksAndFinish("4 CPU ranks on 1 host");
}

}  // namespace
}  // namespace sparsescale::gang_test
