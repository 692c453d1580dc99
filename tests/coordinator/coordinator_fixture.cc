#include "tests/coordinator/coordinator_fixture.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "common/sha256.h"

namespace sparsescale::coordinator::testing {

v1::JobSpec TinySpec(int64_t tokens, uint64_t seed) {
  v1::JobSpec spec;
  spec.set_name("tiny");
  spec.mutable_model()->set_layers(2);
  spec.mutable_model()->set_width(64);
  spec.mutable_model()->set_heads(4);
  spec.mutable_model()->set_context(32);
  spec.mutable_data()->add_train_shards("data/tiny_train.bin");
  spec.mutable_data()->set_batch_size(4);
  spec.mutable_data()->set_tokens(tokens);
  spec.set_seed(seed);
  spec.set_device("cpu");
  return spec;
}

std::vector<v1::LossPoint> MakePoints(int64_t first, int count) {
  std::vector<v1::LossPoint> points;
  for (int i = 0; i < count; ++i) {
    v1::LossPoint p;
    const int64_t step = first + i;
    p.set_step(step);
    p.set_tokens(step * 128);
    p.set_train_loss(5.0 / (1.0 + 0.01 * static_cast<double>(step)));
    if (step % 5 == 0) {
      p.set_eval_loss(p.train_loss() + 0.1);
    }
    p.set_sparsity(0.5);
    p.set_lr(1e-3);
    p.set_nonzeros_paper(98304);
    p.set_nonzeros_exact(100000);
    p.set_flops_dense(1e6 * static_cast<double>(step));
    p.set_flops_sparse(5e5 * static_cast<double>(step));
    p.set_wall_s(0.01 * static_cast<double>(step));
    points.push_back(p);
  }
  return points;
}

void CoordinatorFixture::SetUp() {
  std::string templ = ::testing::TempDir() + "/coordinator_test_XXXXXX";
  ASSERT_NE(mkdtemp(templ.data()), nullptr);
  dir_ = templ;
  options_.listen = "127.0.0.1:0";
  options_.coordinator.db_path = dir_ + "/coordinator.db";
  options_.coordinator.tick_period = std::chrono::milliseconds(10);
  options_.coordinator.clock = &clock_;
  options_.coordinator.wall_clock = &clock_;
  options_.coordinator.scheduler.lease_ttl_ms = 1000;
  options_.coordinator.scheduler.restart_grace_ms = 1000;
  options_.coordinator.scheduler.hang_timeout_ms = 60'000;
  options_.shutdown_grace = std::chrono::milliseconds(200);
}

void CoordinatorFixture::TearDown() {
  Disconnect();
  server_.reset();
  process_.reset();
  std::filesystem::remove_all(dir_);
}

void CoordinatorFixture::StartServer() {
  auto server = CoordinatorServer::Start(options_);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = std::move(*server);
  Connect(server_->address());
}

void CoordinatorFixture::StopServer() {
  Disconnect();
  server_.reset();
}

void CoordinatorFixture::StartServerProcess() {
  const auto& scheduler = options_.coordinator.scheduler;
  auto process = CoordinatorProcess::Start(
      db_path(), {"--lease-ttl-ms", "60000", "--restart-grace-ms",
                  std::to_string(scheduler.restart_grace_ms), "--log-level", "warning"});
  ASSERT_TRUE(process.ok()) << process.status();
  process_ = std::move(*process);
  Connect(process_->address());
}

void CoordinatorFixture::CrashServerProcess() {
  process_->Crash();  // first: closing the channel would give the writer time to catch up
  process_.reset();
  Disconnect();
}

void CoordinatorFixture::Connect(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!tls_ca_file_.empty()) {
    std::ifstream in(tls_ca_file_);
    std::stringstream pem;
    pem << in.rdbuf();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pem.str();
    credentials = grpc::SslCredentials(ssl);
  }
  channel_ = grpc::CreateCustomChannel(address, credentials, args);
  client_ = v1::ClientService::NewStub(channel_);
  worker_ = v1::WorkerService::NewStub(channel_);
}

void CoordinatorFixture::Disconnect() {
  client_.reset();
  worker_.reset();
  channel_.reset();
}

void CoordinatorFixture::AdvanceClockMs(int64_t delta_ms) {
  clock_.AdvanceMs(delta_ms);
  std::promise<absl::Status> ticked;
  core().RunTick([&ticked](absl::Status status) { ticked.set_value(status); });
  const absl::Status status = ticked.get_future().get();
  ASSERT_TRUE(status.ok()) << status;
}

std::unique_ptr<grpc::ClientContext> CoordinatorFixture::Context(int timeout_ms) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  return ctx;
}

