// The store's lifecycle operations on a real SQLite file: retry, priority, delete, page reuse.
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "coordinator/store/store.h"
#include "coordinator/store/store_testing.h"
#include "gtest/gtest.h"

namespace sparsescale::store {
namespace {

class StoreLifecycleTest : public testing::OpenStoreTest {
 protected:
  // Job `id`, inserted queued, granted (attempt 1) and given `steps` points.
  void AddRunningJob(const std::string& id, int64_t steps, const std::string& sweep_id = "") {
    JobRow job;
    job.id = id;
    job.sweep_id = sweep_id;
    job.spec = "spec-bytes-" + id;
    job.total_steps = steps;
    job.device = "cpu";
    ASSERT_TRUE(store_->InsertJobIfAbsent(&job).ok());
    if (!sweep_id.empty()) {
      ASSERT_TRUE(store_->AddSweepJob(sweep_id, job.seq).ok());
    }
    GrantRecord grant;
    grant.job_id = id;
    grant.attempt = 1;
    grant.worker_id = "w";
    ASSERT_TRUE(store_->RecordGrant(grant, 1).ok());
    std::vector<LossPoint> points(static_cast<size_t>(steps));
    for (int64_t s = 1; s <= steps; ++s) {
      points[static_cast<size_t>(s - 1)].set_step(s);
      points[static_cast<size_t>(s - 1)].set_train_loss(4.0);
    }
    ASSERT_TRUE(store_->InsertPoints(id, 1, points, 2).ok());
  }

  void End(const std::string& id, JobState state) {
    const bool failed = state == JobState::kFailed;
    AttemptEndRecord end;
    end.job_id = id;
    end.attempt = 1;
    end.state = state;
    end.outcome = state;
    end.failure = failed ? FailureClass::kJob : FailureClass::kNone;
    end.error = failed ? "boom" : "";
    end.job_failures = failed ? 1 : 0;
    ASSERT_TRUE(store_->RecordAttemptEnd(end, 3).ok());
  }

  // A complete checkpoint of `bytes` bytes at `step`.
  void AddCheckpoint(const std::string& id, int64_t step, size_t bytes) {
    const std::string payload(bytes, 'x');
    CheckpointRow meta;
    meta.job_id = id;
    meta.step = step;
    meta.attempt = 1;
    meta.size_bytes = static_cast<int64_t>(bytes);
    meta.sha256 = "h";
    auto cp = store_->BeginCheckpoint(meta, 4);
    ASSERT_TRUE(cp.ok()) << cp.status();
    ASSERT_TRUE(store_->AppendCheckpointChunk(*cp, 0, payload).ok());
    ASSERT_TRUE(store_->CommitCheckpoint(*cp).ok());
  }

