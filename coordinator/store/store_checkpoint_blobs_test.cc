// Checkpoint payloads in the content-addressed blob directory (StoreOptions::checkpoint_dir) and
// the per-sweep checkpoint retention, on a real SQLite file and a real directory.
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/sha256.h"
#include "common/status.h"
#include "coordinator/store/store.h"
#include "coordinator/store/store_testing.h"
#include "coordinator/store/store_writer.h"
#include "gtest/gtest.h"

namespace sparsescale::store {
namespace {

namespace fs = std::filesystem;

using testing::CheckpointMetaOf;

class CheckpointBlobTest : public testing::StoreFileTest {
 protected:
  void SetUp() override {
    StoreFileTest::SetUp();
    blob_dir_ = dir_ + "/checkpoints";
    StoreOptions options;
    options.checkpoint_dir = blob_dir_;
    store_ = OpenStore(options);
    ASSERT_NE(store_, nullptr);
    AddJob("j");
  }
  void TearDown() override {
    store_.reset();
    StoreFileTest::TearDown();
  }

  void AddJob(const std::string& id) {
    JobRow job;
    job.id = id;
    job.spec = "spec-" + id;
    job.total_steps = 100;
    job.device = "cpu";
    ASSERT_TRUE(store_->InsertJobIfAbsent(&job).ok());
  }

  // Uploads `payload` in two chunks as job `job`'s checkpoint at `step` and commits it.
  int64_t Upload(const std::string& job, int64_t step, const std::string& payload) {
    const CheckpointRow meta = CheckpointMetaOf(job, step, payload);
    auto id = store_->BeginCheckpoint(meta, 1000);
    EXPECT_TRUE(id.ok()) << id.status();
    const size_t half = payload.size() / 2;
    EXPECT_TRUE(store_->AppendCheckpointChunk(*id, 0, payload.substr(0, half)).ok());
    EXPECT_TRUE(store_->AppendCheckpointChunk(*id, 1, payload.substr(half)).ok());
    absl::Status committed = store_->CommitCheckpoint(*id);
    EXPECT_TRUE(committed.ok()) << committed;
    return *id;
  }

  std::string FileOf(const std::string& payload) const {
    return testing::BlobFileOf(blob_dir_, payload);
  }
  int CountFiles() const { return testing::CountBlobFiles(blob_dir_); }

  int64_t CountChunkRows() {
    auto q = store_->db()->Prepare("SELECT COUNT(*) FROM checkpoint_chunks");
    EXPECT_TRUE(q.ok());
    EXPECT_TRUE(*q->Step());
    return q->Int(0);
  }

  std::string ReadAll(const CheckpointRow& row) {
    auto file = store_->OpenCheckpointFile(row);
    EXPECT_TRUE(file.ok()) << file.status();
    if (!file.ok()) {
      return "";
    }
    auto bytes = (*file)->ReadAt(0, row.size_bytes + 10);
    return bytes.ok() ? *bytes : "";
  }

