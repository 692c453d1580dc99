// The worker protocol end to end over gRPC: leases, long-polls, points, completion, fencing,
// cancellation, requeue with resume from the latest checkpoint, and job watches.
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/version.h"

#include "tests/coordinator/coordinator_fixture.h"

namespace sparsescale::coordinator::testing {
namespace {

class WorkerProtocolTest : public CoordinatorFixture {
 protected:
  void SetUp() override {
    CoordinatorFixture::SetUp();
    StartServer();
  }
};

TEST_F(WorkerProtocolTest, LeasedJobReportsPointsAndSucceeds) {
  const std::string job_id = Submit(TinySpec(), "s").job().id();
  const std::string w = RegisterWorker("w");
  const auto leases = Acquire(w);
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].job_id(), job_id);
  EXPECT_EQ(leases[0].attempt(), 1);
  EXPECT_EQ(leases[0].resume_step(), 0);
  EXPECT_EQ(leases[0].spec().model().width(), 64);
  ASSERT_TRUE(Report(w, job_id, 1, MakePoints(1, 50)).ok());
  ASSERT_TRUE(Report(w, job_id, 1, MakePoints(51, 50)).ok());
  EXPECT_EQ(GetJob(job_id).state(), v1::JOB_STATE_RUNNING);
  ASSERT_TRUE(Complete(w, job_id, 1, v1::JOB_STATE_SUCCEEDED, "c").ok());
  const v1::Job job = GetJob(job_id);
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job.step(), 100);
  EXPECT_DOUBLE_EQ(job.last_eval_loss(), 3.1);
  EXPECT_EQ(Curve(job_id).size(), 100u);
  const auto sampled = Curve(job_id, 10);
  ASSERT_LE(sampled.size(), 10u);
  EXPECT_EQ(sampled.front().step(), 1);
  EXPECT_EQ(sampled.back().step(), 100);
}

TEST_F(WorkerProtocolTest, CompletionCarriesTheNextLeaseAndAReplayReturnsTheSameOne) {
  const std::string first = Submit(TinySpec(4096, 1), "s1").job().id();
  const std::string w = RegisterWorker("w");
  const auto leases = Acquire(w);
  ASSERT_EQ(leases.size(), 1u);
  const std::string second = Submit(TinySpec(4096, 2), "s2").job().id();

  v1::CompleteJobRequest done;
  done.set_request_id("c1");
  done.set_worker_id(w);
  done.set_job_id(first);
  done.set_attempt(1);
  done.set_outcome(v1::JOB_STATE_SUCCEEDED);
  done.set_next_free_slots(1);
  v1::CompleteJobResponse response;
  ASSERT_TRUE(worker().CompleteJob(Context().get(), done, &response).ok());
  ASSERT_EQ(response.leases_size(), 1);
  EXPECT_EQ(response.leases(0).job_id(), second);
  EXPECT_EQ(response.leases(0).attempt(), 1);
  EXPECT_EQ(response.leases(0).spec().seed(), 2u);
  EXPECT_EQ(GetJob(first).state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(GetJob(second).state(), v1::JOB_STATE_RUNNING);

  // A retried completion (its answer was lost) gets the same lease, not a second job.
  const std::string third = Submit(TinySpec(4096, 3), "s3").job().id();
  v1::CompleteJobResponse replay;
  ASSERT_TRUE(worker().CompleteJob(Context().get(), done, &replay).ok());
  ASSERT_EQ(replay.leases_size(), 1);
  EXPECT_EQ(replay.leases(0).job_id(), second);
  EXPECT_EQ(GetJob(third).state(), v1::JOB_STATE_QUEUED);

  // The chain goes on while work is queued; with nothing queued the answer has no lease.
  done.set_request_id("c2");
  done.set_job_id(second);
  v1::CompleteJobResponse next;
  ASSERT_TRUE(worker().CompleteJob(Context().get(), done, &next).ok());
  ASSERT_EQ(next.leases_size(), 1);
  EXPECT_EQ(next.leases(0).job_id(), third);
  done.set_request_id("c3");
  done.set_job_id(third);
  v1::CompleteJobResponse last;
  ASSERT_TRUE(worker().CompleteJob(Context().get(), done, &last).ok());
  EXPECT_EQ(last.leases_size(), 0);
  EXPECT_EQ(GetJob(third).state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(WorkerProtocolTest, ReleaseCannotAskForTheNextLease) {
  const std::string job = Submit(TinySpec(), "s").job().id();
  const std::string w = RegisterWorker("w", /*slots=*/2);
  ASSERT_EQ(Acquire(w).size(), 1u);
  v1::CompleteJobRequest release;
  release.set_request_id("r");
  release.set_worker_id(w);
  release.set_job_id(job);
  release.set_attempt(1);
  release.set_outcome(v1::JOB_STATE_QUEUED);
  release.set_next_free_slots(1);
  v1::CompleteJobResponse response;
  const grpc::Status status = worker().CompleteJob(Context().get(), release, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("next_free_slots"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(GetJob(job).state(), v1::JOB_STATE_RUNNING);
}

TEST_F(WorkerProtocolTest, AcquireLeaseLongPollsUntilAJobArrives) {
  const std::string w = RegisterWorker("w");
  std::vector<v1::Lease> leases;
  std::thread poller([&] { leases = Acquire(w, /*wait_ms=*/5000); });
  // Submit only once the poll is parked, so that the long-poll path (not an immediate grant) is
  // what hands the job out.
  for (int i = 0; i < 5000 && core().parked_lease_polls() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(core().parked_lease_polls(), 1u);
  const std::string job_id = Submit(TinySpec(), "s").job().id();
  poller.join();
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].job_id(), job_id);
}

TEST_F(WorkerProtocolTest, LongPollWithNothingToDoReturnsEmptyAfterTheWait) {
  const std::string w = RegisterWorker("w");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(Acquire(w, 150).empty());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(140));
}

TEST_F(WorkerProtocolTest, HigherPriorityJobIsLeasedFirst) {
  Submit(TinySpec(4096, 1), "low", 0);
  const std::string urgent = Submit(TinySpec(4096, 2), "high", 7).job().id();
  const std::string w = RegisterWorker("w");
  const auto leases = Acquire(w);
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].job_id(), urgent);
}

TEST_F(WorkerProtocolTest, CudaJobIsNotLeasedToACpuWorker) {
  v1::JobSpec spec = TinySpec();
  spec.set_device("cuda");
  const std::string job_id = Submit(spec, "s").job().id();
  EXPECT_TRUE(Acquire(RegisterWorker("cpu")).empty());
  const auto leases = Acquire(RegisterWorker("gpu", 1, "cuda", 1));
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].job_id(), job_id);
}

