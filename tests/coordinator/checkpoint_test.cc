// Checkpoint uploads are verified (size and SHA-256) before they replace the previous one.
#include "common/sha256.h"
#include "tests/coordinator/coordinator_fixture.h"

namespace sparsescale::coordinator::testing {
namespace {

class CheckpointTest : public CoordinatorFixture {
 protected:
  void SetUp() override {
    CoordinatorFixture::SetUp();
    StartServer();
    job_id_ = Submit(TinySpec(), "s").job().id();
    worker_id_ = RegisterWorker("w");
    ASSERT_EQ(Acquire(worker_id_).size(), 1u);
  }

  static std::string Payload(size_t bytes, char seed) {
    std::string payload(bytes, '\0');
    for (size_t i = 0; i < bytes; ++i) {
      payload[i] = static_cast<char>(seed + i * 31);
    }
    return payload;
  }

  void ExpectLatest(int64_t step, const std::string& payload) {
    std::string downloaded;
    v1::CheckpointInfo info;
    ASSERT_TRUE(Download(job_id_, 0, &downloaded, &info).ok());
    EXPECT_EQ(info.step(), step);
    EXPECT_EQ(info.sha256(), Sha256Hex(payload));
    EXPECT_EQ(downloaded, payload);
    EXPECT_EQ(GetJob(job_id_).checkpoint_step(), step);
  }

  std::string job_id_;
  std::string worker_id_;
};

TEST_F(CheckpointTest, UploadedCheckpointDownloadsByteForByte) {
  const std::string payload = Payload(3 << 20, 'a');
  ASSERT_TRUE(Upload(worker_id_, job_id_, 1, 100, payload, 1 << 20).ok());
  ExpectLatest(100, payload);
  std::string at_step;
  ASSERT_TRUE(Download(job_id_, 100, &at_step).ok());
  EXPECT_EQ(at_step, payload);
}

TEST_F(CheckpointTest, CorruptUploadIsRefusedAndThePreviousStaysUsable) {
  const std::string good = Payload(50'000, 'g');
  ASSERT_TRUE(Upload(worker_id_, job_id_, 1, 100, good).ok());
  std::string corrupt = Payload(50'000, 'h');
  grpc::Status status =
      Upload(worker_id_, job_id_, 1, 200, corrupt, 1000, Sha256Hex(corrupt + "x"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS) << status.error_message();
  EXPECT_NE(status.error_message().find("sha256"), std::string::npos);
  ExpectLatest(100, good);
}

TEST_F(CheckpointTest, TruncatedUploadIsRefusedAndThePreviousStaysUsable) {
  const std::string good = Payload(50'000, 'g');
  ASSERT_TRUE(Upload(worker_id_, job_id_, 1, 100, good).ok());
  const std::string next = Payload(50'000, 'n');
  grpc::Status status = Upload(worker_id_, job_id_, 1, 200, next.substr(0, 30'000), 1000,
                               Sha256Hex(next), static_cast<int64_t>(next.size()));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS) << status.error_message();
  EXPECT_NE(status.error_message().find("truncated"), std::string::npos);
  ExpectLatest(100, good);
}

TEST_F(CheckpointTest, OverlongUploadIsRefused) {
  const std::string payload = Payload(10'000, 'o');
  grpc::Status status =
      Upload(worker_id_, job_id_, 1, 100, payload, 1000, Sha256Hex(payload), 5000);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::string none;
  EXPECT_EQ(Download(job_id_, 0, &none).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(CheckpointTest, NewerCheckpointReplacesOlderAndResumeUsesIt) {
  ASSERT_TRUE(Upload(worker_id_, job_id_, 1, 100, Payload(1000, '1')).ok());
  ASSERT_TRUE(Upload(worker_id_, job_id_, 1, 200, Payload(1000, '2')).ok());
  ASSERT_TRUE(Upload(worker_id_, job_id_, 1, 300, Payload(1000, '3')).ok());
  ExpectLatest(300, Payload(1000, '3'));
  v1::ListCheckpointsRequest list;
  list.set_job_id(job_id_);
  v1::ListCheckpointsResponse listed;
  ASSERT_TRUE(client().ListCheckpoints(Context().get(), list, &listed).ok());
  ASSERT_EQ(listed.checkpoints_size(), 2);  // the newest two are kept
  EXPECT_EQ(listed.checkpoints(0).step(), 200);
  // Release the lease (drain): the next attempt resumes from step 300.
  ASSERT_TRUE(Complete(worker_id_, job_id_, 1, v1::JOB_STATE_QUEUED, "drain").ok());
  const auto leases = Acquire(RegisterWorker("other"));
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].resume_step(), 300);
  EXPECT_EQ(leases[0].attempt(), 2);
}

}  // namespace
}  // namespace sparsescale::coordinator::testing
