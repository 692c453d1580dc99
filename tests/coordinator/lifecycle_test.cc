// The job lifecycle over real gRPC: retry, priority, sweep cancel, job and sweep delete. Each
// wrong state answers FAILED_PRECONDITION naming the state; each call is idempotent by
// request id.
#include <google/protobuf/util/message_differencer.h>

#include <string>
#include <vector>

#include "tests/coordinator/coordinator_fixture.h"

namespace sparsescale::coordinator::testing {
namespace {

class LifecycleTest : public CoordinatorFixture {
 protected:
  void SetUp() override {
    CoordinatorFixture::SetUp();
    StartServer();
  }

  std::string SubmitSeed(uint64_t seed, int priority = 0) {
    return Submit(TinySpec(4096, seed), "submit-" + std::to_string(seed), priority).job().id();
  }

  grpc::Status Retry(const std::string& id, const std::string& request_id, v1::Job* job = nullptr) {
    v1::RetryJobRequest request;
    request.set_request_id(request_id);
    request.set_id(id);
    v1::Job response;
    grpc::Status status = client().RetryJob(Context().get(), request, &response);
    if (job != nullptr) {
      *job = response;
    }
    return status;
  }

  grpc::Status SetPriority(const std::string& id, int priority, const std::string& request_id) {
    v1::SetJobPriorityRequest request;
    request.set_request_id(request_id);
    request.set_id(id);
    request.set_priority(priority);
    v1::Job response;
    return client().SetJobPriority(Context().get(), request, &response);
  }

  grpc::Status DeleteJob(const std::string& id, const std::string& request_id) {
    v1::DeleteJobRequest request;
    request.set_request_id(request_id);
    request.set_id(id);
    v1::DeleteJobResponse response;
    return client().DeleteJob(Context().get(), request, &response);
  }

  grpc::Status CancelSweep(const std::string& id, const std::string& request_id,
                           v1::CancelSweepResponse* response) {
    v1::CancelSweepRequest request;
    request.set_request_id(request_id);
    request.set_id(id);
    return client().CancelSweep(Context().get(), request, response);
  }

  grpc::Status DeleteSweep(const std::string& id, const std::string& request_id,
                           v1::DeleteSweepResponse* response) {
    v1::DeleteSweepRequest request;
    request.set_request_id(request_id);
    request.set_id(id);
    return client().DeleteSweep(Context().get(), request, response);
  }