std::string CoordinatorFixture::RegisterWorker(const std::string& name, int slots,
                                               const std::string& device, int gpus) {
  v1::RegisterWorkerRequest request;
  request.set_request_id("register-" + name);
  request.set_name(name);
  request.mutable_resources()->set_device_kind(device);
  request.mutable_resources()->set_gpus(gpus);
  request.mutable_resources()->set_slots(slots);
  request.set_version("test");
  v1::RegisterWorkerResponse response;
  grpc::Status status = worker_->RegisterWorker(Context().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.worker_id();
}

v1::SubmitJobResponse CoordinatorFixture::Submit(const v1::JobSpec& spec,
                                                 const std::string& request_id, int priority) {
  v1::SubmitJobRequest request;
  request.set_request_id(request_id);
  *request.mutable_spec() = spec;
  request.set_priority(priority);
  v1::SubmitJobResponse response;
  grpc::Status status = client_->SubmitJob(Context().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

std::vector<v1::Lease> CoordinatorFixture::Acquire(const std::string& worker_id, int64_t wait_ms) {
  v1::AcquireLeaseRequest request;
  request.set_worker_id(worker_id);
  request.set_wait_ms(wait_ms);
  v1::AcquireLeaseResponse response;
  grpc::Status status = worker_->AcquireLease(Context().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return {response.leases().begin(), response.leases().end()};
}

grpc::Status CoordinatorFixture::Report(const std::string& worker_id, const std::string& job_id,
                                        int attempt, const std::vector<v1::LossPoint>& points) {
  v1::ReportPointsRequest request;
  request.set_worker_id(worker_id);
  request.set_job_id(job_id);
  request.set_attempt(attempt);
  for (const auto& p : points) {
    *request.add_points() = p;
  }
  v1::ReportPointsResponse response;
  return worker_->ReportPoints(Context().get(), request, &response);
}

grpc::Status CoordinatorFixture::Complete(const std::string& worker_id, const std::string& job_id,
                                          int attempt, v1::JobState outcome,
                                          const std::string& request_id) {
  v1::CompleteJobRequest request;
  request.set_request_id(request_id);
  request.set_worker_id(worker_id);
  request.set_job_id(job_id);
  request.set_attempt(attempt);
  request.set_outcome(outcome);
  request.set_final_train_loss(3.0);
  request.set_final_eval_loss(3.1);
  v1::CompleteJobResponse response;
  return worker_->CompleteJob(Context().get(), request, &response);
}

v1::HeartbeatResponse CoordinatorFixture::Heartbeat(
    const std::string& worker_id, const std::vector<std::pair<std::string, int>>& leases) {
  v1::HeartbeatRequest request;
  request.set_worker_id(worker_id);
  for (const auto& [job, attempt] : leases) {
    auto* l = request.add_leases();
    l->set_job_id(job);
    l->set_attempt(attempt);
  }
  v1::HeartbeatResponse response;
  grpc::Status status = worker_->Heartbeat(Context().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

v1::Job CoordinatorFixture::GetJob(const std::string& id) {
  v1::GetJobRequest request;
  request.set_id(id);
  v1::Job job;
  grpc::Status status = client_->GetJob(Context().get(), request, &job);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return job;
}

std::vector<v1::LossPoint> CoordinatorFixture::Curve(const std::string& job_id, int max_points) {
  v1::GetLossCurveRequest request;
  request.set_job_id(job_id);
  request.set_max_points(max_points);
  v1::GetLossCurveResponse response;
  grpc::Status status = client_->GetLossCurve(Context().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return {response.points().begin(), response.points().end()};
}

grpc::Status CoordinatorFixture::Upload(const std::string& worker_id, const std::string& job_id,
                                        int attempt, int64_t step, const std::string& payload,
                                        size_t chunk_bytes, const std::string& claimed_sha256,
                                        int64_t claimed_size) {
  auto ctx = Context();
  v1::UploadCheckpointResponse response;
  auto writer = worker_->UploadCheckpoint(ctx.get(), &response);
  v1::CheckpointUpload first;
  first.set_worker_id(worker_id);
  auto* info = first.mutable_info();
  info->set_job_id(job_id);
  info->set_attempt(attempt);
  info->set_step(step);
  info->set_size_bytes(claimed_size >= 0 ? claimed_size : static_cast<int64_t>(payload.size()));
  info->set_sha256(claimed_sha256.empty() ? Sha256Hex(payload) : claimed_sha256);
  bool open = writer->Write(first);
  for (size_t at = 0; open && at < payload.size(); at += chunk_bytes) {
    v1::CheckpointUpload chunk;
    chunk.set_data(payload.substr(at, chunk_bytes));
    open = writer->Write(chunk);
  }
  writer->WritesDone();
  return writer->Finish();
}

grpc::Status CoordinatorFixture::Download(const std::string& job_id, int64_t step,
                                          std::string* payload, v1::CheckpointInfo* info) {
  auto ctx = Context();
  v1::DownloadCheckpointRequest request;
  request.set_job_id(job_id);
  request.set_step(step);
  auto reader = worker_->DownloadCheckpoint(ctx.get(), request);
  v1::CheckpointChunk chunk;
  payload->clear();
  while (reader->Read(&chunk)) {
    if (chunk.has_info() && info != nullptr) {
      *info = chunk.info();
    }
    payload->append(chunk.data());
  }
  return reader->Finish();
}

}  // namespace sparsescale::coordinator::testing