TEST_F(WorkerProtocolTest, MultiProcessCpuJobNeedsAWorkerWithThatManyFreeSlots) {
  v1::JobSpec spec = TinySpec();
  spec.set_processes(4);
  const std::string job_id = Submit(spec, "dp4").job().id();
  const std::string small = RegisterWorker("small", 2);
  EXPECT_TRUE(Acquire(small).empty());
  const v1::Job waiting = GetJob(job_id);
  EXPECT_EQ(waiting.state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(waiting.unplaceable(),
            "it needs 4 free slots for its 4 CPU ranks; all registered workers together have 2");
  {  // ListJobs says the same of each queued job it returns
    v1::ListJobsRequest request;
    v1::ListJobsResponse response;
    ASSERT_TRUE(client().ListJobs(Context().get(), request, &response).ok());
    ASSERT_EQ(response.jobs_size(), 1);
    EXPECT_EQ(response.jobs(0).unplaceable(), waiting.unplaceable());
  }
  const std::string big = RegisterWorker("big", 5);
  EXPECT_TRUE(GetJob(job_id).unplaceable().empty());
  Submit(TinySpec(4096, 2), "plain-1");
  Submit(TinySpec(4096, 3), "plain-2");
  // The 4 ranks take 4 of the 5 slots: one single-process job beside them, not two.
  const auto leases = Acquire(big);
  ASSERT_EQ(leases.size(), 2u);
  EXPECT_EQ(leases[0].job_id(), job_id);
  EXPECT_TRUE(GetJob(job_id).unplaceable().empty());  // running
}

TEST_F(WorkerProtocolTest, ZombieWorkerIsFencedOffAfterItsLeaseIsReassigned) {
  const std::string job_id = Submit(TinySpec(), "s").job().id();
  const std::string zombie = RegisterWorker("zombie");
  ASSERT_EQ(Acquire(zombie).size(), 1u);
  ASSERT_TRUE(Report(zombie, job_id, 1, MakePoints(1, 10)).ok());
  ASSERT_TRUE(Upload(zombie, job_id, 1, 10, std::string(3000, 'z')).ok());
  // The zombie stops heartbeating; its lease expires and another worker takes the job.
  AdvanceClockMs(999);
  EXPECT_EQ(GetJob(job_id).state(), v1::JOB_STATE_RUNNING);
  AdvanceClockMs(1);
  ASSERT_EQ(GetJob(job_id).state(), v1::JOB_STATE_QUEUED);
  const std::string fresh = RegisterWorker("fresh");
  const auto leases = Acquire(fresh);
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].attempt(), 2);
  EXPECT_EQ(leases[0].resume_step(), 10);
  // Late reports, checkpoints and completion from attempt 1 are all refused.
  grpc::Status late = Report(zombie, job_id, 1, MakePoints(11, 5));
  EXPECT_EQ(late.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(late.error_message().find("attempt"), std::string::npos) << late.error_message();
  EXPECT_EQ(Upload(zombie, job_id, 1, 15, std::string(100, 'x')).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Complete(zombie, job_id, 1, v1::JOB_STATE_SUCCEEDED, "zc").error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // Its heartbeat is answered with ABANDON.
  const auto beat = Heartbeat(zombie, {{job_id, 1}});
  ASSERT_EQ(beat.orders_size(), 1);
  EXPECT_EQ(beat.orders(0).kind(), v1::ORDER_KIND_ABANDON);
  std::string payload;
  ASSERT_TRUE(Download(job_id, 0, &payload).ok());
  EXPECT_EQ(payload, std::string(3000, 'z'));
  EXPECT_EQ(Curve(job_id).size(), 10u);
}

TEST_F(WorkerProtocolTest, RequeuedJobEndsWithOneCleanCurve) {
  const std::string job_id = Submit(TinySpec(), "s").job().id();
  const std::string a = RegisterWorker("a");
  ASSERT_EQ(Acquire(a).size(), 1u);
  ASSERT_TRUE(Report(a, job_id, 1, MakePoints(1, 20)).ok());
  ASSERT_TRUE(Upload(a, job_id, 1, 20, "checkpoint-at-20").ok());
  ASSERT_TRUE(Report(a, job_id, 1, MakePoints(21, 15)).ok());  // lost with the worker
  AdvanceClockMs(1000);                                        // the lease TTL
  ASSERT_EQ(GetJob(job_id).state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(GetJob(job_id).last_failure(), v1::FAILURE_CLASS_INFRA);
  const std::string b = RegisterWorker("b");
  const auto leases = Acquire(b);
  ASSERT_EQ(leases.size(), 1u);
  ASSERT_EQ(leases[0].resume_step(), 20);
  ASSERT_TRUE(Report(b, job_id, 2, MakePoints(20, 31)).ok());  // repeats step 20: dropped
  ASSERT_TRUE(Complete(b, job_id, 2, v1::JOB_STATE_SUCCEEDED, "c").ok());
  const auto curve = Curve(job_id);
  ASSERT_EQ(curve.size(), 50u);
  for (size_t i = 0; i < curve.size(); ++i) {
    EXPECT_EQ(curve[i].step(), static_cast<int64_t>(i) + 1);
  }
}

TEST_F(WorkerProtocolTest, CancelReachesTheRunningJobThroughItsHeartbeat) {
  const std::string job_id = Submit(TinySpec(), "s").job().id();
  const std::string w = RegisterWorker("w");
  ASSERT_EQ(Acquire(w).size(), 1u);
  v1::CancelJobRequest cancel;
  cancel.set_request_id("cancel-1");
  cancel.set_id(job_id);
  v1::Job job;
  ASSERT_TRUE(client().CancelJob(Context().get(), cancel, &job).ok());
  EXPECT_EQ(job.state(), v1::JOB_STATE_RUNNING);
  const auto beat = Heartbeat(w, {{job_id, 1}});
  ASSERT_EQ(beat.orders_size(), 1);
  EXPECT_EQ(beat.orders(0).kind(), v1::ORDER_KIND_CANCEL);
  ASSERT_TRUE(Complete(w, job_id, 1, v1::JOB_STATE_CANCELLED, "c").ok());
  EXPECT_EQ(GetJob(job_id).state(), v1::JOB_STATE_CANCELLED);
}

TEST_F(WorkerProtocolTest, CancelOfAQueuedJobIsImmediate) {
  const std::string job_id = Submit(TinySpec(), "s").job().id();
  v1::CancelJobRequest cancel;
  cancel.set_request_id("cancel-1");
  cancel.set_id(job_id);
  v1::Job job;
  ASSERT_TRUE(client().CancelJob(Context().get(), cancel, &job).ok());
  EXPECT_EQ(job.state(), v1::JOB_STATE_CANCELLED);
  EXPECT_TRUE(Acquire(RegisterWorker("w")).empty());
}

TEST_F(WorkerProtocolTest, JobFailureIsFinalAndInfraFailureIsRetried) {
  const std::string flaky = Submit(TinySpec(4096, 1), "a").job().id();
  const std::string broken = Submit(TinySpec(4096, 2), "b").job().id();
  const std::string w = RegisterWorker("w", 2);
  ASSERT_EQ(Acquire(w).size(), 2u);
  v1::CompleteJobRequest request;
  request.set_request_id("f1");
  request.set_worker_id(w);
  request.set_job_id(flaky);
  request.set_attempt(1);
  request.set_outcome(v1::JOB_STATE_FAILED);
  request.set_failure(v1::FAILURE_CLASS_INFRA);
  request.set_error("GPU fell off the bus");
  v1::CompleteJobResponse response;
  ASSERT_TRUE(worker().CompleteJob(Context().get(), request, &response).ok());
  request.set_request_id("f2");
  request.set_job_id(broken);
  request.set_failure(v1::FAILURE_CLASS_JOB);
  request.set_error("shard not found");
  ASSERT_TRUE(worker().CompleteJob(Context().get(), request, &response).ok());
  EXPECT_EQ(GetJob(flaky).state(), v1::JOB_STATE_QUEUED);
  const v1::Job failed = GetJob(broken);
  EXPECT_EQ(failed.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(failed.last_failure(), v1::FAILURE_CLASS_JOB);
  EXPECT_EQ(failed.error(), "shard not found");
}

TEST_F(WorkerProtocolTest, UnknownWorkerIsAskedToRegisterAgain) {
  EXPECT_TRUE(Heartbeat("w-unknown", {}).reregister());
}

TEST_F(WorkerProtocolTest, WatchJobStreamsPointsAndEndsWhenTheJobIsFinal) {
  const std::string job_id = Submit(TinySpec(), "s").job().id();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::WatchJobRequest request;
  request.set_id(job_id);
  auto reader = client().WatchJob(&ctx, request);
  v1::JobEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.job().state(), v1::JOB_STATE_QUEUED);
  const std::string w = RegisterWorker("w");
  ASSERT_EQ(Acquire(w).size(), 1u);
  ASSERT_TRUE(Report(w, job_id, 1, MakePoints(1, 30)).ok());
  ASSERT_TRUE(Complete(w, job_id, 1, v1::JOB_STATE_SUCCEEDED, "c").ok());
  int points = 0;
  v1::JobState last = v1::JOB_STATE_QUEUED;
  while (reader->Read(&event)) {
    points += event.points_size();
    last = event.job().state();
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(points, 30);
  EXPECT_EQ(last, v1::JOB_STATE_SUCCEEDED);
}

TEST_F(WorkerProtocolTest, RendezvousCarriesRankZerosUniqueId) {
  const std::string job_id = Submit(TinySpec(), "s").job().id();
  ASSERT_EQ(Acquire(RegisterWorker("w")).size(), 1u);
  v1::RendezvousResponse other;
  grpc::Status other_status;
  std::thread rank1([&] {
    v1::RendezvousRequest r;
    r.set_job_id(job_id);
    r.set_attempt(1);
    r.set_rank(1);
    r.set_wait_ms(5000);
    other_status = worker().Rendezvous(Context().get(), r, &other);
  });
  v1::RendezvousRequest r0;
  r0.set_job_id(job_id);
  r0.set_attempt(1);
  r0.set_rank(0);
  r0.set_unique_id("nccl-id-bytes");
  v1::RendezvousResponse mine;
  ASSERT_TRUE(worker().Rendezvous(Context().get(), r0, &mine).ok());
  rank1.join();
  ASSERT_TRUE(other_status.ok()) << other_status.error_message();
  EXPECT_EQ(other.unique_id(), "nccl-id-bytes");
}

TEST_F(WorkerProtocolTest, AWorkerOfAnotherProtocolVersionIsRefusedNamingBothVersions) {
  v1::RegisterWorkerRequest request;
  request.set_request_id("register-future");
  request.set_name("future");
  request.set_version("9.0.0");
  request.set_protocol_version(kProtocolVersion + 1);
  request.mutable_resources()->set_device_kind("cpu");
  request.mutable_resources()->set_slots(1);
  v1::RegisterWorkerResponse response;
  grpc::Status status = worker().RegisterWorker(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  const std::string& message = status.error_message();
  EXPECT_NE(message.find("protocol_version"), std::string::npos) << message;
  EXPECT_NE(message.find(absl::StrCat("protocol ", kProtocolVersion + 1)), std::string::npos)
      << message;
  EXPECT_NE(message.find(absl::StrCat("protocol ", kProtocolVersion, " ")), std::string::npos)
      << message;
  EXPECT_NE(message.find("9.0.0"), std::string::npos) << message;
  EXPECT_NE(message.find(kVersion), std::string::npos) << message;
  EXPECT_TRUE(response.worker_id().empty());

  // The same worker at this protocol version, or one from before the field (0), registers.
  request.set_protocol_version(kProtocolVersion);
  EXPECT_TRUE(worker().RegisterWorker(Context().get(), request, &response).ok());
  request.set_request_id("register-old");
  request.set_protocol_version(0);
  EXPECT_TRUE(worker().RegisterWorker(Context().get(), request, &response).ok());
}

}  // namespace
}  // namespace sparsescale::coordinator::testing