  // A sweep of three cells (three seeds).
  v1::Sweep CreateSweep() {
    v1::CreateSweepRequest request;
    request.set_request_id("sweep-1");
    request.set_name("lifecycle");
    *request.mutable_base() = TinySpec();
    request.mutable_axes()->add_nonzeros(100'000);
    request.mutable_axes()->add_sparsities(0.5);
    request.mutable_axes()->add_tokens(4096);
    for (uint64_t seed : {1, 2, 3}) {
      request.mutable_axes()->add_seeds(seed);
    }
    v1::CreateSweepResponse response;
    grpc::Status status = client().CreateSweep(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.sweep();
  }

  // Job `id` leased by a new worker, `steps` points reported, a checkpoint at `checkpoint`
  // (0: none), and failed by the job's own error.
  void RunAndFail(const std::string& id, int steps, int64_t checkpoint) {
    const std::string w = RegisterWorker("w-" + id);
    std::vector<v1::Lease> leases = Acquire(w);
    ASSERT_EQ(leases.size(), 1u);
    ASSERT_EQ(leases[0].job_id(), id);
    ASSERT_TRUE(Report(w, id, leases[0].attempt(), MakePoints(1, steps)).ok());
    if (checkpoint > 0) {
      ASSERT_TRUE(Upload(w, id, leases[0].attempt(), checkpoint, "weights").ok());
    }
    ASSERT_TRUE(Complete(w, id, leases[0].attempt(), v1::JOB_STATE_FAILED, "fail-" + id).ok());
    ASSERT_EQ(GetJob(id).state(), v1::JOB_STATE_FAILED);
  }
};

void ExpectRefused(const grpc::Status& status, grpc::StatusCode code, const std::string& says) {
  EXPECT_EQ(status.error_code(), code) << status.error_message();
  EXPECT_NE(status.error_message().find(says), std::string::npos) << status.error_message();
}

TEST_F(LifecycleTest, RetriedFailedJobResumesFromItsCheckpointWithTheLaterCurveSuperseded) {
  const std::string id = SubmitSeed(1);
  RunAndFail(id, 20, 10);
  v1::Job retried;
  ASSERT_TRUE(Retry(id, "retry-1", &retried).ok());
  EXPECT_EQ(retried.id(), id);
  EXPECT_EQ(retried.state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(retried.error(), "");
  EXPECT_EQ(Curve(id).size(), 10u);
  const std::string w = RegisterWorker("again");
  std::vector<v1::Lease> leases = Acquire(w);
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].attempt(), 2);
  EXPECT_EQ(leases[0].resume_step(), 10);
  ASSERT_TRUE(Report(w, id, 2, MakePoints(11, 22)).ok());
  ASSERT_TRUE(Complete(w, id, 2, v1::JOB_STATE_SUCCEEDED, "done").ok());
  EXPECT_EQ(GetJob(id).state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(Curve(id).size(), 32u);
}

TEST_F(LifecycleTest, RetryIsRefusedNamingTheStateForQueuedRunningAndSucceededJobs) {
  const std::string id = SubmitSeed(1);
  ExpectRefused(Retry(id, "r1"), grpc::StatusCode::FAILED_PRECONDITION, "is queued");
  const std::string w = RegisterWorker("w");
  ASSERT_EQ(Acquire(w).size(), 1u);
  ExpectRefused(Retry(id, "r2"), grpc::StatusCode::FAILED_PRECONDITION, "is running");
  ASSERT_TRUE(Complete(w, id, 1, v1::JOB_STATE_SUCCEEDED, "c").ok());
  ExpectRefused(Retry(id, "r3"), grpc::StatusCode::FAILED_PRECONDITION, "is succeeded");
  ExpectRefused(Retry("no-such-job", "r4"), grpc::StatusCode::NOT_FOUND, "no-such-job");
  ExpectRefused(Retry(id, ""), grpc::StatusCode::INVALID_ARGUMENT, "request_id");
}

TEST_F(LifecycleTest, RetryWithTheSameRequestIdAnswersTheSameAndQueuesTheJobOnce) {
  const std::string id = SubmitSeed(1);
  RunAndFail(id, 5, 0);
  v1::Job first;
  v1::Job again;
  ASSERT_TRUE(Retry(id, "retry-1", &first).ok());
  ASSERT_TRUE(Retry(id, "retry-1", &again).ok());
  EXPECT_EQ(first.SerializeAsString(), again.SerializeAsString());
  ExpectRefused(Retry("other", "retry-1"), grpc::StatusCode::ALREADY_EXISTS, "retry-1");
  // A new request id is a new retry, and the job is queued now.
  ExpectRefused(Retry(id, "retry-2"), grpc::StatusCode::FAILED_PRECONDITION, "is queued");
  const std::string w = RegisterWorker("w2", 2);
  EXPECT_EQ(Acquire(w).size(), 1u);
}

TEST_F(LifecycleTest, RetriedJobCancelledWhileRunningGetsTheNextAttemptAndFencesTheOldOne) {
  const std::string id = SubmitSeed(1);
  const std::string w = RegisterWorker("w");
  ASSERT_EQ(Acquire(w).size(), 1u);
  ASSERT_TRUE(Report(w, id, 1, MakePoints(1, 8)).ok());
  v1::CancelJobRequest cancel;
  cancel.set_request_id("cancel-1");
  cancel.set_id(id);
  v1::Job cancelled;
  ASSERT_TRUE(client().CancelJob(Context().get(), cancel, &cancelled).ok());
  ASSERT_TRUE(Complete(w, id, 1, v1::JOB_STATE_CANCELLED, "stopped").ok());
  ASSERT_EQ(GetJob(id).state(), v1::JOB_STATE_CANCELLED);
  ASSERT_TRUE(Retry(id, "retry-1").ok());
  EXPECT_TRUE(Curve(id).empty());  // no checkpoint: the whole old curve is superseded
  std::vector<v1::Lease> leases = Acquire(w);
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].attempt(), 2);
  EXPECT_EQ(leases[0].resume_step(), 0);
  EXPECT_EQ(Report(w, id, 1, MakePoints(9, 2)).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);  // the old attempt stays fenced
  EXPECT_TRUE(Heartbeat(w, {{id, 2}}).orders().empty());  // the cancel flag was reset
}

TEST_F(LifecycleTest, ResubmittingAFailedJobStillReturnsItUnchanged) {
  const std::string id = SubmitSeed(1);
  RunAndFail(id, 5, 0);
  const v1::SubmitJobResponse again = Submit(TinySpec(4096, 1), "submit-again");
  EXPECT_FALSE(again.created());
  EXPECT_EQ(again.job().state(), v1::JOB_STATE_FAILED);
}

TEST_F(LifecycleTest, RaisingAQueuedJobsPriorityMakesItTheNextLeaseAndSurvivesARestart) {
  const std::string a = SubmitSeed(1);
  SubmitSeed(2);
  const std::string c = SubmitSeed(3);
  ASSERT_TRUE(SetPriority(c, 5, "p1").ok());
  ASSERT_TRUE(SetPriority(c, 5, "p1").ok());  // a replay
  EXPECT_EQ(GetJob(c).priority(), 5);
  StopServer();
  StartServer();
  const std::string w = RegisterWorker("w");
  std::vector<v1::Lease> leases = Acquire(w);
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].job_id(), c);
  ExpectRefused(SetPriority(c, 1, "p2"), grpc::StatusCode::FAILED_PRECONDITION, "is running");
  ExpectRefused(SetPriority(a, 1001, "p3"), grpc::StatusCode::INVALID_ARGUMENT, "priority");
  ASSERT_TRUE(Complete(w, c, 1, v1::JOB_STATE_SUCCEEDED, "done").ok());
  ExpectRefused(SetPriority(c, 1, "p4"), grpc::StatusCode::FAILED_PRECONDITION, "is succeeded");
}

