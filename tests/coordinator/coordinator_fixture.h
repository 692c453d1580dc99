// Test support for the coordinator: a real CoordinatorServer on 127.0.0.1 port 0 over a real
// SQLite file in a temporary directory, raw generated stubs, and helpers for the worker
// protocol. Not thread-safe except the stubs.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "coordinator/api/server.h"
#include "gtest/gtest.h"
#include "sparsescale/v1/coordinator.grpc.pb.h"

namespace sparsescale::coordinator::testing {

namespace v1 = ::sparsescale::v1;

// A small valid spec (no files are touched by the coordinator).
v1::JobSpec TinySpec(int64_t tokens = 4096, uint64_t seed = 1);

// `count` loss points with steps first..first+count-1 (eval loss every 5th).
std::vector<v1::LossPoint> MakePoints(int64_t first, int count);

class CoordinatorFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Options the next StartServer() uses; short TTLs (1 s) so expiry tests run quickly.
  ServerOptions& options() { return options_; }
  void StartServer();
  // Destroys the server object (no clean-up writes beyond what was committed), like a crash.
  void KillServer();

  v1::ClientService::Stub& client() { return *client_; }
  v1::WorkerService::Stub& worker() { return *worker_; }
  std::unique_ptr<grpc::ClientContext> Context(int timeout_ms = 10'000);
  CoordinatorCore& core() { return server_->core(); }
  const std::string& db_path() const { return options_.coordinator.db_path; }

  // Helpers that assert success.
  std::string RegisterWorker(const std::string& name, int slots = 1,
                             const std::string& device = "cpu", int gpus = 0);
  v1::SubmitJobResponse Submit(const v1::JobSpec& spec, const std::string& request_id,
                               int priority = 0);
  std::vector<v1::Lease> Acquire(const std::string& worker_id, int64_t wait_ms = 0);
  grpc::Status Report(const std::string& worker_id, const std::string& job_id, int attempt,
                      const std::vector<v1::LossPoint>& points);
  grpc::Status Complete(const std::string& worker_id, const std::string& job_id, int attempt,
                        v1::JobState outcome, const std::string& request_id);
  v1::HeartbeatResponse Heartbeat(const std::string& worker_id,
                                  const std::vector<std::pair<std::string, int>>& leases);
  v1::Job GetJob(const std::string& id);
  std::vector<v1::LossPoint> Curve(const std::string& job_id, int max_points = 0);
  // Uploads `payload` in chunks of `chunk_bytes`, claiming `claimed_sha256` (empty = correct).
  grpc::Status Upload(const std::string& worker_id, const std::string& job_id, int attempt,
                      int64_t step, const std::string& payload, size_t chunk_bytes = 1000,
                      const std::string& claimed_sha256 = "", int64_t claimed_size = -1);
  // Downloads the checkpoint at `step` (0 = latest); the info goes to *info.
  grpc::Status Download(const std::string& job_id, int64_t step, std::string* payload,
                        v1::CheckpointInfo* info = nullptr);

  // Polls `condition` every few milliseconds until it holds or `timeout_ms` passes.
  static bool WaitFor(const std::function<bool()>& condition, int timeout_ms = 5000);

  std::string dir_;
  ServerOptions options_;
  std::unique_ptr<CoordinatorServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ClientService::Stub> client_;
  std::unique_ptr<v1::WorkerService::Stub> worker_;
};

}  // namespace sparsescale::coordinator::testing
