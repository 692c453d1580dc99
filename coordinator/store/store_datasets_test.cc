// Datasets on a real SQLite file: chunks stored once, commit checks, delete with shared chunks,
// refusal while a queued or running job uses the bytes.
#include "coordinator/store/store_datasets.h"

#include <string>
#include <vector>

#include "common/sha256.h"
#include "coordinator/store/store_testing.h"
#include "gtest/gtest.h"

namespace sparsescale::store {
namespace {

class StoreDatasetsTest : public testing::OpenStoreTest {
 protected:
  // A file of the given chunk payloads, its chunks put for `dataset`.
  DatasetFileRow PutFile(const std::string& dataset, const std::string& name,
                         const std::vector<std::string>& chunks) {
    DatasetFileRow file;
    file.name = name;
    Sha256 whole;
    for (const std::string& chunk : chunks) {
      const std::string hash = Sha256Hex(chunk);
      auto put = PutDatasetChunk(*store_, dataset, hash, chunk, 10);
      EXPECT_TRUE(put.ok()) << put.status();
      file.chunks.push_back(hash);
      file.size_bytes += static_cast<int64_t>(chunk.size());
      whole.Update(chunk);
    }
    file.sha256 = Sha256::ToHex(whole.Finish());
    return file;
  }

  int64_t CountChunks() {
    auto q = store_->db()->Prepare("SELECT COUNT(*) FROM dataset_chunks");
    EXPECT_TRUE(q.ok());
    EXPECT_TRUE(*q->Step());
    return q->Int(0);
  }

  // A job whose spec names dataset `hash`, in `state`.
  void AddJob(const std::string& id, const std::string& hash, JobState state) {
    v1::JobSpec spec;
    spec.mutable_data()->set_dataset(hash);
    spec.set_seed(id.size());
    JobRow job;
    job.id = id;
    job.spec = spec.SerializeAsString();
    job.total_steps = 10;
    job.device = "cpu";
    ASSERT_TRUE(store_->InsertJobIfAbsent(&job).ok());
    if (state == JobState::kQueued) {
      return;
    }
    GrantRecord grant;
    grant.job_id = id;
    grant.attempt = 1;
    grant.worker_id = "w";
    ASSERT_TRUE(store_->RecordGrant(grant, 1).ok());
    if (state == JobState::kRunning) {
      return;
    }
    AttemptEndRecord end;
    end.job_id = id;
    end.attempt = 1;
    end.state = state;
    end.outcome = state;
    ASSERT_TRUE(store_->RecordAttemptEnd(end, 3).ok());
  }
};

TEST_F(StoreDatasetsTest, SharedChunksAreStoredOnceAndOutliveOneDatasetsDeletion) {
  const std::string a(1000, 'a'), b(700, 'b'), c(300, 'c');
  std::vector<DatasetFileRow> one = {PutFile("one", "x.bin", {a, b}), PutFile("one", "y.bin", {c})};
  ASSERT_TRUE(VerifyDatasetFiles(*store_, one).ok());
  auto first = CommitDatasetFiles(*store_, "one", one, 20);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->dataset.state, DatasetState::kReady);
  EXPECT_EQ(first->dataset.total_bytes, 2000);
  EXPECT_EQ(first->dataset.file_count, 2);
  EXPECT_EQ(first->dataset.hash, DatasetHash(one));

  // A second dataset shares chunk a: the store asks only for what it lacks.
  const std::string d(50, 'd');
  auto missing = MissingChunks(*store_, {Sha256Hex(a), Sha256Hex(d), Sha256Hex(d)});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, std::vector<std::string>{Sha256Hex(d)});
  std::vector<DatasetFileRow> two = {PutFile("two", "z.bin", {a, d})};
  auto put_again = PutDatasetChunk(*store_, "two", Sha256Hex(a), a, 30);
  ASSERT_TRUE(put_again.ok());
  EXPECT_FALSE(*put_again);  // already held
  ASSERT_TRUE(CommitDatasetFiles(*store_, "two", two, 30).ok());
  EXPECT_EQ(CountChunks(), 4);

