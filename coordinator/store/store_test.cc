#include "coordinator/store/store.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/store/reader_pool.h"
#include "coordinator/store/store_testing.h"
#include "coordinator/store/store_writer.h"
#include "gtest/gtest.h"
#include "sql/migrations.h"

namespace sparsescale::store {
namespace {

class StoreTest : public testing::StoreFileTest {
 protected:
  static JobRow MakeJob(const std::string& id) {
    JobRow job;
    job.id = id;
    job.spec = "spec-bytes-" + id;
    job.total_steps = 100;
    job.device = "cpu";
    job.created_unix_ms = job.updated_unix_ms = 1000;
    return job;
  }

  // Attempt `attempt` of job "j" granted to `worker`, resuming at `resume_step`.
  static GrantRecord GrantOf(int attempt, const std::string& worker, int64_t resume_step) {
    return {.job_id = "j", .attempt = attempt, .worker_id = worker, .resume_step = resume_step};
  }

  // A checkpoint of job "j", attempt 1, 4 bytes, at `step` (before BeginCheckpoint).
  static CheckpointRow CheckpointAt(int64_t step) {
    return {.id = 0,
            .job_id = "j",
            .step = step,
            .attempt = 1,
            .size_bytes = 4,
            .sha256 = "h",
            .chunks = 0,
            .created_unix_ms = 0};
  }

  static std::vector<LossPoint> Points(int64_t first, int64_t last) {
    std::vector<LossPoint> points;
    for (int64_t s = first; s <= last; ++s) {
      LossPoint& p = points.emplace_back();
      p.set_step(s);
      p.set_tokens(s * 128);
      p.set_train_loss(5.0 - 0.01 * static_cast<double>(s));
      if (s % 5 == 0) {
        p.set_eval_loss(5.5 - 0.01 * static_cast<double>(s));
      }
      p.set_sparsity(0.5);
      p.set_lr(1e-3 * static_cast<double>(s) / 3);
      p.set_nonzeros_paper(1000);
      p.set_nonzeros_exact(1100 + s);
      p.set_flops_dense(1e9 * static_cast<double>(s));
      p.set_flops_sparse(5e8 * static_cast<double>(s));
      p.set_wall_s(0.1 * static_cast<double>(s));
    }
    return points;
  }

};

TEST_F(StoreTest, MigrationsApplyToAFreshFileAndRecordTheVersion) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), Store::LatestSchemaVersion());
  EXPECT_GE(Store::LatestSchemaVersion(), 1);
  auto q = store->db()->Prepare("SELECT COUNT(*) FROM schema_version");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(*q->Step());
  EXPECT_EQ(q->Int(0), static_cast<int64_t>(sql::Migrations().size()));
}

TEST_F(StoreTest, ReopeningAnUpToDateDatabaseKeepsItsData) {
  {
    auto store = OpenStore();
    JobRow job = MakeJob("a");
    ASSERT_TRUE(*store->InsertJobIfAbsent(&job));
  }
  auto store = OpenStore();
  auto job = store->FindJob("a");
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(job->has_value());
  EXPECT_EQ((*job)->spec, "spec-bytes-a");
}

TEST_F(StoreTest, JournalIsWal) {
  auto store = OpenStore();
  auto q = store->db()->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(*q->Step());
  EXPECT_EQ(q->Text(0), "wal");
}

TEST_F(StoreTest, NewerSchemaIsRefusedWithAClearMessage) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->db()
                    ->Exec("INSERT INTO schema_version (version, name, applied_unix_ms) "
                           "VALUES (999, 'future.sql', 0)")
                    .ok());
  }
  auto store = Store::Open(path_, StoreOptions{});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("schema version 999"), std::string::npos)
      << store.status();
  EXPECT_NE(store.status().message().find("newer"), std::string::npos);
}

TEST_F(StoreTest, InsertJobIfAbsentCreatesEachContentAddressOnce) {
  auto store = OpenStore();
  JobRow first = MakeJob("cell");
  JobRow again = MakeJob("cell");
  EXPECT_TRUE(*store->InsertJobIfAbsent(&first));
  EXPECT_FALSE(*store->InsertJobIfAbsent(&again));
  EXPECT_EQ(first.seq, again.seq);
  auto counts = store->CountJobsByState("");
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[JobState::kQueued], 1);
}

