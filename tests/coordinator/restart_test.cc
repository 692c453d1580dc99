// Restart: the server object is destroyed without any clean-up (as in a crash) and a new one
// opens the same database file.
#include "tests/coordinator/coordinator_fixture.h"

namespace sparsescale::coordinator::testing {
namespace {

class RestartTest : public CoordinatorFixture {
 protected:
  void SetUp() override {
    CoordinatorFixture::SetUp();
    StartServer();
  }
};

TEST_F(RestartTest, AcknowledgedPointsAndCheckpointsSurvive) {
  const std::string job_id = Submit(TinySpec(), "s").job().id();
  const std::string w = RegisterWorker("w");
  ASSERT_EQ(Acquire(w).size(), 1u);
  for (int batch = 0; batch < 20; ++batch) {
    ASSERT_TRUE(Report(w, job_id, 1, MakePoints(1 + 50 * batch, 50)).ok());
  }
  ASSERT_TRUE(Upload(w, job_id, 1, 1000, std::string(10'000, 'k')).ok());
  KillServer();
  StartServer();
  const auto curve = Curve(job_id);
  ASSERT_EQ(curve.size(), 1000u);
  EXPECT_EQ(curve.back().step(), 1000);
  std::string payload;
  ASSERT_TRUE(Download(job_id, 0, &payload).ok());
  EXPECT_EQ(payload, std::string(10'000, 'k'));
}

TEST_F(RestartTest, RunningAttemptReattachesByHeartbeatWithinTheGrace) {
  const std::string job_id = Submit(TinySpec(), "s").job().id();
  const std::string w = RegisterWorker("w");
  ASSERT_EQ(Acquire(w).size(), 1u);
  KillServer();
  options().coordinator.scheduler.restart_grace_ms = 5000;
  StartServer();
  const auto beat = Heartbeat(w, {{job_id, 1}});
  EXPECT_FALSE(beat.reregister());
  EXPECT_EQ(beat.orders_size(), 0);
  ASSERT_TRUE(Report(w, job_id, 1, MakePoints(1, 10)).ok());
  ASSERT_TRUE(Complete(w, job_id, 1, v1::JOB_STATE_SUCCEEDED, "c").ok());
  EXPECT_EQ(GetJob(job_id).state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(GetJob(job_id).attempt(), 1);
}

TEST_F(RestartTest, RunningAttemptNotReattachedIsRequeuedAfterTheGrace) {
  const std::string job_id = Submit(TinySpec(), "s").job().id();
  const std::string w = RegisterWorker("w");
  ASSERT_EQ(Acquire(w).size(), 1u);
  ASSERT_TRUE(Report(w, job_id, 1, MakePoints(1, 10)).ok());
  ASSERT_TRUE(Upload(w, job_id, 1, 5, "ckpt").ok());
  KillServer();
  StartServer();
  EXPECT_EQ(GetJob(job_id).state(), v1::JOB_STATE_RUNNING);
  ASSERT_TRUE(WaitFor([&] { return GetJob(job_id).state() == v1::JOB_STATE_QUEUED; }));
  const auto leases = Acquire(RegisterWorker("new"));
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].attempt(), 2);
  EXPECT_EQ(leases[0].resume_step(), 5);
  EXPECT_EQ(Curve(job_id).size(), 5u);  // points after the checkpoint were superseded
}

TEST_F(RestartTest, QueuedJobsAndIdempotencyRecordsSurvive) {
  const v1::SubmitJobResponse first = Submit(TinySpec(), "s");
  KillServer();
  StartServer();
  const v1::SubmitJobResponse again = Submit(TinySpec(), "s");
  EXPECT_EQ(again.SerializeAsString(), first.SerializeAsString());
  const auto leases = Acquire(RegisterWorker("w"));
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].job_id(), first.job().id());
}

TEST_F(RestartTest, NewerSchemaIsRefused) {
  KillServer();
  {
    auto store = store::Store::Open(db_path(), store::StoreOptions{});
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)
                    ->db()
                    ->Exec("INSERT INTO schema_version (version, name, applied_unix_ms) "
                           "VALUES (1000, 'future', 0)")
                    .ok());
  }
  auto server = CoordinatorServer::Start(options());
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(server.status().message().find("newer"), std::string::npos);
}

}  // namespace
}  // namespace sparsescale::coordinator::testing
