// Restart after a crash: the coordinator runs as a child process and is killed with SIGKILL, so
// whatever its writer had queued but not committed is lost, as in a real crash; then an
// in-process coordinator opens the same database file. Everything that was acknowledged must be
// there.
#include "tests/coordinator/coordinator_fixture.h"

namespace sparsescale::coordinator::testing {
namespace {

class RestartTest : public CoordinatorFixture {
 protected:
  void SetUp() override {
    CoordinatorFixture::SetUp();
    StartServerProcess();
  }
};

TEST_F(RestartTest, AcknowledgedPointsAndCheckpointsSurviveAKill) {
  const std::string job_id = Submit(TinySpec(), "s").job().id();
  const std::string w = RegisterWorker("w");
  ASSERT_EQ(Acquire(w).size(), 1u);
  ASSERT_TRUE(Upload(w, job_id, 1, 1000, std::string(10'000, 'k')).ok());
  for (int batch = 0; batch < 20; ++batch) {
    ASSERT_TRUE(Report(w, job_id, 1, MakePoints(1 + 50 * batch, 50)).ok());
  }
  // A large last report, killed the moment it is acknowledged: an answer sent before its
  // COMMIT would lose it.
  ASSERT_TRUE(Report(w, job_id, 1, MakePoints(1001, 60'000)).ok());
  CrashServerProcess();
  StartServer();
  const auto curve = Curve(job_id);
  ASSERT_EQ(curve.size(), 61'000u);
  for (size_t i = 0; i < curve.size(); ++i) {
    ASSERT_EQ(curve[i].step(), static_cast<int64_t>(i) + 1);
  }
  std::string payload;
  ASSERT_TRUE(Download(job_id, 0, &payload).ok());
  EXPECT_EQ(payload, std::string(10'000, 'k'));
  EXPECT_EQ(GetJob(job_id).state(), v1::JOB_STATE_RUNNING);
}

TEST_F(RestartTest, RunningAttemptReattachesByHeartbeatWithinTheGrace) {
  const std::string job_id = Submit(TinySpec(), "s").job().id();
  const std::string w = RegisterWorker("w");
  ASSERT_EQ(Acquire(w).size(), 1u);
  CrashServerProcess();
  options().coordinator.scheduler.restart_grace_ms = 5000;
  StartServer();
  AdvanceClockMs(4000);  // within the grace
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
  CrashServerProcess();
  StartServer();  // restart grace 1000 ms
  AdvanceClockMs(999);
  EXPECT_EQ(GetJob(job_id).state(), v1::JOB_STATE_RUNNING);
  AdvanceClockMs(1);
  EXPECT_EQ(GetJob(job_id).state(), v1::JOB_STATE_QUEUED);
  const auto leases = Acquire(RegisterWorker("new"));
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].attempt(), 2);
  EXPECT_EQ(leases[0].resume_step(), 5);
  EXPECT_EQ(Curve(job_id).size(), 5u);  // points after the checkpoint were superseded
}

TEST_F(RestartTest, QueuedJobsAndIdempotencyRecordsSurvive) {
  const v1::SubmitJobResponse first = Submit(TinySpec(), "s");
  CrashServerProcess();
  StartServer();
  const v1::SubmitJobResponse again = Submit(TinySpec(), "s");
  EXPECT_EQ(again.SerializeAsString(), first.SerializeAsString());
  const auto leases = Acquire(RegisterWorker("w"));
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].job_id(), first.job().id());
}

TEST_F(RestartTest, NewerSchemaIsRefused) {
  CrashServerProcess();
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