TEST_F(StoreTest, TransactionRollsBackUnlessCommitted) {
  auto store = OpenStore();
  {
    auto txn = Transaction::Begin(store->db());
    ASSERT_TRUE(txn.ok());
    JobRow job = MakeJob("doomed");
    ASSERT_TRUE(store->InsertJobIfAbsent(&job).ok());
  }
  store->InvalidateCaches();
  EXPECT_FALSE(store->FindJob("doomed")->has_value());
}

TEST_F(StoreTest, PointBatchesRoundTripInStepOrder) {
  auto store = OpenStore();
  JobRow job = MakeJob("j");
  ASSERT_TRUE(store->InsertJobIfAbsent(&job).ok());
  ASSERT_TRUE(store->RecordGrant(GrantOf(1, "w", 0), 2000).ok());
  EXPECT_EQ(*store->InsertPoints("j", 1, Points(1, 10), 2000), 10);
  EXPECT_EQ(*store->InsertPoints("j", 1, Points(11, 25), 2000), 15);
  auto curve = store->ReadCurve("j");
  ASSERT_TRUE(curve.ok());
  const std::vector<LossPoint> expected = Points(1, 25);
  ASSERT_EQ(curve->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    // Every field, bit for bit, and an absent eval loss stays absent.
    EXPECT_EQ((*curve)[i].SerializeAsString(), expected[i].SerializeAsString()) << "step " << i + 1;
  }
  EXPECT_EQ(*store->LossPointsStored(), 25);
  auto stored = store->FindJob("j");
  EXPECT_EQ((*stored)->step, 25);
  EXPECT_EQ((*stored)->last_eval_loss, expected[24].eval_loss());
}

TEST_F(StoreTest, RepeatedBatchFromTheSameAttemptIsIgnored) {
  auto store = OpenStore();
  JobRow job = MakeJob("j");
  ASSERT_TRUE(store->InsertJobIfAbsent(&job).ok());
  EXPECT_EQ(*store->InsertPoints("j", 1, Points(1, 10), 2000), 10);
  EXPECT_EQ(*store->InsertPoints("j", 1, Points(1, 10), 2000), 0);
  EXPECT_EQ(store->ReadCurve("j")->size(), 10u);
  EXPECT_EQ(*store->LossPointsStored(), 10);
}

TEST_F(StoreTest, RetriedReportBatchedDifferentlyAddsOnlyNewSteps) {
  auto store = OpenStore();
  JobRow job = MakeJob("j");
  ASSERT_TRUE(store->InsertJobIfAbsent(&job).ok());
  EXPECT_EQ(*store->InsertPoints("j", 1, Points(1, 10), 2000), 10);
  EXPECT_EQ(*store->InsertPoints("j", 1, Points(1, 15), 2000), 5);
  EXPECT_EQ(*store->InsertPoints("j", 1, Points(12, 20), 2000), 5);
  auto curve = store->ReadCurve("j");
  ASSERT_EQ(curve->size(), 20u);
  for (size_t i = 0; i < curve->size(); ++i) {
    EXPECT_EQ((*curve)[i].step(), static_cast<int64_t>(i) + 1);
  }
  EXPECT_EQ(*store->LossPointsStored(), 20);
  EXPECT_EQ(store->ReadCurve("j", 14, 3)->front().step(), 15);
  EXPECT_EQ(store->ReadCurve("j", 14, 3)->size(), 3u);
  EXPECT_EQ((*store->ReadLastPoint("j"))->step(), 20);
}

TEST_F(StoreTest, RetriedReportAroundAStoredBatchIsStoredInDisjointRuns) {
  auto store = OpenStore();
  JobRow job = MakeJob("j");
  ASSERT_TRUE(store->InsertJobIfAbsent(&job).ok());
  EXPECT_EQ(*store->InsertPoints("j", 1, Points(11, 20), 2000), 10);
  // Steps 5-10 and 21-25 are new; stored as one batch spanning 5-25 it would hide 11-20 from
  // the one-probe overlap check of a later report inside 21-25.
  EXPECT_EQ(*store->InsertPoints("j", 1, Points(5, 25), 2000), 11);
  EXPECT_EQ(*store->InsertPoints("j", 1, Points(22, 23), 2000), 0);
  EXPECT_EQ(*store->InsertPoints("j", 1, Points(6, 8), 2000), 0);
  EXPECT_EQ(*store->InsertPoints("j", 1, Points(24, 30), 2000), 5);
  auto curve = store->ReadCurve("j");
  ASSERT_EQ(curve->size(), 26u);
  for (size_t i = 0; i < curve->size(); ++i) {
    EXPECT_EQ((*curve)[i].step(), static_cast<int64_t>(i) + 5);
  }
  EXPECT_EQ(*store->LossPointsStored(), 26);
  // An old report retried late does not move the job's last loss back.
  EXPECT_EQ(*store->InsertPoints("j", 1, Points(1, 4), 2000), 4);
  auto stored = store->FindJob("j");
  EXPECT_EQ((*stored)->step, 30);
  EXPECT_DOUBLE_EQ((*stored)->last_train_loss, Points(30, 30)[0].train_loss());
}

