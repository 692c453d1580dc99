// Job logs over real gRPC: ReportLogs (fenced, idempotent by offset, bounded), StreamJobLogs
// (stored and followed), Job.log_tail of a failed job, and resumed checkpoint downloads.
#include "tests/coordinator/coordinator_fixture.h"

namespace sparsescale::coordinator::testing {
namespace {

class LogsTest : public CoordinatorFixture {
 protected:
  void SetUp() override {
    CoordinatorFixture::SetUp();
    StartServer();
    job_id_ = Submit(TinySpec(), "s").job().id();
    worker_id_ = RegisterWorker("w");
    ASSERT_EQ(Acquire(worker_id_).size(), 1u);
  }

  grpc::Status SendLog(int64_t offset, const std::string& data, int attempt = 1,
                       int64_t keep_bytes = 0, v1::ReportLogsResponse* out = nullptr) {
    v1::ReportLogsRequest request;
    request.set_worker_id(worker_id_);
    request.set_job_id(job_id_);
    request.set_attempt(attempt);
    request.set_offset(offset);
    request.set_data(data);
    request.set_keep_bytes(keep_bytes);
    v1::ReportLogsResponse response;
    grpc::Status status = worker().ReportLogs(Context().get(), request, &response);
    if (out != nullptr) {
      *out = response;
    }
    return status;
  }

  // The whole stored log of `attempt` (0 = latest), without following.
  grpc::Status ReadLog(int attempt, std::string* text, int64_t* dropped = nullptr) {
    v1::StreamJobLogsRequest request;
    request.set_job_id(job_id_);
    request.set_attempt(attempt);
    auto ctx = Context();
    auto reader = client().StreamJobLogs(ctx.get(), request);
    v1::LogChunk chunk;
    text->clear();
    while (reader->Read(&chunk)) {
      text->append(chunk.data());
      if (dropped != nullptr) {
        *dropped += chunk.dropped_bytes();
      }
    }
    return reader->Finish();
  }

  void FailJob(const std::string& error) {
    v1::CompleteJobRequest request;
    request.set_request_id("fail");
    request.set_worker_id(worker_id_);
    request.set_job_id(job_id_);
    request.set_attempt(1);
    request.set_outcome(v1::JOB_STATE_FAILED);
    request.set_failure(v1::FAILURE_CLASS_JOB);
    request.set_error(error);
    v1::CompleteJobResponse response;
    ASSERT_TRUE(worker().CompleteJob(Context().get(), request, &response).ok());
  }