TEST_F(LifecycleTest, CancellingASweepCancelsQueuedJobsAndStopsRunningOnes) {
  const v1::Sweep sweep = CreateSweep();
  ASSERT_EQ(sweep.job_ids_size(), 3);
  const std::string w = RegisterWorker("w");
  std::vector<v1::Lease> leases = Acquire(w);
  ASSERT_EQ(leases.size(), 1u);
  v1::CancelSweepResponse first;
  ASSERT_TRUE(CancelSweep(sweep.id(), "cancel-1", &first).ok());
  EXPECT_EQ(first.jobs_cancelled(), 2);
  EXPECT_EQ(first.jobs_stopping(), 1);
  EXPECT_EQ(first.sweep().jobs_by_state().at("JOB_STATE_CANCELLED"), 2);
  v1::CancelSweepResponse again;
  ASSERT_TRUE(CancelSweep(sweep.id(), "cancel-1", &again).ok());
  // Equal as messages (the jobs_by_state map has no fixed byte order).
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first, again));
  const v1::HeartbeatResponse beat = Heartbeat(w, {{leases[0].job_id(), leases[0].attempt()}});
  ASSERT_EQ(beat.orders_size(), 1);
  EXPECT_EQ(beat.orders(0).kind(), v1::ORDER_KIND_CANCEL);
  v1::CancelSweepResponse missing;
  ExpectRefused(CancelSweep("no-such-sweep", "cancel-2", &missing), grpc::StatusCode::NOT_FOUND,
                "no-such-sweep");
}

TEST_F(LifecycleTest, DeletingAJobNeedsAFinalStateAndFreesItsIdForANewSubmission) {
  const std::string id = SubmitSeed(1);
  ExpectRefused(DeleteJob(id, "d1"), grpc::StatusCode::FAILED_PRECONDITION, "is queued");
  RunAndFail(id, 12, 6);
  ASSERT_TRUE(DeleteJob(id, "d2").ok());
  ASSERT_TRUE(DeleteJob(id, "d2").ok());  // a replay of the same request
  ExpectRefused(DeleteJob(id, "d3"), grpc::StatusCode::NOT_FOUND, id);
  v1::GetJobRequest get;
  get.set_id(id);
  v1::Job gone;
  EXPECT_EQ(client().GetJob(Context().get(), get, &gone).error_code(), grpc::StatusCode::NOT_FOUND);
  const v1::SubmitJobResponse fresh = Submit(TinySpec(4096, 1), "submit-fresh");
  EXPECT_TRUE(fresh.created());
  EXPECT_EQ(fresh.job().id(), id);
  EXPECT_TRUE(Curve(id).empty());
}

TEST_F(LifecycleTest, DeletingASweepWaitsUntilItsJobsAreFinal) {
  const v1::Sweep sweep = CreateSweep();
  const std::string w = RegisterWorker("w");
  std::vector<v1::Lease> leases = Acquire(w);
  ASSERT_EQ(leases.size(), 1u);
  v1::DeleteSweepResponse deleted;
  ExpectRefused(DeleteSweep(sweep.id(), "ds1", &deleted), grpc::StatusCode::FAILED_PRECONDITION,
                "is running");
  v1::CancelSweepResponse cancelled;
  ASSERT_TRUE(CancelSweep(sweep.id(), "cs1", &cancelled).ok());
  ASSERT_TRUE(
      Complete(w, leases[0].job_id(), leases[0].attempt(), v1::JOB_STATE_CANCELLED, "c").ok());
  ASSERT_TRUE(DeleteSweep(sweep.id(), "ds2", &deleted).ok());
  EXPECT_EQ(deleted.deleted_job_ids_size(), 3);
  v1::GetSweepRequest get;
  get.set_id(sweep.id());
  v1::Sweep gone;
  EXPECT_EQ(client().GetSweep(Context().get(), get, &gone).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::ListJobsRequest list;
  v1::ListJobsResponse jobs;
  ASSERT_TRUE(client().ListJobs(Context().get(), list, &jobs).ok());
  EXPECT_EQ(jobs.jobs_size(), 0);
}

}  // namespace
}  // namespace sparsescale::coordinator::testing
