// Test support for the coordinator: a real CoordinatorServer on 127.0.0.1 port 0 over a real
// SQLite file in a temporary directory, on a fake clock (lease expiry and the restart grace
// happen when a test advances it, never by waiting), raw generated stubs, and helpers for the
// worker protocol. Tests that need a real crash run the coordinator as a child process instead.
// Not thread-safe except the stubs.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "coordinator/api/server.h"
#include "coordinator/scheduler/clock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/coordinator_process.h"
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

  // Options the next StartServer() uses (1 s lease TTL and restart grace, on clock_).
  ServerOptions& options() { return options_; }
  void StartServer();
  // Shuts the in-process server down cleanly (its writer commits what is queued).
  void StopServer();
  // The coordinator as a child process on the same database (real clock, 60 s lease TTL), and
  // its crash: SIGKILL, so nothing that was not committed survives.
  void StartServerProcess();
  void CrashServerProcess();

  // Moves the fake clock on and runs the coordinator's periodic checks at once; returns once
  // what they decided is committed.
  void AdvanceClockMs(int64_t delta_ms);

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

  void Connect(const std::string& address);
  void Disconnect();

  std::string dir_;
  // When set, Connect() dials over TLS verifying the server against this CA (PEM file).
  std::string tls_ca_file_;
  scheduler::FakeClock clock_{1'000'000, scheduler::SystemClock().NowUnixMs()};
  ServerOptions options_;
  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<CoordinatorProcess> process_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ClientService::Stub> client_;
  std::unique_ptr<v1::WorkerService::Stub> worker_;
};

}  // namespace sparsescale::coordinator::testing