  std::string blob_dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(CheckpointBlobTest, UploadBecomesOneVerifiedFileAndNoChunkRows) {
  const std::string payload(300'000, 'x');
  Upload("j", 10, payload);
  EXPECT_TRUE(fs::exists(FileOf(payload)));
  EXPECT_EQ(fs::file_size(FileOf(payload)), payload.size());
  EXPECT_TRUE(fs::is_empty(blob_dir_ + "/tmp"));
  EXPECT_EQ(CountChunkRows(), 0);
  auto latest = store_->FindCheckpoint("j", 0);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->stored_in, CheckpointStorage::kBlobDir);
  EXPECT_EQ((*latest)->sha256, Sha256Hex(payload));
  EXPECT_EQ((*latest)->chunks, 2);
  EXPECT_EQ(ReadAll(**latest), payload);
  auto file = store_->OpenCheckpointFile(**latest);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(*(*file)->ReadAt(299'998, 100), "xx");
  EXPECT_EQ(*(*file)->ReadAt(300'000, 100), "");
}

TEST_F(CheckpointBlobTest, StagedUploadIsOnlyATempFileAndAbortRemovesIt) {
  const std::string payload = "staged bytes";
  const CheckpointRow meta = CheckpointMetaOf("j", 5, payload);
  auto id = store_->BeginCheckpoint(meta, 1000);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(store_->AppendCheckpointChunk(*id, 0, payload).ok());
  EXPECT_TRUE(fs::exists(blob_dir_ + "/tmp/upload-" + std::to_string(*id)));
  EXPECT_FALSE(fs::exists(FileOf(payload)));
  EXPECT_FALSE(store_->FindCheckpoint("j", 0)->has_value());
  ASSERT_TRUE(store_->AbortCheckpoint(*id).ok());
  EXPECT_TRUE(fs::is_empty(blob_dir_ + "/tmp"));
  EXPECT_EQ(CountFiles(), 0);
}

TEST_F(CheckpointBlobTest, AnUploadFlushedFromAnotherThreadCommitsAsUsual) {
  // What the coordinator does with a --checkpoint-dir: the writer appends, a read-pool thread
  // (its own BlobDir over the same directory) flushes the file, then the writer commits.
  const std::string payload(200'000, 'y');
  const CheckpointRow meta = CheckpointMetaOf("j", 7, payload);
  auto id = store_->BeginCheckpoint(meta, 1000);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(store_->AppendCheckpointChunk(*id, 0, payload).ok());
  auto other = BlobDir::Open(blob_dir_);
  ASSERT_TRUE(other.ok()) << other.status();
  absl::Status synced = absl::OkStatus();
  std::thread([&] { synced = other->SyncTmp(*id); }).join();
  ASSERT_TRUE(synced.ok()) << synced;
  EXPECT_TRUE(other->SyncTmp(*id + 1000).ok());  // nothing appended yet: nothing to flush
  ASSERT_TRUE(store_->CommitCheckpoint(*id).ok());
  EXPECT_TRUE(fs::is_empty(blob_dir_ + "/tmp"));
  auto latest = store_->FindCheckpoint("j", 0);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->step, 7);
  EXPECT_EQ(ReadAll(**latest), payload);
}

TEST_F(CheckpointBlobTest, ASha256ThatIsNotHexIsRefusedNamingTheField) {
  CheckpointRow meta = CheckpointMetaOf("j", 5, "evil");
  meta.sha256 = "../../etc/passwd";
  auto id = store_->BeginCheckpoint(meta, 1000);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(id.status().message().find("sha256"), std::string::npos);
}

TEST_F(CheckpointBlobTest, SameBytesShareOneFileUntilTheirLastRowGoes) {
  AddJob("k");
  const std::string shared = "the same weights";
  Upload("j", 10, shared);
  Upload("k", 10, shared);
  EXPECT_EQ(CountFiles(), 1);
  // j's retention (2 by default) drops its step-10 row; k still refers to the file.
  Upload("j", 20, "twenty");
  Upload("j", 30, "thirty");
  store_->RemoveUnreferencedCheckpointFiles(/*committed=*/true);
  EXPECT_TRUE(fs::exists(FileOf(shared)));
  EXPECT_EQ(store_->ListCheckpoints("j")->size(), 2u);
  // Deleting k (final) drops the last row: the file goes after the commit.
  ASSERT_TRUE(store_->db()->Exec("UPDATE jobs SET state = 3 WHERE id = 'k'").ok());
  auto deleted = store_->DeleteFinalJob("k");
  ASSERT_TRUE(deleted.ok()) << deleted;
  EXPECT_TRUE(fs::exists(FileOf(shared)));  // not before the caller says it committed
  store_->RemoveUnreferencedCheckpointFiles(/*committed=*/true);
  EXPECT_FALSE(fs::exists(FileOf(shared)));
  EXPECT_TRUE(fs::exists(FileOf("twenty")));
  EXPECT_TRUE(fs::exists(FileOf("thirty")));
}

TEST_F(CheckpointBlobTest, AFailedCommitKeepsTheFiles) {
  Upload("j", 10, "ten");
  Upload("j", 20, "twenty");
  Upload("j", 30, "thirty");  // drops step 10's row
  store_->RemoveUnreferencedCheckpointFiles(/*committed=*/false);
  EXPECT_TRUE(fs::exists(FileOf("ten")));  // left for the start-up sweep
  auto removed = store_->RemoveOrphanCheckpointFiles();
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 1);
  EXPECT_FALSE(fs::exists(FileOf("ten")));
}

TEST_F(CheckpointBlobTest, TheWriterRemovesAFileOnlyAfterTheCommitThatDroppedItsRow) {
  Upload("j", 10, "ten");
  Upload("j", 20, "twenty");
  StoreWriter writer(std::move(store_), StoreWriterOptions{});
  const std::string payload = "thirty";
  absl::Status status = writer.RunSync([&](Store& store) -> absl::Status {
    const CheckpointRow meta = CheckpointMetaOf("j", 30, payload);
    auto id = store.BeginCheckpoint(meta, 1000);
    RETURN_IF_ERROR(id.status());
    RETURN_IF_ERROR(store.AppendCheckpointChunk(*id, 0, payload));
    RETURN_IF_ERROR(store.CommitCheckpoint(*id));
    EXPECT_TRUE(fs::exists(FileOf(payload)));  // durable before the row commits
    EXPECT_TRUE(fs::exists(FileOf("ten")));    // its row is gone, but not committed yet
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_FALSE(fs::exists(FileOf("ten")));
  EXPECT_TRUE(fs::exists(FileOf("twenty")));
  // An operation that fails rolls its deletes back: the files stay.
  status = writer.RunSync([&](Store& store) -> absl::Status {
    RETURN_IF_ERROR(store.db()->Exec("UPDATE jobs SET state = 3 WHERE id = 'j'"));
    RETURN_IF_ERROR(store.DeleteFinalJob("j"));
    return absl::AbortedError("changed my mind");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(fs::exists(FileOf("twenty")));
  EXPECT_TRUE(fs::exists(FileOf(payload)));
}

TEST_F(CheckpointBlobTest, ACorruptOrMissingFileIsDataLossNamingThePath) {
  const std::string payload = "precious weights";
  Upload("j", 10, payload);
  auto row = **store_->FindCheckpoint("j", 0);
  {
    std::fstream f(FileOf(payload), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put('X');  // same size, other bytes
  }
  auto corrupt = store_->OpenCheckpointFile(row);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(corrupt.status().message().find(FileOf(payload)), std::string::npos)
      << corrupt.status();
  {
    std::ofstream f(FileOf(payload), std::ios::app | std::ios::binary);
    f << "more";  // other size
  }
  auto longer = store_->OpenCheckpointFile(row);
  ASSERT_FALSE(longer.ok());
  EXPECT_EQ(longer.status().code(), absl::StatusCode::kDataLoss);
  fs::remove(FileOf(payload));
  auto missing = store_->OpenCheckpointFile(row);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(missing.status().message().find("missing"), std::string::npos);
  // A new upload of the same bytes heals it.
  Upload("j", 20, payload);
  EXPECT_EQ(ReadAll(**store_->FindCheckpoint("j", 0)), payload);
}

TEST_F(CheckpointBlobTest, StartUpSweepRemovesOrphansAndTempLeftovers) {
  Upload("j", 10, "kept");
  const std::string stray_sha = Sha256Hex("nobody's");
  fs::create_directories(blob_dir_ + "/" + stray_sha.substr(0, 2));
  std::ofstream(blob_dir_ + "/" + stray_sha.substr(0, 2) + "/" + stray_sha) << "nobody's";
  std::ofstream(blob_dir_ + "/tmp/upload-77") << "half an upl";
  std::ofstream(blob_dir_ + "/README") << "not ours";
  auto removed = store_->RemoveOrphanCheckpointFiles();
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 2);
  EXPECT_TRUE(fs::exists(FileOf("kept")));
  EXPECT_TRUE(fs::exists(blob_dir_ + "/README"));
  EXPECT_TRUE(fs::is_empty(blob_dir_ + "/tmp"));
  EXPECT_EQ(ReadAll(**store_->FindCheckpoint("j", 0)), "kept");
}

TEST_F(CheckpointBlobTest, RowsStoredInSqliteBeforeStillServeFromSqlite) {
  store_.reset();
  {
    auto plain = OpenStore();  // no checkpoint_dir
    const CheckpointRow meta = CheckpointMetaOf("j", 10, "old");
    auto id = plain->BeginCheckpoint(meta, 1000);
    ASSERT_TRUE(plain->AppendCheckpointChunk(*id, 0, "old").ok());
    ASSERT_TRUE(plain->CommitCheckpoint(*id).ok());
  }
  StoreOptions options;
  options.checkpoint_dir = blob_dir_;
  store_ = OpenStore(options);
  auto row = **store_->FindCheckpoint("j", 0);
  EXPECT_EQ(row.stored_in, CheckpointStorage::kSqlite);
  EXPECT_EQ(**store_->ReadCheckpointChunk(row.id, 0), "old");
  Upload("j", 20, "new");
  EXPECT_EQ((**store_->FindCheckpoint("j", 0)).stored_in, CheckpointStorage::kBlobDir);
  // And a coordinator without the directory refuses the blob rows instead of guessing.
  store_.reset();
  store_ = OpenStore();
  auto refused = store_->OpenCheckpointFile(**store_->FindCheckpoint("j", 0));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
}

// Per-sweep retention (no blob directory needed: it is the same rule for both homes).
class CheckpointRetentionTest : public testing::OpenStoreTest {
 protected:
  void AddJob(const std::string& id, const std::string& sweep, int keep_last) {
    JobRow job;
    job.id = id;
    job.spec = "spec-" + id;
    job.total_steps = 100;
    job.device = "cpu";
    ASSERT_TRUE(store_->InsertJobIfAbsent(&job).ok());
    if (!sweep.empty()) {
      SweepRow row;
      row.id = sweep;
      row.name = sweep;
      row.checkpoint_keep_last = keep_last;
      ASSERT_TRUE(store_->InsertSweepIfAbsent(row).ok());
      ASSERT_TRUE(store_->AddSweepJob(sweep, job.seq).ok());
    }
  }
  void Upload(const std::string& job, int64_t step) {
    const std::string payload = job + std::to_string(step);
    const CheckpointRow meta = CheckpointMetaOf(job, step, payload);
    auto id = store_->BeginCheckpoint(meta, 1000);
    ASSERT_TRUE(id.ok());
    ASSERT_TRUE(store_->AppendCheckpointChunk(*id, 0, payload).ok());
    ASSERT_TRUE(store_->CommitCheckpoint(*id).ok());
  }
  std::vector<int64_t> Steps(const std::string& job) {
    std::vector<int64_t> steps;
    auto rows = store_->ListCheckpoints(job);
    EXPECT_TRUE(rows.ok()) << rows.status();
    if (!rows.ok()) {
      return steps;
    }
    for (const CheckpointRow& row : *rows) {
      steps.push_back(row.step);
    }
    return steps;
  }
};

TEST_F(CheckpointRetentionTest, KeepLastPerSweepKeepsTheNewestIncludingTheFinalOne) {
  AddJob("a", "wide", 3);
  AddJob("b", "tight", 1);
  AddJob("c", "", 0);       // no sweep: the store's default (2)
  AddJob("d", "unset", 0);  // a sweep without retention: the default too
  for (int64_t step = 10; step <= 50; step += 10) {
    for (const char* job : {"a", "b", "c", "d"}) {
      Upload(job, step);
    }
  }
  EXPECT_EQ(Steps("a"), (std::vector<int64_t>{30, 40, 50}));
  EXPECT_EQ(Steps("b"), (std::vector<int64_t>{50}));  // the final checkpoint stays
  EXPECT_EQ(Steps("c"), (std::vector<int64_t>{40, 50}));
  EXPECT_EQ(Steps("d"), (std::vector<int64_t>{40, 50}));
  EXPECT_EQ((*store_->FindJob("b"))->checkpoint_step, 50);
  EXPECT_EQ((*store_->FindSweep("wide"))->checkpoint_keep_last, 3);
}

TEST_F(CheckpointRetentionTest, AJobInTwoSweepsKeepsTheLargerCount) {
  AddJob("a", "one", 1);
  SweepRow other;
  other.id = other.name = "four";
  other.checkpoint_keep_last = 4;
  ASSERT_TRUE(store_->InsertSweepIfAbsent(other).ok());
  ASSERT_TRUE(store_->AddSweepJob("four", *store_->JobSeq("a")).ok());
  for (int64_t step = 1; step <= 6; ++step) {
    Upload("a", step);
  }
  EXPECT_EQ(Steps("a"), (std::vector<int64_t>{3, 4, 5, 6}));
}

}  // namespace
}  // namespace sparsescale::store
