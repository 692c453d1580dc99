// Checkpoints in the coordinator's blob directory (--checkpoint-dir) over real gRPC: uploads,
// verified downloads, DATA_LOSS for a damaged file, resume, per-sweep retention, and a kill -9
// of a coordinator process in the middle of an upload.
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/sha256.h"
#include "coordinator/store/store_testing.h"
#include "tests/coordinator/coordinator_fixture.h"
#include "tests/coordinator/http_client.h"

namespace sparsescale::coordinator::testing {
namespace {

namespace fs = std::filesystem;

std::string Payload(size_t bytes, char seed) {
  std::string payload(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) {
    payload[i] = static_cast<char>(seed + i * 37);
  }
  return payload;
}

class BlobCheckpointTest : public CoordinatorFixture {
 protected:
  void SetUp() override {
    CoordinatorFixture::SetUp();
    blob_dir_ = dir_ + "/checkpoints";
    options().coordinator.store.checkpoint_dir = blob_dir_;
  }

  std::string FileOf(const std::string& payload) const {
    return store::testing::BlobFileOf(blob_dir_, payload);
  }
  int CountFiles() const { return store::testing::CountBlobFiles(blob_dir_); }

  // A job submitted and leased to a new worker; returns {job, worker}.
  std::pair<std::string, std::string> LeasedJob(uint64_t seed = 1) {
    const std::string job = Submit(TinySpec(4096, seed), "s" + std::to_string(seed)).job().id();
    const std::string worker_id = RegisterWorker("w" + std::to_string(seed));
    EXPECT_EQ(Acquire(worker_id).size(), 1u);
    return {job, worker_id};
  }

