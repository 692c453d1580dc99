// GPU workers without a GPU: an agent given a device list runs real job processes (the fake
// job, which records its CUDA_VISIBLE_DEVICES) and each must see only GPUs of its own.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_split.h"
#include "worker/agent/agent.h"
#include "worker/agent/fake_worker_rpc_for_test.h"

namespace sparsescale::agent {
namespace {

namespace fs = std::filesystem;

// One line of the fake job's environment log.
struct EnvEvent {
  bool start = false;
  std::string pid;
  std::vector<std::string> gpus;
  std::string backend;  // the job process's --device
  std::string name;
};

class AgentGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           absl::StrCat("agent_gpu_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    env_log_ = (dir_ / "env.log").string();
    setenv("SPARSESCALE_FAKE_JOB_ENV_LOG", env_log_.c_str(), 1);  // inherited by the jobs
    options_.name = "gpu-worker";
    options_.device_kind = "cuda";
    options_.lease_wait = std::chrono::milliseconds(20);
    options_.retry_initial = std::chrono::milliseconds(1);
    options_.retry_max = std::chrono::milliseconds(5);
    options_.runner.worker_exe = AGENT_FAKE_JOB;
    options_.runner.device = "cuda";  // as the daemon sets it on a cuda worker
    options_.runner.work_dir = dir_.string();
    options_.runner.points_max_delay = std::chrono::milliseconds(20);
    options_.runner.poll_interval = std::chrono::milliseconds(10);
  }
  void TearDown() override {
    unsetenv("SPARSESCALE_FAKE_JOB_ENV_LOG");
    fs::remove_all(dir_);
  }

  static v1::Lease Lease(const std::string& job_id, const std::string& device, int gpus) {
    v1::Lease lease;
    lease.set_job_id(job_id);
    lease.set_attempt(1);
    lease.mutable_spec()->set_name(absl::StrCat("steps=25 sleep_ms=4 job=", job_id.substr(1)));
    lease.mutable_spec()->set_device(device);
    lease.mutable_spec()->set_gpus(gpus);
    return lease;
  }

  // Runs the agent until `completions` jobs have ended, then drains it.
  void RunUntil(FakeWorkerRpc* rpc, Agent* agent, size_t completions) {
    absl::Status status;
    std::thread run([&] { status = agent->Run(); });
    EXPECT_TRUE(rpc->WaitForCompletions(completions, absl::Seconds(60)));
    agent->Drain();
    run.join();
    EXPECT_TRUE(status.ok()) << status;
  }

  std::vector<EnvEvent> Events() const {
    std::vector<EnvEvent> events;
    std::ifstream in(env_log_);
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(' ', 4));
      EXPECT_EQ(f.size(), 5u) << line;
      if (f.size() == 5) {
        EnvEvent e{f[0] == "start", f[1], {}, f[3], f[4]};
        if (f[2] != "-") {
          e.gpus = absl::StrSplit(f[2], ',', absl::SkipEmpty());
        }
        EXPECT_NE(f[2], "-") << "a job on a cuda worker without CUDA_VISIBLE_DEVICES: " << line;
        events.push_back(e);
      }
    }
    return events;
  }

  fs::path dir_;
  std::string env_log_;
  AgentOptions options_;
};

TEST_F(AgentGpuTest, EachJobSeesOnlyItsOwnGpusWhichAreReusedAfterItEnds) {
  options_.gpu_ids = {"0", "1", "2", "3"};
  options_.slots = 2;  // two jobs of at most 2 GPUs: never more GPUs asked for than there are
  auto rpc = std::make_unique<FakeWorkerRpc>();
  FakeWorkerRpc* fake = rpc.get();
  const std::map<std::string, int> needs = {{"j1", 2}, {"j2", 1}, {"j3", 2},
                                            {"j4", 1}, {"j5", 0}, {"j6", 2}};
  for (const auto& [id, gpus] : needs) {
    fake->AddLease(Lease(id, gpus == 0 ? "cpu" : "cuda", gpus));
  }
  Agent agent(options_, std::move(rpc));
  RunUntil(fake, &agent, needs.size());
  EXPECT_EQ(fake->registration_requests()[0].resources().gpus(), 4);
  for (const auto& c : fake->completions()) {
    EXPECT_EQ(c.outcome(), v1::JOB_STATE_SUCCEEDED) << c.job_id();
  }

  std::map<std::string, std::string> holder;  // GPU -> the pid of the running job holding it
  std::map<std::string, std::set<std::string>> users;  // GPU -> every job that had it
  int starts = 0;
  for (const EnvEvent& e : Events()) {
    const std::string job = "j" + e.name.substr(e.name.rfind('=') + 1);
    if (!e.start) {
      for (const std::string& gpu : e.gpus) {
        holder.erase(gpu);
      }
      continue;
    }
    ++starts;
    EXPECT_EQ(static_cast<int>(e.gpus.size()), needs.at(job)) << job;
    EXPECT_EQ(e.backend, needs.at(job) == 0 ? "cpu" : "cuda") << job;
    EXPECT_EQ(std::set<std::string>(e.gpus.begin(), e.gpus.end()).size(), e.gpus.size()) << job;
    for (const std::string& gpu : e.gpus) {
      EXPECT_TRUE(holder.count(gpu) == 0) << job << " got GPU " << gpu << " held by pid "
                                          << holder[gpu];
      EXPECT_TRUE(gpu >= "0" && gpu <= "3") << gpu;
      holder[gpu] = e.pid;
      users[gpu].insert(job);
    }
  }
  EXPECT_EQ(starts, 6);
  EXPECT_TRUE(holder.empty());  // every job gave its GPUs back
  size_t uses = 0;
  for (const auto& [gpu, jobs] : users) {
    uses += jobs.size();
  }
  EXPECT_EQ(uses, 8u);  // 2+1+2+1+0+2 GPU grants on 4 GPUs: GPUs were reused
}

TEST_F(AgentGpuTest, ALeaseThatFindsNoFreeGpuIsReleasedNotRunOnAnotherJobsGpu) {
  options_.gpu_ids = {"7"};
  options_.slots = 2;  // more slots than GPUs, as a coordinator that miscounted would grant
  auto rpc = std::make_unique<FakeWorkerRpc>();
  FakeWorkerRpc* fake = rpc.get();
  fake->AddLease(Lease("j1", "cuda", 1));
  fake->AddLease(Lease("j2", "cuda", 1));
  Agent agent(options_, std::move(rpc));
  RunUntil(fake, &agent, 2);
  std::map<std::string, v1::JobState> outcomes;
  for (const auto& c : fake->completions()) {
    outcomes[c.job_id()] = c.outcome();
  }
  // Both leases came in one answer: the first took GPU 7, the second was handed back.
  EXPECT_EQ(outcomes["j1"], v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(outcomes["j2"], v1::JOB_STATE_QUEUED);
  for (const EnvEvent& e : Events()) {
    EXPECT_EQ(e.gpus, std::vector<std::string>{"7"});
    EXPECT_EQ(e.name.substr(e.name.rfind('=') + 1), "1");
  }
}

}  // namespace
}  // namespace sparsescale::agent
