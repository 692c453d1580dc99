// Datasets over real gRPC against an in-process coordinator (real SQLite file): the CLI's
// upload path (client/dataset_upload.h) with resume and dedup, refusals naming the field,
// roles, job submission pinned to the dataset's hash, deletion refused while a job uses it,
// and the worker's dataset cache (worker/agent/dataset_cache.h): verification, a damaged
// chunk refused and fetched again, damaged cache files fetched again, the LRU cap, one
// download for concurrent jobs.
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "client/coordinator_client.h"
#include "client/dataset_upload.h"
#include "common/sha256.h"
#include "tests/coordinator/coordinator_fixture.h"
#include "worker/agent/dataset_cache.h"

namespace sparsescale::coordinator::testing {
namespace {

namespace fs = std::filesystem;

class DatasetTest : public CoordinatorFixture {
 protected:
  void SetUp() override {
    CoordinatorFixture::SetUp();
    files_ = dir_ + "/client-files";
    fs::create_directories(files_);
  }

  // A file of `bytes` pseudo-random bytes (seeded) in the client's directory.
  std::string MakeFile(const std::string& name, int64_t bytes, uint32_t seed) {
    std::string data(static_cast<size_t>(bytes), '\0');
    uint32_t x = seed * 2654435761u + 1;
    for (char& c : data) {
      x = x * 1664525u + 1013904223u;
      c = static_cast<char>(x >> 24);
    }
    const std::string path = files_ + "/" + name;
    std::ofstream(path, std::ios::binary) << data;
    return path;
  }

  std::unique_ptr<client::CoordinatorClient> Client(const std::string& token = "") {
    client::ClientOptions o;
    o.security.token = token;
    return std::make_unique<client::CoordinatorClient>(server_->address(), o);
  }

  std::unique_ptr<agent::WorkerRpc> WorkerRpc(const std::string& token = "") {
    agent::GrpcWorkerRpcOptions o;
    o.security.token = token;
    return agent::MakeGrpcWorkerRpc(server_->address(), o);
  }

  agent::DatasetCacheOptions CacheOptions(const std::string& name) {
    agent::DatasetCacheOptions o;
    o.dir = dir_ + "/cache-" + name;
    o.retry_initial = std::chrono::milliseconds(10);
    return o;
  }

  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  std::string files_;
};

TEST_F(DatasetTest, AnUploadResumesSendsOnlyMissingChunksAndIsVerifiedAtCommit) {
  StartServer();
  auto c = Client();
  // 9 MiB + 5 bytes: three chunks, the last short; a second small file.
  const std::string a = MakeFile("train_000.bin", (int64_t{9} << 20) + 5, 1);
  const std::string b = MakeFile("val_000.bin", 1000, 2);

  // An interrupted upload: one chunk put, then the client went away.
  std::string first_chunk = ReadAll(a).substr(0, 4 << 20);
  v1::PutChunkRequest put;
  put.set_dataset("tiny");
  put.set_sha256(Sha256Hex(first_chunk));
  put.set_data(first_chunk);
  ASSERT_TRUE(c->PutChunk(put).ok());
  auto listed = c->ListDatasets();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->datasets_size(), 1);
  EXPECT_EQ(listed->datasets(0).state(), v1::DATASET_STATE_UPLOADING);

  // The upload run again sends the three chunks still missing.
  auto up = client::UploadDataset(*c, "tiny", {a, b});
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_TRUE(up->created);
  EXPECT_EQ(up->progress.chunks_total, 4);
  EXPECT_EQ(up->progress.chunks_sent, 3);
  EXPECT_EQ(up->progress.bytes_present, 4 << 20);
  EXPECT_EQ(up->dataset.state(), v1::DATASET_STATE_READY);
  EXPECT_EQ(up->dataset.total_bytes(), (int64_t{9} << 20) + 5 + 1000);
  EXPECT_EQ(up->dataset.hash().size(), 64u);

  // Once more: nothing is sent, the same dataset answers.
  auto again = client::UploadDataset(*c, "tiny", {a, b});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->progress.chunks_sent, 0);
  EXPECT_EQ(again->dataset.hash(), up->dataset.hash());

  // A second dataset sharing a file sends only the new one's chunks.
  const std::string d = MakeFile("train_001.bin", 3000, 3);
  auto shared = client::UploadDataset(*c, "tiny-plus", {a, d});
  ASSERT_TRUE(shared.ok()) << shared.status();
  EXPECT_EQ(shared->progress.chunks_sent, 1);

