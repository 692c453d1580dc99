// The C++ client library of the sparsescale.v1 ClientService: one method per RPC, each with a
// deadline, errors as absl::Status with gRPC's canonical codes (UNAVAILABLE, with the address
// in the message, when the coordinator cannot be reached). Mutating calls take the caller's
// request id so that a retry is idempotent; NewClientRequestId() makes a fresh one.
// gRPC stays in the .cc file.
//
// Thread-safe: one client may be shared by threads (gRPC channels and stubs are).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sparsescale/v1/coordinator.pb.h"
#include "transport/channel_security.h"

namespace sparsescale::client {

struct ClientOptions {
  std::chrono::milliseconds deadline{15000};  // every unary call
  // Streams (WatchJob, checkpoint downloads) have no overall deadline; this bounds the wait
  // for the first connection.
  std::chrono::milliseconds connect_timeout{5000};
  // TLS and the bearer token (transport/channel_security.h); empty: plain text, no token.
  transport::ChannelSecurity security;
};

class CoordinatorClient {
 public:
  // Never fails: connection problems surface as UNAVAILABLE from the calls.
  CoordinatorClient(const std::string& address, ClientOptions options = {});
  ~CoordinatorClient();
  CoordinatorClient(const CoordinatorClient&) = delete;
  CoordinatorClient& operator=(const CoordinatorClient&) = delete;

  const std::string& address() const { return address_; }

  // Waits up to `timeout` for the channel to connect. UNAVAILABLE when it does not.
  absl::Status WaitUntilReady(std::chrono::milliseconds timeout);

  absl::StatusOr<sparsescale::v1::CreateSweepResponse> CreateSweep(
      const sparsescale::v1::CreateSweepRequest& request);
  absl::StatusOr<sparsescale::v1::Sweep> GetSweep(const std::string& id);
  // Every sweep (pages through ListSweeps).
  absl::StatusOr<std::vector<sparsescale::v1::Sweep>> ListSweeps();
  absl::StatusOr<sparsescale::v1::SubmitJobResponse> SubmitJob(
      const sparsescale::v1::SubmitJobRequest& request);
  absl::StatusOr<sparsescale::v1::Job> GetJob(const std::string& id);
  // Every job matching the filter (pages through ListJobs).
  absl::StatusOr<std::vector<sparsescale::v1::Job>> ListJobs(
      const std::string& sweep_id, const std::vector<sparsescale::v1::JobState>& states = {});
  absl::StatusOr<sparsescale::v1::Job> CancelJob(const std::string& request_id,
                                                 const std::string& id);
  // Lifecycle: codes as documented on the RPCs in coordinator.proto (FAILED_PRECONDITION,
  // naming the state, when the job or sweep is in the wrong state for the call).
  absl::StatusOr<sparsescale::v1::Job> RetryJob(const std::string& request_id,
                                                const std::string& id);
  absl::StatusOr<sparsescale::v1::Job> SetJobPriority(const std::string& request_id,
                                                      const std::string& id, int priority);
  absl::StatusOr<sparsescale::v1::DeleteJobResponse> DeleteJob(const std::string& request_id,
                                                               const std::string& id);
  absl::StatusOr<sparsescale::v1::CancelSweepResponse> CancelSweep(const std::string& request_id,
                                                                   const std::string& id);
  absl::StatusOr<sparsescale::v1::DeleteSweepResponse> DeleteSweep(const std::string& request_id,
                                                                   const std::string& id);
  // Calls `on_event` for each event until the stream ends (the job is final) or on_event
  // returns false. OK at the end of the stream.
  absl::Status WatchJob(const std::string& id,
                        const std::function<bool(const sparsescale::v1::JobEvent&)>& on_event);
  absl::StatusOr<sparsescale::v1::GetLossCurveResponse> GetLossCurve(const std::string& job_id,
                                                                     int max_points);
  absl::StatusOr<sparsescale::v1::ListCheckpointsResponse> ListCheckpoints(
      const std::string& job_id);
  // Downloads a checkpoint (step 0 = the latest) into the file `path`. The bytes go to
  // `path + ".part"` first; when that file exists the download resumes after its bytes. The
  // whole file's SHA-256 and size are checked against the stored checkpoint's, and only then is
  // it renamed to `path`. Returns the checkpoint's info. NotFound (no such job or checkpoint,
  // naming the step), DataLoss (the digest does not match: the .part file is removed, so a new
  // try starts over), Internal (the file cannot be written), UNAVAILABLE (keep the .part file
  // and call again to resume).
  absl::StatusOr<sparsescale::v1::CheckpointInfo> DownloadCheckpoint(const std::string& job_id,
                                                                     int64_t step,
                                                                     const std::string& path);
  // Streams a job attempt's log: calls `on_chunk` for each chunk until the stream ends (with
  // request.follow, when the attempt has ended) or on_chunk returns false. OK at the end.
  absl::Status StreamLogs(const sparsescale::v1::StreamJobLogsRequest& request,
                          const std::function<bool(const sparsescale::v1::LogChunk&)>& on_chunk);
  absl::StatusOr<sparsescale::v1::GetClusterStatusResponse> GetClusterStatus();
  absl::StatusOr<sparsescale::v1::FitLawResponse> FitLaw(
      const sparsescale::v1::FitLawRequest& request);
  absl::StatusOr<sparsescale::v1::OptimalSparsityResponse> OptimalSparsity(
      const sparsescale::v1::OptimalSparsityRequest& request);
  // Security (admin tokens; codes as documented on the RPCs).
  absl::StatusOr<sparsescale::v1::CreateTokenResponse> CreateToken(
      const sparsescale::v1::CreateTokenRequest& request);
  absl::StatusOr<sparsescale::v1::ListTokensResponse> ListTokens();
  absl::StatusOr<sparsescale::v1::RevokeTokenResponse> RevokeToken(const std::string& id);
  absl::StatusOr<sparsescale::v1::ListAuditResponse> ListAudit(
      const sparsescale::v1::ListAuditRequest& request);

  // Datasets (codes as documented on the RPCs; client/dataset_upload.h drives an upload).
  absl::StatusOr<sparsescale::v1::FindMissingChunksResponse> FindMissingChunks(
      const sparsescale::v1::FindMissingChunksRequest& request);
  absl::StatusOr<sparsescale::v1::PutChunkResponse> PutChunk(
      const sparsescale::v1::PutChunkRequest& request);
  absl::StatusOr<sparsescale::v1::CommitDatasetResponse> CommitDataset(
      const sparsescale::v1::CommitDatasetRequest& request);
  absl::StatusOr<sparsescale::v1::ListDatasetsResponse> ListDatasets();
  absl::StatusOr<sparsescale::v1::Dataset> GetDataset(const std::string& name_or_hash);
  absl::StatusOr<sparsescale::v1::DeleteDatasetResponse> DeleteDataset(
      const std::string& name_or_hash);

  struct Impl;  // the gRPC side, in the .cc file

 private:
  std::string address_;
  ClientOptions options_;
  std::unique_ptr<Impl> impl_;
};

// A fresh random request id ("c-" + 24 hex digits).
std::string NewClientRequestId();

// The coordinator address from the environment (SPARSESCALE_COORDINATOR) or 127.0.0.1:7070.
std::string DefaultCoordinatorAddress();

}  // namespace sparsescale::client
