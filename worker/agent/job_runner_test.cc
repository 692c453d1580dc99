#include "worker/agent/job_runner.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "worker/agent/fake_worker_rpc_for_test.h"

namespace sparsescale::agent {
namespace {

namespace fs = std::filesystem;

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           absl::StrCat("job_runner_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    options_.worker_exe = AGENT_FAKE_JOB;
    options_.work_dir = dir_.string();
    options_.points_max_delay = std::chrono::milliseconds(20);
    options_.poll_interval = std::chrono::milliseconds(10);
    options_.retry_initial = std::chrono::milliseconds(1);
    options_.retry_max = std::chrono::milliseconds(5);
    options_.finish_budget = std::chrono::milliseconds(5000);
  }
  void TearDown() override { fs::remove_all(dir_); }

  v1::Lease Lease(const std::string& script, int64_t resume_step = 0) {
    v1::Lease lease;
    lease.set_job_id("job1");
    lease.set_attempt(2);
    lease.mutable_spec()->set_name(script);
    lease.set_resume_step(resume_step);
    return lease;
  }

  JobRunner MakeRunner(const v1::Lease& lease) {
    return JobRunner(lease, options_, &rpc_, [] { return std::string("w1"); });
  }

  static std::vector<int64_t> Range(int64_t first, int64_t last) {
    std::vector<int64_t> steps;
    for (int64_t s = first; s <= last; ++s) {
      steps.push_back(s);
    }
    return steps;
  }

  fs::path dir_;
  JobRunnerOptions options_;
  FakeWorkerRpc rpc_;
};

TEST_F(JobRunnerTest, SuccessfulJobReportsEveryPointOnceAndAllCheckpoints) {
  JobRunner runner = MakeRunner(Lease("steps=20 ckpt=5"));
  EXPECT_EQ(runner.Run(), JobEnd::kSucceeded);
  EXPECT_EQ(rpc_.PointSteps("job1"), Range(1, 20));
  auto ckpts = rpc_.Checkpoints("job1");
  ASSERT_EQ(ckpts.size(), 4u);
  EXPECT_EQ(ckpts[15], "step=15");
  auto done = rpc_.completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].outcome(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(done[0].attempt(), 2);
  EXPECT_EQ(done[0].steps(), 20);
  EXPECT_DOUBLE_EQ(done[0].final_eval_loss(), 0.6);
  // Job files are cleaned up; the log and spec stay.
  EXPECT_FALSE(fs::exists(dir_ / "jobs/job1/a2/ckpt"));
  EXPECT_TRUE(fs::exists(dir_ / "jobs/job1/a2/spec.json"));
}

TEST_F(JobRunnerTest, CheckpointIsUploadedOnlyAfterThePointsUpToItsStep) {
  JobRunner runner = MakeRunner(Lease("steps=12 ckpt=3"));
  ASSERT_EQ(runner.Run(), JobEnd::kSucceeded);
  int64_t acked = 0;
  for (const auto& call : rpc_.calls()) {
    if (call.method == "points") {
      acked = call.step;
    } else if (call.method == "checkpoint") {
      EXPECT_GE(acked, call.step) << "checkpoint " << call.step << " before its points";
    }
  }
}

TEST_F(JobRunnerTest, TransientReportFailuresAreRetriedWithoutLossOrDuplicates) {
  rpc_.FailReports({absl::UnavailableError("down"), absl::UnavailableError("down"),
                    absl::DeadlineExceededError("slow")});
  rpc_.FailUploads({absl::UnavailableError("down")});
  JobRunner runner = MakeRunner(Lease("steps=15 ckpt=5"));
  EXPECT_EQ(runner.Run(), JobEnd::kSucceeded);
  EXPECT_EQ(rpc_.PointSteps("job1"), Range(1, 15));
  EXPECT_EQ(rpc_.Checkpoints("job1").size(), 3u);
}

TEST_F(JobRunnerTest, ResumeDownloadsTheCheckpointAndContinuesAfterIt) {
  rpc_.StoreCheckpoint("job1", 10, "step=10");
  rpc_.DamageDownloads(1);  // The first transfer arrives corrupted and is retried.
  JobRunner runner = MakeRunner(Lease("steps=16 ckpt=4", /*resume_step=*/10));
  EXPECT_EQ(runner.Run(), JobEnd::kSucceeded);
  // A damaged copy kept would resume after step 11: only the SHA-256 check catches it.
  EXPECT_EQ(rpc_.PointSteps("job1"), Range(11, 16));
  int downloads = 0;
  for (const auto& call : rpc_.calls()) {
    downloads += call.method == "download" ? 1 : 0;
  }
  EXPECT_EQ(downloads, 2);
}

TEST_F(JobRunnerTest, TrainerErrorIsReportedAsTheJobsOwnFailure) {
  JobRunner runner = MakeRunner(Lease("steps=10 fail_at=5"));
  EXPECT_EQ(runner.Run(), JobEnd::kFailed);
  EXPECT_EQ(rpc_.PointSteps("job1"), Range(1, 4));
  auto done = rpc_.completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].outcome(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(done[0].failure(), v1::FAILURE_CLASS_JOB);
  EXPECT_NE(done[0].error().find("diverged"), std::string::npos);
}

TEST_F(JobRunnerTest, CrashedJobProcessIsAnInfrastructureFailure) {
  JobRunner runner = MakeRunner(Lease("steps=10 crash_at=3"));
  EXPECT_EQ(runner.Run(), JobEnd::kFailed);
  auto done = rpc_.completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].failure(), v1::FAILURE_CLASS_INFRA);
  EXPECT_NE(done[0].error().find("signal"), std::string::npos);
}