  auto got = c->GetDataset(up->dataset.hash());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name(), "tiny");
  ASSERT_EQ(got->files_size(), 2);
  EXPECT_EQ(got->files(0).name(), "train_000.bin");
  EXPECT_EQ(got->files(0).chunks_size(), 3);
  EXPECT_EQ(got->files(0).sha256(), Sha256Hex(ReadAll(a)));
}

TEST_F(DatasetTest, BadInputIsRefusedNamingTheField) {
  StartServer();
  auto c = Client();
  v1::PutChunkRequest put;
  put.set_dataset("d");
  put.set_data("some bytes");
  put.set_sha256(Sha256Hex("other bytes"));
  absl::Status s = c->PutChunk(put).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(s.message(), "data: ")) << s;
  put.set_sha256("ABC");
  EXPECT_TRUE(absl::StartsWith(c->PutChunk(put).status().message(), "sha256: "));
  put.set_sha256(Sha256Hex(put.data()));
  put.set_dataset("../etc");
  EXPECT_TRUE(absl::StartsWith(c->PutChunk(put).status().message(), "dataset: "));
  put.set_dataset("d");
  put.set_data(std::string((4 << 20) + 1, 'x'));
  put.set_sha256(Sha256Hex(put.data()));
  EXPECT_TRUE(absl::StartsWith(c->PutChunk(put).status().message(), "data: "));

  // A commit whose file hash does not match its chunks.
  put.set_data("abc");
  put.set_sha256(Sha256Hex("abc"));
  ASSERT_TRUE(c->PutChunk(put).ok());
  v1::CommitDatasetRequest commit;
  commit.set_name("d");
  v1::DatasetFile* f = commit.add_files();
  f->set_name("x.bin");
  f->set_size_bytes(3);
  f->set_sha256(Sha256Hex("abd"));
  f->add_chunks(Sha256Hex("abc"));
  s = c->CommitDataset(commit).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(s.message(), "files[0].sha256: ")) << s;
  f->set_sha256(Sha256Hex("abc"));
  f->add_chunks(Sha256Hex("never sent"));
  s = c->CommitDataset(commit).status();
  EXPECT_TRUE(absl::StartsWith(s.message(), "files[0].chunks: ")) << s;  // 2 chunks for 3 bytes
  f->set_size_bytes((4 << 20) + 3);
  s = c->CommitDataset(commit).status();
  EXPECT_TRUE(absl::StartsWith(s.message(), "files[0].chunks[1]: ")) << s;
  f->set_name("a/../b");
  EXPECT_TRUE(absl::StartsWith(c->CommitDataset(commit).status().message(), "files[0].name: "));

  // A job naming an unknown dataset.
  v1::SubmitJobRequest submit;
  submit.set_request_id("submit-unknown");
  *submit.mutable_spec() = TinySpec();
  submit.mutable_spec()->mutable_data()->clear_train_shards();
  submit.mutable_spec()->mutable_data()->set_dataset("no-such-dataset");
  s = c->SubmitJob(submit).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(s.message(), "spec.data.dataset: ")) << s;
  EXPECT_EQ(c->GetDataset("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DatasetTest, AJobIsPinnedToTheHashAndTheDatasetCannotBeDeletedUnderIt) {
  StartServer();
  auto c = Client();
  auto up = client::UploadDataset(*c, "tiny", {MakeFile("train.bin", 5000, 4)});
  ASSERT_TRUE(up.ok()) << up.status();
  v1::SubmitJobRequest submit;
  submit.set_request_id("submit-by-name");
  *submit.mutable_spec() = TinySpec();
  submit.mutable_spec()->mutable_data()->clear_train_shards();
  submit.mutable_spec()->mutable_data()->set_dataset("tiny");
  auto job = c->SubmitJob(submit);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->job().spec().data().dataset(), up->dataset.hash());
  // By hash: the same cell.
  submit.set_request_id("submit-by-hash");
  submit.mutable_spec()->mutable_data()->set_dataset(up->dataset.hash());
  auto same = c->SubmitJob(submit);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_FALSE(same->created());
  EXPECT_EQ(same->job().id(), job->job().id());

  absl::Status refused = c->DeleteDataset("tiny").status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.message(), job->job().id())) << refused;
  ASSERT_TRUE(c->CancelJob("cancel-1", job->job().id()).ok());
  auto deleted = c->DeleteDataset("tiny");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->chunks_deleted(), 1);
  EXPECT_EQ(c->ListDatasets()->datasets_size(), 0);
}