  // Deleting "one" frees b and c, keeps a (used by "two").
  auto deleted = DeleteDataset(*store_, "one");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->chunks_deleted, 2);
  EXPECT_EQ(deleted->bytes_freed, 1000);
  EXPECT_EQ(CountChunks(), 2);
  auto chunk = ReadDatasetChunk(*store_, Sha256Hex(a));
  ASSERT_TRUE(chunk.ok() && chunk->has_value());
  EXPECT_EQ(**chunk, a);
  auto found = FindDataset(*store_, DatasetHash(two), /*with_files=*/true);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->name, "two");
  ASSERT_EQ((*found)->files.size(), 1u);
  EXPECT_EQ((*found)->files[0].chunks, two[0].chunks);

  ASSERT_TRUE(DeleteDataset(*store_, "two").ok());
  EXPECT_EQ(CountChunks(), 0);
  EXPECT_EQ(DeleteDataset(*store_, "two").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreDatasetsTest, CommitChecksChunksSizesAndHashesNamingTheField) {
  std::vector<DatasetFileRow> files = {PutFile("d", "x.bin", {"hello ", "world"})};
  std::vector<DatasetFileRow> bad = files;
  bad[0].sha256 = Sha256Hex("something else");
  absl::Status s = VerifyDatasetFiles(*store_, bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().substr(0, 17), "files[0].sha256: ");
  bad = files;
  bad[0].size_bytes = 3;
  EXPECT_EQ(VerifyDatasetFiles(*store_, bad).message().substr(0, 21), "files[0].size_bytes: ");
  bad = files;
  bad[0].chunks.push_back(Sha256Hex("never put"));
  EXPECT_EQ(CommitDatasetFiles(*store_, "d", bad, 5).status().message().substr(0, 20),
            "files[0].chunks[2]: ");

  // The same files twice: one dataset, the second answer not created.
  ASSERT_TRUE(CommitDatasetFiles(*store_, "d", files, 5).ok());
  auto again = CommitDatasetFiles(*store_, "d", files, 6);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  // Other files under a ready name, and chunks for it, are refused.
  std::vector<DatasetFileRow> other = files;
  other[0].name = "renamed.bin";
  EXPECT_EQ(CommitDatasetFiles(*store_, "d", other, 7).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(PutDatasetChunk(*store_, "d", Sha256Hex("x"), "x", 7).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(StoreDatasetsTest, AnUnfinishedUploadIsListedAndItsDeletionFreesItsChunks) {
  PutFile("partial", "x.bin", {"abc", "def"});
  auto list = ListDatasets(*store_);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].state, DatasetState::kUploading);
  EXPECT_EQ((*list)[0].chunks_stored, 2);
  EXPECT_EQ((*list)[0].hash, "");
  auto deleted = DeleteDataset(*store_, "partial");
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted->chunks_deleted, 2);
  EXPECT_EQ(CountChunks(), 0);
}

TEST_F(StoreDatasetsTest, DeleteIsRefusedWhileAQueuedOrRunningJobUsesTheBytes) {
  std::vector<DatasetFileRow> files = {PutFile("d", "x.bin", {"tokens"})};
  auto committed = CommitDatasetFiles(*store_, "d", files, 5);
  ASSERT_TRUE(committed.ok());
  const std::string hash = committed->dataset.hash;
  AddJob("job-queued", hash, JobState::kQueued);
  AddJob("job-running", hash, JobState::kRunning);
  AddJob("job-done", hash, JobState::kSucceeded);
  absl::Status refused = DeleteDataset(*store_, "d").status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("job-queued (queued)"), std::string::npos) << refused;
  EXPECT_NE(refused.message().find("job-running (running)"), std::string::npos) << refused;
  EXPECT_EQ(refused.message().find("job-done"), std::string::npos) << refused;
  EXPECT_EQ(CountChunks(), 1);  // nothing was lost

  // The same bytes under a second name: deleting one name leaves the jobs their bytes.
  std::vector<DatasetFileRow> copy = {PutFile("copy", "x.bin", {"tokens"})};
  ASSERT_TRUE(CommitDatasetFiles(*store_, "copy", copy, 6).ok());
  EXPECT_EQ(DeleteDataset(*store_, hash).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(DeleteDataset(*store_, "d").ok());
  EXPECT_EQ(CountChunks(), 1);
  EXPECT_EQ(DeleteDataset(*store_, "copy").status().code(),
            absl::StatusCode::kFailedPrecondition);

  // A job naming a dataset that no longer exists is not stored.
  v1::JobSpec spec;
  spec.mutable_data()->set_dataset(Sha256Hex("gone"));
  JobRow job;
  job.id = "job-orphan";
  job.spec = spec.SerializeAsString();
  job.device = "cpu";
  absl::Status orphan = store_->InsertJobIfAbsent(&job).status();
  EXPECT_EQ(orphan.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(orphan.message().substr(0, 14), "data.dataset: ");
}

TEST_F(StoreDatasetsTest, AFinishedJobWhoseDatasetWasDeletedCannotBeRetried) {
  std::vector<DatasetFileRow> files = {PutFile("d", "x.bin", {"tokens"})};
  auto committed = CommitDatasetFiles(*store_, "d", files, 5);
  ASSERT_TRUE(committed.ok());
  const std::string hash = committed->dataset.hash;
  AddJob("job-failed", hash, JobState::kFailed);
  ASSERT_TRUE(DeleteDataset(*store_, "d").ok());  // allowed: no queued or running job uses it

  auto refused = store_->RequeueFinalJob("job-failed", 20);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_EQ(refused.status().message().substr(0, 14), "data.dataset: ");
  EXPECT_NE(refused.status().message().find("job-failed"), std::string::npos);
  auto row = store_->FindJob("job-failed");
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->state, JobState::kFailed);  // nothing changed

  // The same bytes uploaded again (same hash): the retry goes through.
  std::vector<DatasetFileRow> again = {PutFile("d2", "x.bin", {"tokens"})};
  ASSERT_TRUE(CommitDatasetFiles(*store_, "d2", again, 30).ok());
  auto queued = store_->RequeueFinalJob("job-failed", 40);
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_EQ(queued->state, JobState::kQueued);
}

}  // namespace
}  // namespace sparsescale::store