TEST_F(JobRunnerTest, MalformedEventFailsTheJob) {
  JobRunner runner = MakeRunner(Lease("steps=10 garbage_at=2"));
  EXPECT_EQ(runner.Run(), JobEnd::kFailed);
  auto done = rpc_.completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].failure(), v1::FAILURE_CLASS_JOB);
  EXPECT_NE(done[0].error().find("not a JSON object"), std::string::npos);
}

TEST_F(JobRunnerTest, CancelKillsTheJobAndReportsCancelled) {
  JobRunner runner = MakeRunner(Lease("steps=100000 sleep_ms=5"));
  JobEnd end;
  std::thread t([&] { end = runner.Run(); });
  ASSERT_TRUE(rpc_.WaitForPoints("job1", 1, absl::Seconds(20)));
  auto start = std::chrono::steady_clock::now();
  runner.Order(JobOrder::kCancel);
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(end, JobEnd::kCancelled);
  ASSERT_EQ(rpc_.completions().size(), 1u);
  EXPECT_EQ(rpc_.completions()[0].outcome(), v1::JOB_STATE_CANCELLED);
}

TEST_F(JobRunnerTest, DrainCheckpointsUploadsAndReleasesTheLease) {
  JobRunner runner = MakeRunner(Lease("steps=100000 sleep_ms=2 ckpt=1000000"));
  JobEnd end;
  std::thread t([&] { end = runner.Run(); });
  ASSERT_TRUE(rpc_.WaitForPoints("job1", 3, absl::Seconds(20)));
  runner.Order(JobOrder::kDrain);
  t.join();
  EXPECT_EQ(end, JobEnd::kReleased);
  std::vector<int64_t> steps = rpc_.PointSteps("job1");
  auto ckpts = rpc_.Checkpoints("job1");
  ASSERT_EQ(ckpts.size(), 1u);
  // The stop checkpoint is at the last reported step: a resume continues without a gap.
  EXPECT_EQ(ckpts.begin()->first, steps.back());
  EXPECT_EQ(steps, Range(1, steps.back()));
  ASSERT_EQ(rpc_.completions().size(), 1u);
  EXPECT_EQ(rpc_.completions()[0].outcome(), v1::JOB_STATE_QUEUED);
}

TEST_F(JobRunnerTest, AbandonKillsTheJobAndReportsNothingMore) {
  JobRunner runner = MakeRunner(Lease("steps=100000 sleep_ms=5"));
  JobEnd end;
  std::thread t([&] { end = runner.Run(); });
  ASSERT_TRUE(rpc_.WaitForPoints("job1", 1, absl::Seconds(20)));
  runner.Order(JobOrder::kAbandon);
  t.join();
  EXPECT_EQ(end, JobEnd::kAbandoned);
  EXPECT_TRUE(rpc_.completions().empty());
}

