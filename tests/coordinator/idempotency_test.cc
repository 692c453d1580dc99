// Every mutating call is idempotent by request id; jobs and sweep cells are content-addressed.
#include <set>

#include "tests/coordinator/coordinator_fixture.h"

namespace sparsescale::coordinator::testing {
namespace {

class IdempotencyTest : public CoordinatorFixture {
 protected:
  void SetUp() override {
    CoordinatorFixture::SetUp();
    StartServer();
  }

  int CountJobs() {
    v1::ListJobsRequest request;
    request.set_page_size(1000);
    v1::ListJobsResponse response;
    EXPECT_TRUE(client().ListJobs(Context().get(), request, &response).ok());
    return response.jobs_size();
  }

  v1::CreateSweepResponse CreateSweep(const std::string& request_id,
                                      const std::vector<double>& sparsities,
                                      grpc::Status* status_out = nullptr) {
    v1::CreateSweepRequest request;
    request.set_request_id(request_id);
    request.set_name("study");
    *request.mutable_base() = TinySpec();
    request.mutable_axes()->add_nonzeros(100'000);
    request.mutable_axes()->add_nonzeros(400'000);
    for (double s : sparsities) {
      request.mutable_axes()->add_sparsities(s);
    }
    request.mutable_axes()->add_tokens(8192);
    v1::CreateSweepResponse response;
    grpc::Status status = client().CreateSweep(Context().get(), request, &response);
    if (status_out != nullptr) {
      *status_out = status;
    } else {
      EXPECT_TRUE(status.ok()) << status.error_message();
    }
    return response;
  }
};

TEST_F(IdempotencyTest, SameRequestIdTwiceGivesOneJobAndTheSameAnswer) {
  const v1::SubmitJobResponse first = Submit(TinySpec(), "req-1");
  const v1::SubmitJobResponse again = Submit(TinySpec(), "req-1");
  EXPECT_TRUE(first.created());
  EXPECT_EQ(first.SerializeAsString(), again.SerializeAsString());
  EXPECT_EQ(CountJobs(), 1);
}

TEST_F(IdempotencyTest, SameSpecUnderANewRequestIdFindsTheExistingJob) {
  const v1::SubmitJobResponse first = Submit(TinySpec(), "req-1");
  v1::JobSpec renamed = TinySpec();
  renamed.set_name("a different name is not a different job");
  const v1::SubmitJobResponse second = Submit(renamed, "req-2");
  EXPECT_FALSE(second.created());
  EXPECT_EQ(second.job().id(), first.job().id());
  EXPECT_EQ(CountJobs(), 1);
}

TEST_F(IdempotencyTest, RequestIdReusedForADifferentRequestIsRejected) {
  Submit(TinySpec(), "req-1");
  v1::SubmitJobRequest request;
  request.set_request_id("req-1");
  *request.mutable_spec() = TinySpec(4096, /*seed=*/99);
  v1::SubmitJobResponse response;
  grpc::Status status = client().SubmitJob(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_NE(status.error_message().find("request_id"), std::string::npos);
  EXPECT_EQ(CountJobs(), 1);
}

TEST_F(IdempotencyTest, ConcurrentDuplicatesOfOneRequestCreateOneJob) {
  std::vector<std::thread> threads;
  std::vector<v1::SubmitJobResponse> responses(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { responses[i] = Submit(TinySpec(), "same"); });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (const auto& r : responses) {
    EXPECT_EQ(r.SerializeAsString(), responses[0].SerializeAsString());
  }
  EXPECT_EQ(CountJobs(), 1);
}

TEST_F(IdempotencyTest, SameSweepTwiceAddsNoCells) {
  const auto first = CreateSweep("sweep-1", {0.0, 0.5});
  EXPECT_EQ(first.jobs_created(), 4);
  EXPECT_EQ(first.sweep().job_ids_size(), 4);
  const auto replay = CreateSweep("sweep-1", {0.0, 0.5});
  EXPECT_EQ(replay.SerializeAsString(), first.SerializeAsString());
  const auto resubmitted = CreateSweep("sweep-2", {0.0, 0.5});
  EXPECT_EQ(resubmitted.jobs_created(), 0);
  EXPECT_EQ(resubmitted.jobs_existing(), 4);
  EXPECT_EQ(resubmitted.sweep().id(), first.sweep().id());
  EXPECT_EQ(CountJobs(), 4);
}

TEST_F(IdempotencyTest, AddingASparsityLevelCreatesOnlyTheNewCells) {
  const auto first = CreateSweep("sweep-1", {0.0, 0.5});
  const auto wider = CreateSweep("sweep-2", {0.0, 0.5, 0.75});
  EXPECT_EQ(wider.jobs_created(), 2);
  EXPECT_EQ(wider.jobs_existing(), 4);
  EXPECT_EQ(wider.sweep().job_ids_size(), 6);
  const std::set<std::string> old_ids(first.sweep().job_ids().begin(),
                                      first.sweep().job_ids().end());
  int shared = 0;
  for (const std::string& id : wider.sweep().job_ids()) {
    shared += old_ids.count(id);
  }
  EXPECT_EQ(shared, 4);
  EXPECT_EQ(CountJobs(), 6);
}

TEST_F(IdempotencyTest, SweepCellsDeriveWidthFromNonzerosAndSparsity) {
  const auto sweep = CreateSweep("sweep-1", {0.0, 0.75});
  std::set<int> widths;
  for (const std::string& id : sweep.sweep().job_ids()) {
    const v1::Job job = GetJob(id);
    const auto& model = job.spec().model();
    EXPECT_EQ(model.width() % model.heads(), 0);
    const double nonzeros = 12.0 * model.width() * model.width() * model.layers() *
                            (1.0 - job.spec().pruning().sparsity());
    const double target = nonzeros < 250'000 ? 100'000 : 400'000;
    EXPECT_NEAR(nonzeros / target, 1.0, 0.25) << model.width();
    widths.insert(model.width());
  }
  // N=100k dense -> d=64; N=100k at S=0.75 -> 128; N=400k dense -> 128; at S=0.75 -> 260.
  EXPECT_EQ(widths, (std::set<int>{64, 128, 260}));
}

TEST_F(IdempotencyTest, CompleteJobRetriedAfterALostAnswerIsReplayed) {
  const std::string job_id = Submit(TinySpec(), "r").job().id();
  const std::string w = RegisterWorker("w");
  ASSERT_EQ(Acquire(w).size(), 1u);
  ASSERT_TRUE(Complete(w, job_id, 1, v1::JOB_STATE_SUCCEEDED, "done-1").ok());
  EXPECT_TRUE(Complete(w, job_id, 1, v1::JOB_STATE_SUCCEEDED, "done-1").ok());
  EXPECT_EQ(GetJob(job_id).state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(IdempotencyTest, RegisterWorkerRetryGetsTheSameWorkerId) {
  EXPECT_EQ(RegisterWorker("w"), RegisterWorker("w"));
}

}  // namespace
}  // namespace sparsescale::coordinator::testing