TEST_F(StoreTest, WriterRewindsTheWalPastItsBoundAndKeepsEveryPoint) {
  auto opened = OpenStore();
  ASSERT_NE(opened, nullptr);
  JobRow job = MakeJob("j");
  ASSERT_TRUE(opened->InsertJobIfAbsent(&job).ok());
  StoreWriterOptions options;
  options.wal_restart_bytes = 256 << 10;
  StoreWriter writer(std::move(opened), options);
  constexpr int kBatches = 200;
  constexpr int kPerBatch = 100;
  for (int b = 0; b < kBatches; ++b) {
    const int64_t first = int64_t{b} * kPerBatch + 1;
    ASSERT_TRUE(writer
                    .RunSync([first](Store& store) {
                      return store.InsertPoints("j", 1, Points(first, first + kPerBatch - 1), 2000)
                          .status();
                    })
                    .ok());
  }
  // Without rewinds the WAL would hold every commit (several MiB); with them it stays near
  // its bound.
  EXPECT_GE(writer.stats().wal_restarts, 3);
  EXPECT_LT(std::filesystem::file_size(path_ + "-wal"), uintmax_t{1} << 20);
  ReaderPool readers(path_, StoreOptions{}, 1);
  auto reader = readers.Acquire();
  ASSERT_TRUE(reader.ok());
  auto curve = (*reader)->ReadCurve("j");
  ASSERT_TRUE(curve.ok());
  ASSERT_EQ(curve->size(), static_cast<size_t>(kBatches * kPerBatch));
  EXPECT_EQ(curve->back().step(), int64_t{kBatches} * kPerBatch);
}

TEST_F(StoreTest, RequeueSupersedesPointsAfterTheCheckpointLeavingOneCleanCurve) {
  auto store = OpenStore();
  JobRow job = MakeJob("j");
  ASSERT_TRUE(store->InsertJobIfAbsent(&job).ok());
  ASSERT_TRUE(store->RecordGrant(GrantOf(1, "w1", 0), 2000).ok());
  ASSERT_TRUE(store->InsertPoints("j", 1, Points(1, 30), 2000).ok());
  AttemptEndRecord end;
  end.job_id = "j";
  end.attempt = 1;
  end.state = JobState::kQueued;
  end.outcome = JobState::kFailed;
  end.failure = FailureClass::kInfra;
  end.infra_failures = 1;
  end.checkpoint_step = 20;
  ASSERT_TRUE(store->RecordAttemptEnd(end, 3000).ok());
  EXPECT_EQ(store->ReadCurve("j")->size(), 20u);
  EXPECT_EQ(*store->LossPointsStored(), 20);
  EXPECT_EQ((*store->FindJob("j"))->step, 20);
  ASSERT_TRUE(store->RecordGrant(GrantOf(2, "w2", 20), 4000).ok());
  ASSERT_TRUE(store->InsertPoints("j", 2, Points(21, 40), 4000).ok());
  auto curve = store->ReadCurve("j");
  ASSERT_EQ(curve->size(), 40u);
  for (size_t i = 0; i < curve->size(); ++i) {
    EXPECT_EQ((*curve)[i].step(), static_cast<int64_t>(i) + 1);
  }
  EXPECT_EQ(*store->LossPointsStored(), 40);
  EXPECT_EQ(*store->CountCurvePoints("j"), 40);
}

