// The worker daemon's view of the coordinator's WorkerService: one method per RPC, every call
// with a deadline, errors as absl::Status with gRPC's canonical codes (UNAVAILABLE when the
// coordinator cannot be reached). The gRPC implementation (MakeGrpcWorkerRpc) is the only code
// in the agent that sees gRPC; tests substitute fakes.
//
// Implementations must be thread-safe: the lease loop, the heartbeat thread and every job's
// runner thread call concurrently.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sparsescale/v1/coordinator.pb.h"
#include "transport/channel_security.h"

namespace sparsescale::agent {

class WorkerRpc {
 public:
  // Produces the next chunk of an upload into *chunk; returns false at the end.
  using ChunkSource = std::function<absl::StatusOr<bool>(std::string* chunk)>;
  // Receives a download: first the info, then the data chunks in order.
  using InfoSink = std::function<absl::Status(const sparsescale::v1::CheckpointInfo& info)>;
  using DataSink = std::function<absl::Status(std::string_view data)>;

  virtual ~WorkerRpc() = default;

  virtual absl::StatusOr<sparsescale::v1::RegisterWorkerResponse> RegisterWorker(
      const sparsescale::v1::RegisterWorkerRequest& request) = 0;
  // The deadline covers the request's long-poll wait_ms plus a margin.
  virtual absl::StatusOr<sparsescale::v1::AcquireLeaseResponse> AcquireLease(
      const sparsescale::v1::AcquireLeaseRequest& request) = 0;
  virtual absl::StatusOr<sparsescale::v1::HeartbeatResponse> Heartbeat(
      const sparsescale::v1::HeartbeatRequest& request) = 0;
  virtual absl::StatusOr<sparsescale::v1::ReportPointsResponse> ReportPoints(
      const sparsescale::v1::ReportPointsRequest& request) = 0;
  // Streams `info` (job_id, attempt, step, size_bytes, sha256) and then the chunks of `source`.
  virtual absl::StatusOr<sparsescale::v1::CheckpointInfo> UploadCheckpoint(
      const std::string& worker_id, const sparsescale::v1::CheckpointInfo& info,
      const ChunkSource& source) = 0;
  virtual absl::Status DownloadCheckpoint(const sparsescale::v1::DownloadCheckpointRequest& request,
                                          const InfoSink& on_info, const DataSink& on_data) = 0;
  // With request.next_free_slots > 0 the answer may carry the next leases (granted as
  // AcquireLease would, in the same commit as the completion).
  virtual absl::StatusOr<sparsescale::v1::CompleteJobResponse> CompleteJob(
      const sparsescale::v1::CompleteJobRequest& request) = 0;
  // Stores a chunk of an attempt's log; the answer says how far its output is stored.
  virtual absl::StatusOr<sparsescale::v1::ReportLogsResponse> ReportLogs(
      const sparsescale::v1::ReportLogsRequest& request) {
    (void)request;
    return absl::UnimplementedError("ReportLogs: not supported by this WorkerRpc");
  }
  // A ready dataset's manifest (files and their chunk lists), by hash.
  virtual absl::StatusOr<sparsescale::v1::Dataset> GetDataset(
      const sparsescale::v1::GetDatasetRequest& request) {
    (void)request;
    return absl::UnimplementedError("GetDataset: not supported by this WorkerRpc");
  }
  // Streams the asked chunks of a dataset, in order, into `on_chunk` (its error stops the
  // stream and is returned).
  using DatasetChunkSink = std::function<absl::Status(sparsescale::v1::DatasetChunk& chunk)>;
  virtual absl::Status DownloadChunks(const sparsescale::v1::DownloadChunksRequest& request,
                                      const DatasetChunkSink& on_chunk) {
    (void)request;
    (void)on_chunk;
    return absl::UnimplementedError("DownloadChunks: not supported by this WorkerRpc");
  }
  // Carries rank 0's rendezvous bytes (coordinator_rendezvous.h; called by the job process, not
  // the daemon). The deadline covers the request's long-poll wait_ms plus a margin.
  virtual absl::StatusOr<sparsescale::v1::RendezvousResponse> Rendezvous(
      const sparsescale::v1::RendezvousRequest& request) {
    (void)request;
    return absl::UnimplementedError("Rendezvous: not supported by this WorkerRpc");
  }
};

struct GrpcWorkerRpcOptions {
  std::chrono::milliseconds call_deadline{15000};       // unary calls other than AcquireLease
  std::chrono::milliseconds transfer_deadline{300000};  // a whole checkpoint up- or download
  // Reconnect quickly after a coordinator restart (gRPC's default backoff grows to minutes).
  std::chrono::milliseconds max_reconnect_backoff{1000};
  // TLS (verifying the coordinator; a client certificate for mutual TLS) and the worker token
  // sent with every call. Empty: plain text, no token.
  transport::ChannelSecurity security;
};

// A WorkerRpc over a gRPC channel to `address` ("host:port"), with TLS and token as
// options.security says. Never fails here: connection problems (a failed TLS handshake
// included, explained) surface as UNAVAILABLE from the calls; an unreadable TLS file too.
std::unique_ptr<WorkerRpc> MakeGrpcWorkerRpc(const std::string& address,
                                             const GrpcWorkerRpcOptions& options = {});

// Chunk size for checkpoint uploads (below gRPC's default 4 MiB message limit).
inline constexpr size_t kCheckpointChunkBytes = 1 << 20;

}  // namespace sparsescale::agent
