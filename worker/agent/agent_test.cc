#include "worker/agent/agent.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "common/version.h"
#include "worker/agent/fake_worker_rpc_for_test.h"

namespace sparsescale::agent {
namespace {

namespace fs = std::filesystem;

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           absl::StrCat("agent_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    options_.name = "test-worker";
    options_.slots = 2;
    options_.lease_wait = std::chrono::milliseconds(20);
    options_.retry_initial = std::chrono::milliseconds(1);
    options_.retry_max = std::chrono::milliseconds(5);
    options_.runner.worker_exe = AGENT_FAKE_JOB;
    options_.runner.work_dir = dir_.string();
    options_.runner.points_max_delay = std::chrono::milliseconds(20);
    options_.runner.poll_interval = std::chrono::milliseconds(10);
    options_.runner.retry_initial = std::chrono::milliseconds(1);
    options_.runner.retry_max = std::chrono::milliseconds(5);
    auto rpc = std::make_unique<FakeWorkerRpc>();
    rpc_ = rpc.get();
    agent_ = std::make_unique<Agent>(options_, std::move(rpc));
  }
  void TearDown() override {
    agent_.reset();
    fs::remove_all(dir_);
  }

  static v1::Lease Lease(const std::string& job_id, const std::string& script) {
    v1::Lease lease;
    lease.set_job_id(job_id);
    lease.set_attempt(1);
    lease.mutable_spec()->set_name(script);
    return lease;
  }

  void Start() {
    thread_ = std::thread([this] { status_ = agent_->Run(); });
  }
  void DrainAndJoin() {
    agent_->Drain();
    thread_.join();
    EXPECT_TRUE(status_.ok()) << status_;
  }