  int64_t Rows(const std::string& sql) {
    auto q = store_->db()->Prepare(sql);
    EXPECT_TRUE(q.ok());
    EXPECT_TRUE(*q->Step());
    return q->Int(0);
  }
};

TEST_F(StoreLifecycleTest,
       RequeueingAFailedJobResetsItsBudgetAndSupersedesPointsAfterTheCheckpoint) {
  AddRunningJob("j", 20);
  AddCheckpoint("j", 10, 16);
  End("j", JobState::kFailed);
  auto row = store_->RequeueFinalJob("j", 9);
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_EQ(row->state, JobState::kQueued);
  EXPECT_EQ(row->job_failures, 0);
  EXPECT_EQ(row->error, "");
  EXPECT_EQ(row->attempt, 1);  // the fencing token carries on
  EXPECT_EQ(row->step, 10);
  auto curve = store_->ReadCurve("j");
  ASSERT_TRUE(curve.ok());
  EXPECT_EQ(curve->size(), 10u);
  EXPECT_EQ(*store_->LossPointsStored(), 10);
}

TEST_F(StoreLifecycleTest, RequeueingAJobThatIsNotFailedOrCancelledNamesItsState) {
  AddRunningJob("j", 3);
  const absl::Status running = store_->RequeueFinalJob("j", 9).status();
  EXPECT_EQ(running.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(running.message().find("is running"), std::string::npos) << running;
  End("j", JobState::kSucceeded);
  const absl::Status done = store_->RequeueFinalJob("j", 9).status();
  EXPECT_NE(done.message().find("is succeeded"), std::string::npos) << done;
  EXPECT_EQ(store_->RequeueFinalJob("nope", 9).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreLifecycleTest, PriorityChangesOnlyWhileQueued) {
  JobRow job;
  job.id = "q";
  job.spec = "s";
  job.device = "cpu";
  ASSERT_TRUE(store_->InsertJobIfAbsent(&job).ok());
  ASSERT_TRUE(store_->SetQueuedJobPriority("q", 7, 5).ok());
  EXPECT_EQ((*store_->FindJob("q"))->priority, 7);
  AddRunningJob("r", 2);
  EXPECT_EQ(store_->SetQueuedJobPriority("r", 7, 5).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(StoreLifecycleTest, DeletingAFinalJobRemovesEveryRowThatRefersToIt) {
  AddRunningJob("gone", 50);
  AddCheckpoint("gone", 25, 1000);
  ASSERT_TRUE(store_->AppendLog("gone", 1, 0, "step 1/50\n", 1 << 20).ok());
  End("gone", JobState::kCancelled);
  AddRunningJob("kept", 5);
  ASSERT_TRUE(store_->AppendLog("kept", 1, 0, "step 1/5\n", 1 << 20).ok());
  ASSERT_TRUE(store_->DeleteFinalJob("gone").ok());
  EXPECT_FALSE(store_->FindJob("gone")->has_value());
  EXPECT_EQ(Rows("SELECT COUNT(*) FROM loss_batches WHERE job_seq NOT IN (SELECT seq FROM jobs)"),
            0);
  EXPECT_EQ(Rows("SELECT COUNT(*) FROM checkpoints"), 0);
  EXPECT_EQ(Rows("SELECT COUNT(*) FROM checkpoint_chunks"), 0);
  EXPECT_EQ(Rows("SELECT COUNT(*) FROM attempts WHERE job_seq NOT IN (SELECT seq FROM jobs)"), 0);
  EXPECT_EQ(Rows("SELECT COUNT(*) FROM events WHERE job_id = 'gone'"), 0);
  EXPECT_EQ(Rows("SELECT COUNT(*) FROM job_logs"), 1);  // "kept"'s
  EXPECT_EQ(*store_->LossPointsStored(), 5);
  EXPECT_EQ(store_->ReadCurve("kept")->size(), 5u);
}

TEST_F(StoreLifecycleTest, DeletingAnActiveJobIsRefusedAndKeepsIt) {
  AddRunningJob("j", 3);
  const absl::Status status = store_->DeleteFinalJob("j");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("is running"), std::string::npos) << status;
  EXPECT_EQ(store_->ReadCurve("j")->size(), 3u);
}

TEST_F(StoreLifecycleTest, AJobDeletedAndSubmittedAgainStartsFromAnEmptyCurve) {
  AddRunningJob("j", 8);
  End("j", JobState::kSucceeded);
  ASSERT_TRUE(store_->DeleteFinalJob("j").ok());
  JobRow again;
  again.id = "j";
  again.spec = "s";
  again.device = "cpu";
  auto created = store_->InsertJobIfAbsent(&again);
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(*created);
  EXPECT_TRUE(store_->ReadCurve("j")->empty());
}

TEST_F(StoreLifecycleTest, FreedPagesAreReusedSoTheFileDoesNotGrowAfterDeleteAndReinsert) {
  for (int i = 0; i < 4; ++i) {
    AddRunningJob("old-" + std::to_string(i), 2000);
    AddCheckpoint("old-" + std::to_string(i), 1000, 256 * 1024);
    End("old-" + std::to_string(i), JobState::kSucceeded);
  }
  const int64_t pages_full = *store_->PageCount();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(store_->DeleteFinalJob("old-" + std::to_string(i)).ok());
  }
  EXPECT_GT(*store_->FreePages(), pages_full / 2);
  for (int i = 0; i < 4; ++i) {
    AddRunningJob("new-" + std::to_string(i), 2000);
    AddCheckpoint("new-" + std::to_string(i), 1000, 256 * 1024);
  }
  // The same amount of data fits into the pages the delete freed.
  EXPECT_LE(*store_->PageCount(), pages_full);
}

TEST_F(StoreLifecycleTest, DeletingASweepKeepsCellsAnotherSweepStillAsksFor) {
  for (const char* id : {"s1", "s2"}) {
    SweepRow sweep;
    sweep.id = id;
    ASSERT_TRUE(store_->InsertSweepIfAbsent(sweep).ok());
  }
  AddRunningJob("only-s1", 4, "s1");
  AddRunningJob("shared", 4, "s1");
  ASSERT_TRUE(store_->AddSweepJob("s2", *store_->JobSeq("shared")).ok());
  End("only-s1", JobState::kSucceeded);
  const absl::Status refused = store_->DeleteFinalSweep("s1").status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("shared is running"), std::string::npos) << refused;
  EXPECT_TRUE(store_->FindSweep("s1")->has_value());
  End("shared", JobState::kFailed);
  auto deleted = store_->DeleteFinalSweep("s1");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, std::vector<std::string>{"only-s1"});
  EXPECT_FALSE(store_->FindSweep("s1")->has_value());
  EXPECT_TRUE(store_->FindJob("shared")->has_value());
  EXPECT_EQ(*store_->SweepJobIds("s2"), std::vector<std::string>{"shared"});
  EXPECT_EQ(store_->DeleteFinalSweep("s1").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sparsescale::store