TEST_F(DatasetTest, RolesSubmitterUploadsViewerReadsWorkerDownloads) {
  options().auth.tokens = true;
  StartServer();
  std::string admin;
  std::getline(std::ifstream(db_path() + ".admin-token"), admin);
  auto token = [&](v1::Role role) {
    v1::CreateTokenRequest r;
    r.set_role(role);
    auto made = Client(admin)->CreateToken(r);
    EXPECT_TRUE(made.ok()) << made.status();
    return made->secret();
  };
  const std::string submitter = token(v1::ROLE_SUBMITTER);
  const std::string viewer = token(v1::ROLE_VIEWER);
  const std::string worker = token(v1::ROLE_WORKER);
  const std::string file = MakeFile("t.bin", 100, 5);
  EXPECT_EQ(client::UploadDataset(*Client(viewer), "d", {file}).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(client::UploadDataset(*Client(worker), "d", {file}).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto up = client::UploadDataset(*Client(submitter), "d", {file});
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_TRUE(Client(viewer)->ListDatasets().ok());
  EXPECT_TRUE(Client(viewer)->GetDataset("d").ok());
  EXPECT_EQ(Client(viewer)->DeleteDataset("d").status().code(),
            absl::StatusCode::kPermissionDenied);

  // Downloads are the worker service's: a viewer may not, a worker may.
  auto viewer_rpc = WorkerRpc(viewer);
  v1::GetDatasetRequest get;
  get.set_dataset(up->dataset.hash());
  EXPECT_EQ(viewer_rpc->GetDataset(get).status().code(), absl::StatusCode::kPermissionDenied);
  auto worker_rpc = WorkerRpc(worker);
  agent::DatasetCache cache(worker_rpc.get(), CacheOptions("w"));
  auto pin = cache.Acquire(up->dataset.hash());
  ASSERT_TRUE(pin.ok()) << pin.status();
  EXPECT_EQ(ReadAll((*pin)->files_dir() + "/t.bin"), ReadAll(file));
  pin->reset();
  EXPECT_TRUE(Client(submitter)->DeleteDataset("d").ok());

  // The audit log names the dataset each mutating call was about: its name or hash.
  v1::ListAuditRequest request;
  request.set_actor_token_id(submitter.substr(0, submitter.find('.')));
  auto audit = Client(admin)->ListAudit(request);
  ASSERT_TRUE(audit.ok()) << audit.status();
  std::map<std::string, std::string> object_of;
  for (const v1::AuditRecord& record : audit->records()) {
    object_of[record.action()] = record.object_id();
  }
  EXPECT_EQ(object_of["PutChunk"], "d");
  EXPECT_EQ(object_of["CommitDataset"], up->dataset.hash());
  EXPECT_EQ(object_of["DeleteDataset"], "d");
}

TEST_F(DatasetTest, TheWorkerCacheRefusesDamagedChunksAndDamagedFilesAndFetchesAgain) {
  StartServer();
  auto c = Client();
  const std::string a = MakeFile("a.bin", (int64_t{5} << 20), 6);
  const std::string b = MakeFile("b.bin", 777, 7);
  auto up = client::UploadDataset(*c, "d", {a, b});
  ASSERT_TRUE(up.ok()) << up.status();
  const std::string hash = up->dataset.hash();
  auto rpc = WorkerRpc();

  // The first two chunks arrive damaged: refused, the file fetched again (3 tries).
  agent::DatasetCacheOptions o = CacheOptions("w");
  o.corrupt_chunks = 2;
  {
    agent::DatasetCache cache(rpc.get(), o);
    auto pin = cache.Acquire(hash);
    ASSERT_TRUE(pin.ok()) << pin.status();
    EXPECT_EQ(ReadAll((*pin)->files_dir() + "/a.bin"), ReadAll(a));
    EXPECT_EQ(ReadAll((*pin)->files_dir() + "/b.bin"), ReadAll(b));
    EXPECT_EQ(cache.stats().damaged_chunks, 2);
    EXPECT_EQ(cache.stats().file_retries, 2);
    EXPECT_EQ(cache.stats().downloads, 1);
    // Damaged on every try: refused with DATA_LOSS, nothing cached.
    agent::DatasetCacheOptions always = CacheOptions("w2");
    always.corrupt_chunks = 1000;
    agent::DatasetCache bad(rpc.get(), always);
    EXPECT_EQ(bad.Acquire(hash).status().code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(bad.cached_bytes(), 0);
    EXPECT_FALSE(fs::exists(always.dir + "/" + hash));
  }
  // A file damaged on disk (same size) is found when next used and fetched again, by a
  // restarted worker (which hashes every file once) and by a running one (mtime changed).
  const std::string cached_b = o.dir + "/" + hash + "/files/b.bin";
  auto damage = [&] {
    std::fstream f(cached_b, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('#');
  };
  damage();
  o.corrupt_chunks = 0;
  agent::DatasetCache restarted(rpc.get(), o);
  {
    auto pin = restarted.Acquire(hash);
    ASSERT_TRUE(pin.ok()) << pin.status();
    EXPECT_EQ(ReadAll(cached_b), ReadAll(b));
    EXPECT_EQ(restarted.stats().damaged_in_cache, 1);
    EXPECT_EQ(restarted.stats().downloads, 1);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a different mtime
  damage();
  auto pin = restarted.Acquire(hash);
  ASSERT_TRUE(pin.ok()) << pin.status();
  EXPECT_EQ(ReadAll(cached_b), ReadAll(b));
  EXPECT_EQ(restarted.stats().damaged_in_cache, 2);
  EXPECT_EQ(restarted.stats().downloads, 2);
  // Unchanged files are not hashed again on later uses.
  const int64_t hashed = restarted.stats().reverified_files;
  ASSERT_TRUE(restarted.Acquire(hash).ok());
  EXPECT_EQ(restarted.stats().reverified_files, hashed);
}

TEST_F(DatasetTest, TheCacheCapEvictsTheLeastRecentlyUsedDatasetNotInUse) {
  StartServer();
  auto c = Client();
  std::vector<std::string> hashes;
  for (int i = 0; i < 3; ++i) {
    auto up = client::UploadDataset(
        *c, "d" + std::to_string(i), {MakeFile("f" + std::to_string(i) + ".bin", 1000, 10 + i)});
    ASSERT_TRUE(up.ok()) << up.status();
    hashes.push_back(up->dataset.hash());
  }
  auto rpc = WorkerRpc();
  agent::DatasetCacheOptions o = CacheOptions("w");
  o.max_bytes = 2000;  // two of them
  agent::DatasetCache cache(rpc.get(), o);
  auto held = cache.Acquire(hashes[0]);  // in use throughout
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE(cache.Acquire(hashes[1]).ok());
  ASSERT_TRUE(cache.Acquire(hashes[2]).ok());  // evicts d1 (d0 is in use)
  EXPECT_EQ(cache.stats().evictions, 1);
  EXPECT_TRUE(fs::exists(o.dir + "/" + hashes[0]));
  EXPECT_FALSE(fs::exists(o.dir + "/" + hashes[1]));
  EXPECT_TRUE(fs::exists(o.dir + "/" + hashes[2]));
  held->reset();
  ASSERT_TRUE(cache.Acquire(hashes[2]).ok());  // d2 now more recent than d0
  ASSERT_TRUE(cache.Acquire(hashes[1]).ok());  // evicts d0
  EXPECT_FALSE(fs::exists(o.dir + "/" + hashes[0]));
  EXPECT_TRUE(fs::exists(o.dir + "/" + hashes[2]));
  EXPECT_EQ(cache.cached_bytes(), 2000);
}

TEST_F(DatasetTest, ConcurrentJobsNeedingOneDatasetDownloadItOnce) {
  StartServer();
  auto c = Client();
  auto up = client::UploadDataset(*c, "d", {MakeFile("f.bin", (int64_t{6} << 20), 20)});
  ASSERT_TRUE(up.ok()) << up.status();
  auto rpc = WorkerRpc();
  agent::DatasetCache cache(rpc.get(), CacheOptions("w"));
  std::vector<std::thread> jobs;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    jobs.emplace_back([&] { ok += cache.Acquire(up->dataset.hash()).ok() ? 1 : 0; });
  }
  for (std::thread& t : jobs) {
    t.join();
  }
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(cache.stats().downloads, 1);
  EXPECT_EQ(cache.stats().chunks_received, 2);
}

}  // namespace
}  // namespace sparsescale::coordinator::testing