  fs::path dir_;
  AgentOptions options_;
  FakeWorkerRpc* rpc_ = nullptr;
  std::unique_ptr<Agent> agent_;
  std::thread thread_;
  absl::Status status_;
};

TEST_F(AgentTest, RunsEveryLeasedJobWithinItsSlots) {
  for (const char* id : {"j1", "j2", "j3", "j4"}) {
    rpc_->AddLease(Lease(id, "steps=30 sleep_ms=2"));
  }
  Start();
  ASSERT_TRUE(rpc_->WaitForCompletions(4, absl::Seconds(30)));
  DrainAndJoin();
  for (const auto& c : rpc_->completions()) {
    EXPECT_EQ(c.outcome(), v1::JOB_STATE_SUCCEEDED) << c.job_id();
    EXPECT_EQ(c.worker_id(), "w1");
  }
  for (const auto& hb : rpc_->heartbeats()) {
    EXPECT_LE(hb.leases_size(), 2);
  }
  EXPECT_EQ(agent_->stats().jobs_succeeded, 4);
  EXPECT_EQ(rpc_->completions().size(), 4u);
}

TEST_F(AgentTest, AFinishedJobTakesTheNextLeaseWithItsCompletion) {
  options_.slots = 1;  // one slot: the second and third job can only come chained
  auto rpc = std::make_unique<FakeWorkerRpc>();
  rpc_ = rpc.get();
  agent_ = std::make_unique<Agent>(options_, std::move(rpc));
  for (const char* id : {"j1", "j2", "j3"}) {
    rpc_->AddLease(Lease(id, "steps=10 sleep_ms=1"));
  }
  Start();
  ASSERT_TRUE(rpc_->WaitForCompletions(3, absl::Seconds(30)));
  DrainAndJoin();
  const auto completions = rpc_->completions();
  ASSERT_EQ(completions.size(), 3u);
  for (const auto& c : completions) {
    EXPECT_EQ(c.outcome(), v1::JOB_STATE_SUCCEEDED) << c.job_id();
    EXPECT_EQ(c.next_free_slots(), 1) << c.job_id();  // the slot it frees
  }
  EXPECT_EQ(completions[0].job_id(), "j1");
  EXPECT_EQ(completions[2].job_id(), "j3");
  EXPECT_EQ(rpc_->leases_on_completion(), 2);  // j2 with j1's completion, j3 with j2's
  EXPECT_EQ(agent_->stats().jobs_chained, 2);
  EXPECT_EQ(agent_->stats().jobs_started, 3);
  EXPECT_EQ(agent_->stats().jobs_succeeded, 3);
}

TEST_F(AgentTest, CancelOrderInAHeartbeatReachesTheRunningJob) {
  rpc_->AddLease(Lease("long", "steps=1000000 sleep_ms=5"));
  Start();
  ASSERT_TRUE(rpc_->WaitForPoints("long", 1, absl::Seconds(20)));
  v1::Order order;
  order.set_job_id("long");
  order.set_attempt(1);
  order.set_kind(v1::ORDER_KIND_CANCEL);
  rpc_->AddOrder(order);
  ASSERT_TRUE(rpc_->WaitForCompletions(1, absl::Seconds(5)));
  EXPECT_EQ(rpc_->completions()[0].outcome(), v1::JOB_STATE_CANCELLED);
  DrainAndJoin();
}

TEST_F(AgentTest, DrainReleasesRunningJobsAfterUploadingTheirCheckpoints) {
  rpc_->AddLease(Lease("a", "steps=1000000 sleep_ms=2"));
  rpc_->AddLease(Lease("b", "steps=1000000 sleep_ms=2"));
  Start();
  ASSERT_TRUE(rpc_->WaitForPoints("a", 2, absl::Seconds(20)));
  ASSERT_TRUE(rpc_->WaitForPoints("b", 2, absl::Seconds(20)));
  DrainAndJoin();
  ASSERT_EQ(rpc_->completions().size(), 2u);
  for (const auto& c : rpc_->completions()) {
    EXPECT_EQ(c.outcome(), v1::JOB_STATE_QUEUED);
    EXPECT_EQ(rpc_->Checkpoints(c.job_id()).size(), 1u);
  }
  bool announced = false;
  for (const auto& hb : rpc_->heartbeats()) {
    announced = announced || hb.draining();
  }
  EXPECT_TRUE(announced);
}

TEST_F(AgentTest, RegistersAgainWhenTheCoordinatorAsksAndKeepsRunning) {
  rpc_->AddLease(Lease("long", "steps=200 sleep_ms=5"));
  Start();
  ASSERT_TRUE(rpc_->WaitForPoints("long", 1, absl::Seconds(20)));
  rpc_->RequestReregister();
  ASSERT_TRUE(rpc_->WaitForRegistrations(2, absl::Seconds(5)));
  ASSERT_TRUE(rpc_->WaitForCompletions(1, absl::Seconds(30)));
  auto c = rpc_->completions()[0];
  EXPECT_EQ(c.outcome(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(c.worker_id(), "w2");  // The job carried on under the new registration.
  EXPECT_EQ(rpc_->PointSteps("long").size(), 200u);
  DrainAndJoin();
}

TEST_F(AgentTest, ARefusedRegistrationEndsRunWithTheCoordinatorsReasonAtOnce) {
  rpc_->RefuseRegistrations(absl::FailedPreconditionError(
      "protocol_version: worker speaks worker protocol 2 but this coordinator speaks 1"));
  const absl::Status status = agent_->Run();  // returns: a refusal is not retried
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("worker protocol 2"), std::string::npos) << status;
  const auto registrations = rpc_->registration_requests();
  ASSERT_EQ(registrations.size(), 1u);
  EXPECT_EQ(registrations[0].protocol_version(), kProtocolVersion);
  EXPECT_EQ(registrations[0].version(), kVersion);
}

TEST_F(AgentTest, ARefusedReregistrationDrainsAndRunReturnsTheRefusal) {
  rpc_->AddLease(Lease("long", "steps=400 sleep_ms=5 ckpt=50"));
  Start();
  ASSERT_TRUE(rpc_->WaitForPoints("long", 1, absl::Seconds(20)));
  rpc_->RefuseRegistrations(absl::FailedPreconditionError("protocol_version: upgraded"));
  rpc_->RequestReregister();
  thread_.join();  // Run() returns by itself
  EXPECT_EQ(status_.code(), absl::StatusCode::kFailedPrecondition) << status_;
  ASSERT_EQ(rpc_->completions().size(), 1u);
  EXPECT_EQ(rpc_->completions()[0].outcome(), v1::JOB_STATE_QUEUED);  // released, not lost
}

}  // namespace
}  // namespace sparsescale::agent