TEST_F(StoreTest, CheckpointCommitReplacesSameStepAndKeepsTheNewestTwo) {
  auto store = OpenStore();
  JobRow job = MakeJob("j");
  ASSERT_TRUE(store->InsertJobIfAbsent(&job).ok());
  auto upload = [&](int64_t step, const std::string& payload) {
    const CheckpointRow meta{.id = 0,
                             .job_id = "j",
                             .step = step,
                             .attempt = 1,
                             .size_bytes = static_cast<int64_t>(payload.size()),
                             .sha256 = "hash",
                             .chunks = 0,
                             .created_unix_ms = 0};
    auto id = store->BeginCheckpoint(meta, 1000);
    EXPECT_TRUE(id.ok());
    EXPECT_TRUE(store->AppendCheckpointChunk(*id, 0, payload.substr(0, 2)).ok());
    EXPECT_TRUE(store->AppendCheckpointChunk(*id, 1, payload.substr(2)).ok());
    EXPECT_TRUE(store->CommitCheckpoint(*id).ok());
    return *id;
  };
  upload(10, "aaaa");
  upload(20, "bbbb");
  const int64_t replaced = upload(20, "cccc");
  upload(30, "dddd");
  auto list = store->ListCheckpoints("j");
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].step, 20);
  EXPECT_EQ((*list)[0].id, replaced);
  EXPECT_EQ((*list)[1].step, 30);
  EXPECT_EQ((*list)[1].chunks, 2);
  auto latest = store->FindCheckpoint("j", 0);
  EXPECT_EQ((*latest)->step, 30);
  EXPECT_EQ(**store->ReadCheckpointChunk((*latest)->id, 1), "dd");
  EXPECT_EQ((*store->FindJob("j"))->checkpoint_step, 30);
}

TEST_F(StoreTest, AbortedUploadLeavesThePreviousCheckpointUsable) {
  auto store = OpenStore();
  JobRow job = MakeJob("j");
  ASSERT_TRUE(store->InsertJobIfAbsent(&job).ok());
  auto good = store->BeginCheckpoint(CheckpointAt(10), 1000);
  ASSERT_TRUE(store->AppendCheckpointChunk(*good, 0, "good").ok());
  ASSERT_TRUE(store->CommitCheckpoint(*good).ok());
  auto bad = store->BeginCheckpoint(CheckpointAt(20), 1000);
  ASSERT_TRUE(store->AppendCheckpointChunk(*bad, 0, "ba").ok());
  EXPECT_EQ((*store->FindCheckpoint("j", 0))->step, 10);  // staged rows are never served
  ASSERT_TRUE(store->AbortCheckpoint(*bad).ok());
  auto latest = store->FindCheckpoint("j", 0);
  EXPECT_EQ((*latest)->id, *good);
  EXPECT_EQ(**store->ReadCheckpointChunk(*good, 0), "good");
  EXPECT_FALSE(store->ReadCheckpointChunk(*bad, 0)->has_value());
}

TEST_F(StoreTest, RequestLedgerReturnsTheStoredAnswer) {
  auto store = OpenStore();
  ASSERT_TRUE(store->InsertRequest("r1", "fp", "answer", 1000).ok());
  auto found = store->FindRequest("r1");
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->response, "answer");
  EXPECT_FALSE(store->FindRequest("r2")->has_value());
  EXPECT_EQ(store->InsertRequest("r1", "fp", "other", 1000).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(StoreTest, WriterGroupsConcurrentOperationsAndIsolatesAFailingOne) {
  auto opened = OpenStore();
  ASSERT_NE(opened, nullptr);
  StoreWriter writer(std::move(opened), StoreWriterOptions{});
  constexpr int kOps = 200;
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOps / 4; ++i) {
        const std::string id = "job-" + std::to_string(t) + "-" + std::to_string(i);
        const bool fail = (i == 7);
        writer.Submit(
            [id, fail](Store& store) -> absl::Status {
              JobRow job = MakeJob(id);
              auto created = store.InsertJobIfAbsent(&job);
              if (!created.ok()) {
                return created.status();
              }
              return fail ? absl::InternalError("injected") : absl::OkStatus();
            },
            [&](absl::Status status) { (status.ok() ? ok : failed)++; });
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  ASSERT_TRUE(writer.RunSync([](Store&) { return absl::OkStatus(); }).ok());
  EXPECT_EQ(ok.load(), kOps - 4);
  EXPECT_EQ(failed.load(), 4);
  EXPECT_LE(writer.stats().commits, writer.stats().ops);
  ReaderPool readers(path_, StoreOptions{}, 2);
  auto reader = readers.Acquire();
  ASSERT_TRUE(reader.ok());
  auto counts = (*reader)->CountJobsByState("");
  EXPECT_EQ((*counts)[JobState::kQueued], kOps - 4);
  EXPECT_FALSE((*reader)->FindJob("job-0-7")->has_value());
  EXPECT_TRUE((*reader)->FindJob("job-0-8")->has_value());
}

}  // namespace
}  // namespace sparsescale::store