  std::string job_id_;
  std::string worker_id_;
};

TEST_F(LogsTest, ReportedChunksStreamBackInOrder) {
  v1::ReportLogsResponse response;
  ASSERT_TRUE(SendLog(0, "step 1 loss 5.0\n", 1, 0, &response).ok());
  EXPECT_EQ(response.stored_through(), 16);
  ASSERT_TRUE(SendLog(16, "step 2 loss 4.9\n").ok());
  std::string text;
  ASSERT_TRUE(ReadLog(0, &text).ok());
  EXPECT_EQ(text, "step 1 loss 5.0\nstep 2 loss 4.9\n");
}

TEST_F(LogsTest, RetriedChunkIsStoredOnce) {
  ASSERT_TRUE(SendLog(0, "abc\n").ok());
  v1::ReportLogsResponse response;
  ASSERT_TRUE(SendLog(0, "abc\n", 1, 0, &response).ok());
  EXPECT_EQ(response.stored_through(), 4);
  std::string text;
  ASSERT_TRUE(ReadLog(1, &text).ok());
  EXPECT_EQ(text, "abc\n");
}

TEST_F(LogsTest, PastTheWorkersBoundTheTailIsKeptAndTheDropIsReported) {
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(SendLog(i * 4, "ab" + std::to_string(i) + "\n", 1, 8).ok());
  }
  std::string text;
  int64_t dropped = 0;
  ASSERT_TRUE(ReadLog(1, &text, &dropped).ok());
  EXPECT_EQ(text, "ab6\nab7\n");
  EXPECT_EQ(dropped, 24);
}

TEST_F(LogsTest, ChunkFromAStaleAttemptIsRefused) {
  ASSERT_TRUE(SendLog(0, "first attempt\n").ok());
  AdvanceClockMs(1000);  // the lease TTL: attempt 1 is over
  grpc::Status late = SendLog(14, "late\n");
  EXPECT_EQ(late.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << late.error_message();
  std::string text;
  ASSERT_TRUE(ReadLog(1, &text).ok());
  EXPECT_EQ(text, "first attempt\n");
}

TEST_F(LogsTest, BadRequestsNameTheField) {
  grpc::Status s = SendLog(-1, "x");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("offset:", 0), 0u) << s.error_message();
  s = SendLog(0, "x", 1, int64_t{65} << 20);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("keep_bytes:", 0), 0u) << s.error_message();
  std::string text;
  s = ReadLog(-2, &text);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("attempt:", 0), 0u) << s.error_message();
  s = ReadLog(7, &text);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_NE(s.error_message().find("no attempt 7"), std::string::npos) << s.error_message();
  job_id_ = "no-such-job";
  EXPECT_EQ(ReadLog(0, &text).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(LogsTest, FollowStreamsNewChunksUntilTheAttemptEnds) {
  ASSERT_TRUE(SendLog(0, "one\n").ok());
  v1::StreamJobLogsRequest request;
  request.set_job_id(job_id_);
  request.set_follow(true);
  auto ctx = Context();
  auto reader = client().StreamJobLogs(ctx.get(), request);
  v1::LogChunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  EXPECT_EQ(chunk.data(), "one\n");
  EXPECT_EQ(chunk.attempt(), 1);
  ASSERT_TRUE(SendLog(4, "two\n").ok());
  ASSERT_TRUE(reader->Read(&chunk));
  EXPECT_EQ(chunk.data(), "two\n");
  EXPECT_EQ(chunk.offset(), 4);
  ASSERT_TRUE(Complete(worker_id_, job_id_, 1, v1::JOB_STATE_SUCCEEDED, "c").ok());
  EXPECT_FALSE(reader->Read(&chunk));
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(LogsTest, FailedJobShowsItsLastLogLinesInGetJob) {
  std::string log;
  for (int i = 1; i <= 30; ++i) {
    log += "line " + std::to_string(i) + "\n";
  }
  ASSERT_TRUE(SendLog(0, log).ok());
  EXPECT_EQ(GetJob(job_id_).log_tail(), "");  // only for failed jobs
  FailJob("loss diverged");
  const v1::Job job = GetJob(job_id_);
  ASSERT_EQ(job.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(job.log_tail().rfind("line 11\n", 0), 0u) << job.log_tail();
  EXPECT_NE(job.log_tail().find("line 30\n"), std::string::npos);
  EXPECT_EQ(job.log_tail().find("line 10\n"), std::string::npos);
}

TEST_F(LogsTest, DownloadFromAnOffsetSendsTheRestAndTheWholeFilesInfo) {
  std::string payload(5000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<char>(i * 7);
  }
  ASSERT_TRUE(Upload(worker_id_, job_id_, 1, 10, payload, 1000).ok());
  v1::DownloadCheckpointRequest request;
  request.set_job_id(job_id_);
  request.set_offset(2500);
  auto ctx = Context();
  auto reader = client().DownloadCheckpoint(ctx.get(), request);
  v1::CheckpointChunk chunk;
  std::string rest;
  v1::CheckpointInfo info;
  while (reader->Read(&chunk)) {
    if (chunk.has_info()) {
      info = chunk.info();
    }
    rest += chunk.data();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(rest, payload.substr(2500));
  EXPECT_EQ(info.size_bytes(), 5000);

  request.set_offset(5001);
  auto ctx2 = Context();
  auto past = client().DownloadCheckpoint(ctx2.get(), request);
  while (past->Read(&chunk)) {
  }
  grpc::Status status = past->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE) << status.error_message();
}

}  // namespace
}  // namespace sparsescale::coordinator::testing