TEST_F(JobRunnerTest, RejectedAttemptStopsTheJobWithoutCompleting) {
  rpc_.FailReports({absl::FailedPreconditionError("attempt 2 is stale (current 3)")});
  JobRunner runner = MakeRunner(Lease("steps=100000 sleep_ms=5"));
  EXPECT_EQ(runner.Run(), JobEnd::kLeaseLost);
  EXPECT_TRUE(rpc_.completions().empty());
}

TEST_F(JobRunnerTest, ProgressFollowsTheJob) {
  JobRunner runner = MakeRunner(Lease("steps=8", /*resume_step=*/0));
  EXPECT_EQ(runner.Progress().step(), 0);
  ASSERT_EQ(runner.Run(), JobEnd::kSucceeded);
  v1::LeaseProgress p = runner.Progress();
  EXPECT_EQ(p.job_id(), "job1");
  EXPECT_EQ(p.attempt(), 2);
  EXPECT_EQ(p.step(), 8);
  EXPECT_EQ(p.tokens(), 8 * 64);
}

// The fake job's stderr for steps first..last ("fake job: step N" lines).
std::string StepLines(int first, int last) {
  std::string text;
  for (int s = first; s <= last; ++s) {
    text += absl::StrCat("fake job: step ", s, "\n");
  }
  return text;
}

TEST_F(JobRunnerTest, JobLogReachesTheCoordinatorBeforeTheCompletion) {
  JobRunner runner = MakeRunner(Lease("steps=6"));
  ASSERT_EQ(runner.Run(), JobEnd::kSucceeded);
  EXPECT_EQ(rpc_.LogAtCompletion("job1", 2), StepLines(1, 6));
}

TEST_F(JobRunnerTest, FailedJobSendsItsLastLinesBeforeReportingTheFailure) {
  JobRunner runner = MakeRunner(Lease("steps=10 fail_at=4"));
  ASSERT_EQ(runner.Run(), JobEnd::kFailed);
  EXPECT_EQ(rpc_.Log("job1", 2), StepLines(1, 4) + "fake job: diverged at step 4\n");
}

TEST_F(JobRunnerTest, LogChunkRetriedAfterAnUnreachableCoordinatorIsSentFromItsOffset) {
  rpc_.FailLogs({absl::UnavailableError("down"), absl::UnavailableError("down")});
  JobRunner runner = MakeRunner(Lease("steps=5 sleep_ms=5"));
  ASSERT_EQ(runner.Run(), JobEnd::kSucceeded);
  EXPECT_EQ(rpc_.Log("job1", 2), StepLines(1, 5));
  EXPECT_EQ(rpc_.resent_log_bytes(), 0);
}

TEST_F(JobRunnerTest, ACoordinatorWithoutLogsStillGetsTheJobsResults) {
  rpc_.FailLogs({absl::UnimplementedError("ReportLogs")});
  JobRunner runner = MakeRunner(Lease("steps=5"));
  ASSERT_EQ(runner.Run(), JobEnd::kSucceeded);
  EXPECT_EQ(rpc_.PointSteps("job1"), Range(1, 5));
  EXPECT_EQ(rpc_.Log("job1", 2), "");
}

// Every member worker of a multi-node gang ends its own share of one attempt: their CompleteJob
// calls must not share a request id, or the coordinator answers all but the first ALREADY_EXISTS.
TEST(AttemptEndRequestIdTest, GangMembersGetTheirOwnIdAndRankZeroKeepsTheOneWorkerId) {
  v1::Lease lease;
  lease.set_job_id("j");
  lease.set_attempt(3);
  lease.set_world_size(4);
  lease.set_rank_count(2);
  EXPECT_EQ(AttemptEndRequestId("complete", lease), "complete-j-3");
  lease.set_rank(2);
  EXPECT_EQ(AttemptEndRequestId("complete", lease), "complete-j-3-r2");
  EXPECT_EQ(AttemptEndRequestId("release", lease), "release-j-3-r2");
}

}  // namespace
}  // namespace sparsescale::agent