  std::string blob_dir_;
};

TEST_F(BlobCheckpointTest, UploadIsAFileAndDownloadsByteForByteAlsoFromAnOffset) {
  StartServer();
  auto [job, worker_id] = LeasedJob();
  const std::string payload = Payload(3 << 20, 'a');
  ASSERT_TRUE(Upload(worker_id, job, 1, 100, payload, 1 << 20).ok());
  EXPECT_TRUE(fs::exists(FileOf(payload)));
  EXPECT_EQ(fs::file_size(FileOf(payload)), payload.size());
  std::string downloaded;
  v1::CheckpointInfo info;
  grpc::Status status = Download(job, 0, &downloaded, &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(downloaded, payload);
  EXPECT_EQ(info.stored_in(), v1::CHECKPOINT_STORAGE_BLOB_DIR);
  EXPECT_EQ(info.sha256(), Sha256Hex(payload));
  // A resumed download.
  auto ctx = Context();
  v1::DownloadCheckpointRequest request;
  request.set_job_id(job);
  request.set_offset(1'500'000);
  auto reader = worker().DownloadCheckpoint(ctx.get(), request);
  v1::CheckpointChunk chunk;
  std::string rest;
  while (reader->Read(&chunk)) {
    rest += chunk.data();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(rest, payload.substr(1'500'000));
  v1::ListCheckpointsRequest list;
  list.set_job_id(job);
  v1::ListCheckpointsResponse listed;
  ASSERT_TRUE(client().ListCheckpoints(Context().get(), list, &listed).ok());
  ASSERT_EQ(listed.checkpoints_size(), 1);
  EXPECT_EQ(listed.checkpoints(0).stored_in(), v1::CHECKPOINT_STORAGE_BLOB_DIR);
}

TEST_F(BlobCheckpointTest, ADamagedFileAnswersDataLossNamingItsPathNeverItsBytes) {
  StartServer();
  auto [job, worker_id] = LeasedJob();
  const std::string payload = Payload(200'000, 'd');
  ASSERT_TRUE(Upload(worker_id, job, 1, 100, payload).ok());
  {
    std::fstream f(FileOf(payload), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100'000);
    f.put('!');
  }
  std::string downloaded;
  grpc::Status status = Download(job, 0, &downloaded);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS) << status.error_message();
  EXPECT_NE(status.error_message().find(FileOf(payload)), std::string::npos)
      << status.error_message();
  EXPECT_TRUE(downloaded.empty());
  fs::remove(FileOf(payload));
  status = Download(job, 0, &downloaded);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_NE(status.error_message().find("missing"), std::string::npos);
}

TEST_F(BlobCheckpointTest, TheDashboardServesAFileInPiecesAndRefusesADamagedOne) {
  options().http_listen = "127.0.0.1:0";
  StartServer();
  const int port = server_->http_port();
  auto [job, worker_id] = LeasedJob();
  const std::string payload = Payload((5 << 20) + 12'345, 'h');  // six 1 MiB pieces
  ASSERT_TRUE(Upload(worker_id, job, 1, 100, payload, 1 << 20).ok());
  const std::string url = "/api/v1/jobs/" + job + "/checkpoints/100";
  HttpConnection connection(port);
  for (int round = 0; round < 2; ++round) {  // the connection stays usable after a streamed body
    HttpAnswer download = connection.Get(url);
    ASSERT_EQ(download.status, 200) << download.error << download.body.substr(0, 200);
    EXPECT_EQ(download.headers["content-length"], std::to_string(payload.size()));
    EXPECT_EQ(download.headers["x-checkpoint-sha256"], Sha256Hex(payload));
    EXPECT_TRUE(download.body == payload) << "round " << round;
  }
  EXPECT_EQ(connection.Get("/api/v1/jobs/" + job).status, 200);

  // Damaged: refused before any byte of it is sent, naming the file.
  {
    std::fstream f(FileOf(payload), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3'000'000);
    f.put('!');
  }
  HttpAnswer damaged = HttpGet(port, url);
  EXPECT_EQ(damaged.status, 500);
  EXPECT_NE(damaged.body.find(FileOf(payload)), std::string::npos) << damaged.body;
  EXPECT_EQ(damaged.headers["content-type"], "application/json");
}

TEST_F(BlobCheckpointTest, RetentionRemovesOldFilesAndResumeUsesTheNewest) {
  StartServer();
  auto [job, worker_id] = LeasedJob();
  ASSERT_TRUE(Upload(worker_id, job, 1, 100, Payload(1000, '1')).ok());
  ASSERT_TRUE(Upload(worker_id, job, 1, 200, Payload(1000, '2')).ok());
  ASSERT_TRUE(Upload(worker_id, job, 1, 300, Payload(1000, '3')).ok());
  EXPECT_FALSE(fs::exists(FileOf(Payload(1000, '1'))));  // the default keeps the newest two
  EXPECT_EQ(CountFiles(), 2);
  ASSERT_TRUE(Complete(worker_id, job, 1, v1::JOB_STATE_QUEUED, "drain").ok());
  const auto leases = Acquire(RegisterWorker("other"));
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].resume_step(), 300);
  std::string downloaded;
  ASSERT_TRUE(Download(job, 0, &downloaded).ok());
  EXPECT_EQ(downloaded, Payload(1000, '3'));
}

TEST_F(BlobCheckpointTest, SweepRetentionKeepsTheLastKAndDeleteSweepRemovesTheFiles) {
  StartServer();
  v1::CreateSweepRequest request;
  request.set_request_id("sweep-1");
  request.set_name("kept");
  *request.mutable_base() = TinySpec();
  request.mutable_axes()->add_nonzeros(100'000);
  request.mutable_axes()->add_sparsities(0.5);
  request.mutable_axes()->add_tokens(4096);
  request.mutable_checkpoint_retention()->set_keep_last(-1);
  v1::CreateSweepResponse response;
  grpc::Status status = client().CreateSweep(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("checkpoint_retention.keep_last"), std::string::npos)
      << status.error_message();
  request.mutable_checkpoint_retention()->set_keep_last(3);
  status = client().CreateSweep(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.sweep().checkpoint_retention().keep_last(), 3);
  ASSERT_EQ(response.sweep().job_ids_size(), 1);
  const std::string job = response.sweep().job_ids(0);
  const std::string w = RegisterWorker("w");
  ASSERT_EQ(Acquire(w).size(), 1u);
  for (int step = 1; step <= 5; ++step) {
    ASSERT_TRUE(Upload(w, job, 1, step * 10, Payload(500, static_cast<char>('a' + step))).ok());
  }
  v1::ListCheckpointsRequest list;
  list.set_job_id(job);
  v1::ListCheckpointsResponse listed;
  ASSERT_TRUE(client().ListCheckpoints(Context().get(), list, &listed).ok());
  ASSERT_EQ(listed.checkpoints_size(), 3);
  EXPECT_EQ(listed.checkpoints(0).step(), 30);
  EXPECT_EQ(listed.checkpoints(2).step(), 50);
  EXPECT_EQ(CountFiles(), 3);
  // The job ends; its final checkpoint stays; deleting the sweep deletes the job and its files.
  ASSERT_TRUE(Complete(w, job, 1, v1::JOB_STATE_SUCCEEDED, "done").ok());
  std::string final_bytes;
  ASSERT_TRUE(Download(job, 0, &final_bytes).ok());
  EXPECT_EQ(final_bytes, Payload(500, static_cast<char>('a' + 5)));
  v1::DeleteSweepRequest del;
  del.set_request_id("del-1");
  del.set_id(response.sweep().id());
  v1::DeleteSweepResponse deleted;
  status = client().DeleteSweep(Context().get(), del, &deleted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(CountFiles(), 0);
}

TEST_F(BlobCheckpointTest, KillNineMidUploadLeavesNoHalfFileAndNoRowWithoutAFile) {
  auto start = [&] {
    auto process = CoordinatorProcess::Start(
        db_path(), {"--lease-ttl-ms", "60000", "--restart-grace-ms", "60000", "--log-level",
                    "warning", "--checkpoint-dir", blob_dir_});
    ASSERT_TRUE(process.ok()) << process.status();
    process_ = std::move(*process);
    Connect(process_->address());
  };
  start();
  auto [job, worker_id] = LeasedJob();
  const std::string kept = Payload(100'000, 'k');
  ASSERT_TRUE(Upload(worker_id, job, 1, 100, kept).ok());
  {
    // Half of a 4 MiB upload, then the coordinator dies.
    const std::string next = Payload(4 << 20, 'n');
    auto ctx = Context();
    v1::UploadCheckpointResponse response;
    auto writer = worker().UploadCheckpoint(ctx.get(), &response);
    v1::CheckpointUpload first;
    first.set_worker_id(worker_id);
    first.mutable_info()->set_job_id(job);
    first.mutable_info()->set_attempt(1);
    first.mutable_info()->set_step(200);
    first.mutable_info()->set_size_bytes(static_cast<int64_t>(next.size()));
    first.mutable_info()->set_sha256(Sha256Hex(next));
    ASSERT_TRUE(writer->Write(first));
    for (size_t at = 0; at < next.size() / 2; at += 256 << 10) {
      v1::CheckpointUpload chunk;
      chunk.set_data(next.substr(at, 256 << 10));
      ASSERT_TRUE(writer->Write(chunk));
    }
    // Wait until staged bytes reached the temporary file, so the crash leaves one behind.
    for (int i = 0; i < 200 && fs::is_empty(blob_dir_ + "/tmp"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_FALSE(fs::is_empty(blob_dir_ + "/tmp"));
    CrashServerProcess();
    EXPECT_FALSE(fs::exists(FileOf(next)));  // never under its final name
  }
  start();
  EXPECT_TRUE(fs::is_empty(blob_dir_ + "/tmp"));  // the start-up sweep removed the leftover
  EXPECT_EQ(CountFiles(), 1);
  std::string downloaded;
  v1::CheckpointInfo info;
  grpc::Status status = Download(job, 0, &downloaded, &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.step(), 100);
  EXPECT_EQ(downloaded, kept);
  CrashServerProcess();
}

}  // namespace
}  // namespace sparsescale::coordinator::testing
