// Bad input over gRPC: each invalid field gives INVALID_ARGUMENT naming the field, oversized
// messages are refused, and nothing is stored.
#include "tests/coordinator/coordinator_fixture.h"

namespace sparsescale::coordinator::testing {
namespace {

class BadInputTest : public CoordinatorFixture {
 protected:
  void SetUp() override {
    CoordinatorFixture::SetUp();
    // Nothing here tests expiry, and a 4 MiB upload under ASan on a busy machine can outlast the
    // fixture's 1 s lease (the refusal must be about the input, not a lapsed lease).
    options().coordinator.scheduler.lease_ttl_ms = 60'000;
    StartServer();
  }

  void ExpectInvalid(const grpc::Status& status, const std::string& field) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_EQ(status.error_message().rfind(field, 0), 0u)
        << "message should start with \"" << field << "\": " << status.error_message();
  }

  grpc::Status SubmitSpec(const v1::JobSpec& spec) {
    v1::SubmitJobRequest request;
    request.set_request_id("r");
    *request.mutable_spec() = spec;
    v1::SubmitJobResponse response;
    return client().SubmitJob(Context().get(), request, &response);
  }

  void ExpectNothingStored() {
    v1::GetClusterStatusResponse status;
    ASSERT_TRUE(
        client().GetClusterStatus(Context().get(), v1::GetClusterStatusRequest(), &status).ok());
    EXPECT_TRUE(status.jobs_by_state().empty());
    EXPECT_EQ(status.loss_points_stored(), 0);
    v1::ListSweepsResponse sweeps;
    ASSERT_TRUE(client().ListSweeps(Context().get(), v1::ListSweepsRequest(), &sweeps).ok());
    EXPECT_EQ(sweeps.sweeps_size(), 0);
  }
};

TEST_F(BadInputTest, EachInvalidSpecFieldIsNamed) {
  v1::JobSpec spec = TinySpec();
  spec.mutable_model()->set_heads(5);  // 64 is not divisible by 5
  ExpectInvalid(SubmitSpec(spec), "spec.model.width");
  spec = TinySpec();
  spec.mutable_data()->set_batch_size(-1);
  ExpectInvalid(SubmitSpec(spec), "spec.data.batch_size");
  spec = TinySpec();
  spec.mutable_pruning()->set_sparsity(1.5);
  ExpectInvalid(SubmitSpec(spec), "spec.pruning.sparsity");
  spec = TinySpec();
  spec.set_device("tpu");
  ExpectInvalid(SubmitSpec(spec), "spec.device");
  v1::SubmitJobRequest no_id;
  *no_id.mutable_spec() = TinySpec();
  v1::SubmitJobResponse response;
  ExpectInvalid(client().SubmitJob(Context().get(), no_id, &response), "request_id");
  ExpectNothingStored();
}

TEST_F(BadInputTest, EachInvalidSweepAxisIsNamed) {
  v1::CreateSweepRequest request;
  request.set_request_id("r");
  *request.mutable_base() = TinySpec();
  request.mutable_axes()->add_sparsities(0.5);
  request.mutable_axes()->add_sparsities(1.5);
  v1::CreateSweepResponse response;
  ExpectInvalid(client().CreateSweep(Context().get(), request, &response), "axes.sparsities[1]");
  request.mutable_axes()->clear_sparsities();
  request.mutable_axes()->add_nonzeros(-10);
  ExpectInvalid(client().CreateSweep(Context().get(), request, &response), "axes.nonzeros[0]");
  request.mutable_axes()->clear_nonzeros();
  auto* nm = request.mutable_axes()->add_structures();
  nm->set_structure(v1::SPARSITY_STRUCTURE_NM);
  nm->set_n(4);
  nm->set_m(2);
  ExpectInvalid(client().CreateSweep(Context().get(), request, &response), "axes.structures[0]");
  request.clear_base();
  ExpectInvalid(client().CreateSweep(Context().get(), request, &response), "base");
  ExpectNothingStored();
}

TEST_F(BadInputTest, EachInvalidWorkerFieldIsNamed) {
  v1::RegisterWorkerRequest reg;
  reg.set_request_id("r");
  reg.mutable_resources()->set_device_kind("fpga");
  v1::RegisterWorkerResponse reg_response;
  ExpectInvalid(worker().RegisterWorker(Context().get(), reg, &reg_response),
                "resources.device_kind");
  reg.mutable_resources()->set_device_kind("cuda");
  ExpectInvalid(worker().RegisterWorker(Context().get(), reg, &reg_response), "resources.gpus");
  v1::AcquireLeaseRequest acquire;
  acquire.set_worker_id("w");
  acquire.set_wait_ms(999'999);
  v1::AcquireLeaseResponse acquire_response;
  ExpectInvalid(worker().AcquireLease(Context().get(), acquire, &acquire_response), "wait_ms");
  auto points = MakePoints(1, 5);
  points[3].set_train_loss(std::nan(""));
  ExpectInvalid(Report("w", "job", 1, points), "points[3].train_loss");
  points = MakePoints(1, 5);
  points[2].set_step(1);
  ExpectInvalid(Report("w", "job", 1, points), "points[2].step");
  points = MakePoints(1, 5);
  points[4].set_sparsity(2);
  ExpectInvalid(Report("w", "job", 1, points), "points[4].sparsity");
  ExpectInvalid(Report("w", "job", 0, MakePoints(1, 1)), "attempt");
  ExpectInvalid(Report("", "job", 1, MakePoints(1, 1)), "worker_id");
  ExpectInvalid(Complete("w", "job", 1, v1::JOB_STATE_RUNNING, "c"), "outcome");
  v1::GetLossCurveRequest curve;
  curve.set_job_id("x");
  curve.set_max_points(1);
  v1::GetLossCurveResponse curve_response;
  ExpectInvalid(client().GetLossCurve(Context().get(), curve, &curve_response), "max_points");
  ExpectNothingStored();
}

TEST_F(BadInputTest, BadCheckpointInfoIsNamed) {
  ExpectInvalid(Upload("w", "job", 1, 5, "payload", 1000, "not-a-hash"), "info.sha256");
  ExpectInvalid(Upload("w", "job", 0, 5, "payload"), "info.attempt");
  ExpectInvalid(Upload("w", "job", 1, 5, "", 1000, "", 0), "info.size_bytes");
}

TEST_F(BadInputTest, OversizedMessageIsRefusedAndNothingStored) {
  const std::string job_id = Submit(TinySpec(), "s").job().id();
  const std::string w = RegisterWorker("w");
  ASSERT_EQ(Acquire(w).size(), 1u);
  v1::ReportPointsRequest request;
  request.set_worker_id(w);
  request.set_job_id(job_id);
  request.set_attempt(1);
  for (const auto& p : MakePoints(1, 10)) {
    *request.add_points() = p;
  }
  request.mutable_points(0)->set_train_loss(1.0);
  // 17 MiB of padding in a string field nobody reads: over the 16 MiB receive limit.
  request.set_worker_id(w);
  v1::LossPoint* big = request.mutable_points(9);
  big->set_step(10);
  grpc::ClientContext ctx;
  std::string padding(17 << 20, 'p');
  request.set_job_id(job_id + padding);
  v1::ReportPointsResponse response;
  grpc::Status status = worker().ReportPoints(&ctx, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_TRUE(Curve(job_id).empty());
}

TEST_F(BadInputTest, CheckpointChunkOverFourMebibytesIsRefused) {
  const std::string job_id = Submit(TinySpec(), "s").job().id();
  const std::string w = RegisterWorker("w");
  ASSERT_EQ(Acquire(w).size(), 1u);
  const std::string payload((4 << 20) + 1, 'c');
  grpc::Status status = Upload(w, job_id, 1, 10, payload, payload.size());
  ExpectInvalid(status, "data");
  v1::ListCheckpointsRequest list;
  list.set_job_id(job_id);
  v1::ListCheckpointsResponse listed;
  ASSERT_TRUE(client().ListCheckpoints(Context().get(), list, &listed).ok());
  EXPECT_EQ(listed.checkpoints_size(), 0);
}

}  // namespace
}  // namespace sparsescale::coordinator::testing
