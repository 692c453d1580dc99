// CoordinatorCore without gRPC: a real SQLite file in a temporary directory, on a fake clock.
#include "coordinator/core/core.h"

#include <stdlib.h>

#include <filesystem>
#include <future>

#include "gtest/gtest.h"

namespace sparsescale::coordinator {
namespace {

class CoreTest : public ::testing::Test {
 protected:
  using Done = CoordinatorCore::Done;

  void SetUp() override {
    std::string templ = ::testing::TempDir() + "/core_test_XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    CoordinatorOptions options;
    options.db_path = dir_ + "/coordinator.db";
    options.scheduler.lease_ttl_ms = 1000;
    options.clock = &clock_;
    options.wall_clock = &clock_;
    auto core = CoordinatorCore::Start(options);
    ASSERT_TRUE(core.ok()) << core.status();
    core_ = std::move(*core);
  }

  void TearDown() override {
    core_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Starts `call` with a completion and waits for it.
  static absl::Status Wait(const std::function<void(Done)>& call) {
    std::promise<absl::Status> answered;
    call([&answered](absl::Status status) { answered.set_value(status); });
    return answered.get_future().get();
  }

  static v1::SubmitJobRequest SubmitRequest(const std::string& request_id) {
    v1::SubmitJobRequest request;
    request.set_request_id(request_id);
    v1::JobSpec* spec = request.mutable_spec();
    spec->mutable_model()->set_layers(2);
    spec->mutable_model()->set_width(64);
    spec->mutable_model()->set_heads(4);
    spec->mutable_model()->set_context(32);
    spec->mutable_data()->add_train_shards("data/tiny_train.bin");
    spec->mutable_data()->set_batch_size(4);
    spec->mutable_data()->set_tokens(4096);
    spec->set_device("cpu");
    return request;
  }

  absl::Status Submit(const v1::SubmitJobRequest& request, v1::SubmitJobResponse* response) {
    absl::StatusOr<PreparedJob> job = PrepareJob(request.spec(), "spec.");
    EXPECT_TRUE(job.ok()) << job.status();
    return Wait([&](Done done) { core_->SubmitJob(request, *job, response, done); });
  }

  std::string RegisterWorker() {
    v1::RegisterWorkerRequest request;
    request.set_request_id("register");
    request.mutable_resources()->set_device_kind("cpu");
    v1::RegisterWorkerResponse response;
    EXPECT_TRUE(Wait([&](Done done) { core_->RegisterWorker(request, &response, done); }).ok());
    return response.worker_id();
  }

  v1::Job GetJob(const std::string& id) {
    v1::Job job;
    EXPECT_TRUE(Wait([&](Done done) { core_->GetJob(id, &job, done); }).ok());
    return job;
  }

  void AdvanceClockAndTick(int64_t delta_ms) {
    clock_.AdvanceMs(delta_ms);
    ASSERT_TRUE(Wait([&](Done done) { core_->RunTick(done); }).ok());
  }

  std::string dir_;
  scheduler::FakeClock clock_;
  std::unique_ptr<CoordinatorCore> core_;
};

TEST_F(CoreTest, RetryGetsTheFirstAnswerAndAReusedIdWithAnotherBodyConflicts) {
  v1::SubmitJobRequest request = SubmitRequest("r1");
  v1::SubmitJobResponse first;
  ASSERT_TRUE(Submit(request, &first).ok());
  EXPECT_TRUE(first.created());
  v1::SubmitJobResponse again;
  ASSERT_TRUE(Submit(request, &again).ok());
  EXPECT_EQ(again.SerializeAsString(), first.SerializeAsString());
  request.set_priority(5);
  v1::SubmitJobResponse conflict;
  EXPECT_EQ(Submit(request, &conflict).code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(CoreTest, LeaseExpiresExactlyWhenTheClockPassesItsTtl) {
  v1::SubmitJobResponse submitted;
  ASSERT_TRUE(Submit(SubmitRequest("s"), &submitted).ok());
  v1::AcquireLeaseRequest acquire;
  acquire.set_worker_id(RegisterWorker());
  v1::AcquireLeaseResponse leases;
  ASSERT_TRUE(Wait([&](Done done) {
                core_->AcquireLease(acquire, &leases, nullptr, done);
              }).ok());
  ASSERT_EQ(leases.leases_size(), 1);
  const std::string job_id = submitted.job().id();
  AdvanceClockAndTick(999);
  EXPECT_EQ(GetJob(job_id).state(), v1::JOB_STATE_RUNNING);
  AdvanceClockAndTick(1);
  const v1::Job job = GetJob(job_id);
  EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(job.last_failure(), v1::FAILURE_CLASS_INFRA);
}

TEST_F(CoreTest, RejectedDecisionIsAnsweredAndNotRemembered) {
  v1::SubmitJobResponse submitted;
  ASSERT_TRUE(Submit(SubmitRequest("s"), &submitted).ok());
  v1::CompleteJobRequest complete;
  complete.set_request_id("c");
  complete.set_worker_id(RegisterWorker());
  complete.set_job_id(submitted.job().id());
  complete.set_attempt(1);
  complete.set_outcome(v1::JOB_STATE_SUCCEEDED);
  v1::CompleteJobResponse response;
  // Not leased yet: refused, and the refusal is not stored as the answer of "c".
  EXPECT_EQ(Wait([&](Done done) { core_->CompleteJob(complete, &response, done); }).code(),
            absl::StatusCode::kFailedPrecondition);
  v1::AcquireLeaseRequest acquire;
  acquire.set_worker_id(complete.worker_id());
  v1::AcquireLeaseResponse leases;
  ASSERT_TRUE(Wait([&](Done done) {
                core_->AcquireLease(acquire, &leases, nullptr, done);
              }).ok());
  ASSERT_EQ(leases.leases_size(), 1);
  ASSERT_TRUE(Wait([&](Done done) { core_->CompleteJob(complete, &response, done); }).ok());
  EXPECT_EQ(GetJob(submitted.job().id()).state(), v1::JOB_STATE_SUCCEEDED);
}

}  // namespace
}  // namespace sparsescale::coordinator
