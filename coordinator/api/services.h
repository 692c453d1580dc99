// The gRPC services of sparsescale.v1 (callback API): each method first has the Gatekeeper
// admit the call (token, role, rate limit; gatekeeper.h), validates its request, then
// hands it to CoordinatorCore and finishes the reactor from the core's completion. Streaming
// calls use the reactors in streams.h. Thread-safety: thread-safe (gRPC calls them
// concurrently; all state lives in the core).
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>

#include "coordinator/api/convert.h"
#include "coordinator/api/gatekeeper.h"
#include "coordinator/core/core.h"
#include "sparsescale/v1/coordinator.grpc.pb.h"

namespace sparsescale::coordinator {

class WorkerServiceImpl final : public v1::WorkerService::CallbackService {
 public:
  WorkerServiceImpl(CoordinatorCore* core, Gatekeeper* gate) : core_(core), gate_(gate) {}

  grpc::ServerUnaryReactor* RegisterWorker(grpc::CallbackServerContext* ctx,
                                           const v1::RegisterWorkerRequest* request,
                                           v1::RegisterWorkerResponse* response) override;
  grpc::ServerUnaryReactor* AcquireLease(grpc::CallbackServerContext* ctx,
                                         const v1::AcquireLeaseRequest* request,
                                         v1::AcquireLeaseResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* ctx,
                                      const v1::HeartbeatRequest* request,
                                      v1::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* ReportPoints(grpc::CallbackServerContext* ctx,
                                         const v1::ReportPointsRequest* request,
                                         v1::ReportPointsResponse* response) override;
  grpc::ServerReadReactor<v1::CheckpointUpload>* UploadCheckpoint(
      grpc::CallbackServerContext* ctx, v1::UploadCheckpointResponse* response) override;
  grpc::ServerWriteReactor<v1::CheckpointChunk>* DownloadCheckpoint(
      grpc::CallbackServerContext* ctx, const v1::DownloadCheckpointRequest* request) override;
  grpc::ServerUnaryReactor* CompleteJob(grpc::CallbackServerContext* ctx,
                                        const v1::CompleteJobRequest* request,
                                        v1::CompleteJobResponse* response) override;
  grpc::ServerUnaryReactor* Rendezvous(grpc::CallbackServerContext* ctx,
                                       const v1::RendezvousRequest* request,
                                       v1::RendezvousResponse* response) override;
  grpc::ServerUnaryReactor* ReportLogs(grpc::CallbackServerContext* ctx,
                                       const v1::ReportLogsRequest* request,
                                       v1::ReportLogsResponse* response) override;
  // Datasets (datasets.h).
  grpc::ServerUnaryReactor* GetDataset(grpc::CallbackServerContext* ctx,
                                       const v1::GetDatasetRequest* request,
                                       v1::Dataset* response) override;
  grpc::ServerWriteReactor<v1::DatasetChunk>* DownloadChunks(
      grpc::CallbackServerContext* ctx, const v1::DownloadChunksRequest* request) override;

 private:
  CoordinatorCore* core_;
  Gatekeeper* gate_;
};

class ClientServiceImpl final : public v1::ClientService::CallbackService {
 public:
  ClientServiceImpl(CoordinatorCore* core, Gatekeeper* gate) : core_(core), gate_(gate) {}

  grpc::ServerUnaryReactor* CreateSweep(grpc::CallbackServerContext* ctx,
                                        const v1::CreateSweepRequest* request,
                                        v1::CreateSweepResponse* response) override;
  grpc::ServerUnaryReactor* GetSweep(grpc::CallbackServerContext* ctx,
                                     const v1::GetSweepRequest* request,
                                     v1::Sweep* response) override;
  grpc::ServerUnaryReactor* ListSweeps(grpc::CallbackServerContext* ctx,
                                       const v1::ListSweepsRequest* request,
                                       v1::ListSweepsResponse* response) override;
  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* ctx,
                                      const v1::SubmitJobRequest* request,
                                      v1::SubmitJobResponse* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* ctx,
                                   const v1::GetJobRequest* request, v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* ctx,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* ctx,
                                      const v1::CancelJobRequest* request,
                                      v1::Job* response) override;
  grpc::ServerUnaryReactor* RetryJob(grpc::CallbackServerContext* ctx,
                                     const v1::RetryJobRequest* request,
                                     v1::Job* response) override;
  grpc::ServerUnaryReactor* SetJobPriority(grpc::CallbackServerContext* ctx,
                                           const v1::SetJobPriorityRequest* request,
                                           v1::Job* response) override;
  grpc::ServerUnaryReactor* DeleteJob(grpc::CallbackServerContext* ctx,
                                      const v1::DeleteJobRequest* request,
                                      v1::DeleteJobResponse* response) override;
  grpc::ServerUnaryReactor* CancelSweep(grpc::CallbackServerContext* ctx,
                                        const v1::CancelSweepRequest* request,
                                        v1::CancelSweepResponse* response) override;
  grpc::ServerUnaryReactor* DeleteSweep(grpc::CallbackServerContext* ctx,
                                        const v1::DeleteSweepRequest* request,
                                        v1::DeleteSweepResponse* response) override;
  grpc::ServerWriteReactor<v1::JobEvent>* WatchJob(grpc::CallbackServerContext* ctx,
                                                   const v1::WatchJobRequest* request) override;
  grpc::ServerUnaryReactor* GetLossCurve(grpc::CallbackServerContext* ctx,
                                         const v1::GetLossCurveRequest* request,
                                         v1::GetLossCurveResponse* response) override;
  grpc::ServerUnaryReactor* ListCheckpoints(grpc::CallbackServerContext* ctx,
                                            const v1::ListCheckpointsRequest* request,
                                            v1::ListCheckpointsResponse* response) override;
  grpc::ServerWriteReactor<v1::CheckpointChunk>* DownloadCheckpoint(
      grpc::CallbackServerContext* ctx, const v1::DownloadCheckpointRequest* request) override;
  grpc::ServerUnaryReactor* GetClusterStatus(grpc::CallbackServerContext* ctx,
                                             const v1::GetClusterStatusRequest* request,
                                             v1::GetClusterStatusResponse* response) override;
  grpc::ServerUnaryReactor* FitLaw(grpc::CallbackServerContext* ctx,
                                   const v1::FitLawRequest* request,
                                   v1::FitLawResponse* response) override;
  grpc::ServerUnaryReactor* OptimalSparsity(grpc::CallbackServerContext* ctx,
                                            const v1::OptimalSparsityRequest* request,
                                            v1::OptimalSparsityResponse* response) override;
  grpc::ServerWriteReactor<v1::LogChunk>* StreamJobLogs(
      grpc::CallbackServerContext* ctx, const v1::StreamJobLogsRequest* request) override;
  grpc::ServerUnaryReactor* CreateToken(grpc::CallbackServerContext* ctx,
                                        const v1::CreateTokenRequest* request,
                                        v1::CreateTokenResponse* response) override;
  grpc::ServerUnaryReactor* ListTokens(grpc::CallbackServerContext* ctx,
                                       const v1::ListTokensRequest* request,
                                       v1::ListTokensResponse* response) override;
  grpc::ServerUnaryReactor* RevokeToken(grpc::CallbackServerContext* ctx,
                                        const v1::RevokeTokenRequest* request,
                                        v1::RevokeTokenResponse* response) override;
  grpc::ServerUnaryReactor* ListAudit(grpc::CallbackServerContext* ctx,
                                      const v1::ListAuditRequest* request,
                                      v1::ListAuditResponse* response) override;
  // Datasets (datasets.h).
  grpc::ServerUnaryReactor* FindMissingChunks(grpc::CallbackServerContext* ctx,
                                              const v1::FindMissingChunksRequest* request,
                                              v1::FindMissingChunksResponse* response) override;
  grpc::ServerUnaryReactor* PutChunk(grpc::CallbackServerContext* ctx,
                                     const v1::PutChunkRequest* request,
                                     v1::PutChunkResponse* response) override;
  grpc::ServerUnaryReactor* CommitDataset(grpc::CallbackServerContext* ctx,
                                          const v1::CommitDatasetRequest* request,
                                          v1::CommitDatasetResponse* response) override;
  grpc::ServerUnaryReactor* ListDatasets(grpc::CallbackServerContext* ctx,
                                         const v1::ListDatasetsRequest* request,
                                         v1::ListDatasetsResponse* response) override;
  grpc::ServerUnaryReactor* GetDataset(grpc::CallbackServerContext* ctx,
                                       const v1::GetDatasetRequest* request,
                                       v1::Dataset* response) override;
  grpc::ServerUnaryReactor* DeleteDataset(grpc::CallbackServerContext* ctx,
                                          const v1::DeleteDatasetRequest* request,
                                          v1::DeleteDatasetResponse* response) override;

 private:
  CoordinatorCore* core_;
  Gatekeeper* gate_;
};

// A stream refused before it started (the Gatekeeper said no): finishes with `status`.
template <typename T>
class RefusedWriter final : public grpc::ServerWriteReactor<T> {
 public:
  explicit RefusedWriter(const absl::Status& status) { this->Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};
template <typename T>
class RefusedReader final : public grpc::ServerReadReactor<T> {
 public:
  explicit RefusedReader(const absl::Status& status) { this->Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

// What an upload stream asks of the Gatekeeper once its first message names the worker, and
// tells it at the end (the checkpoint's info stands for the request).
struct UploadHooks {
  std::function<absl::Status(const std::string& worker_id)> admit_worker;
  std::function<void(const v1::CheckpointInfo& info, const absl::Status& status)> finished;
};

// Streaming reactors (streams.cc).
grpc::ServerReadReactor<v1::CheckpointUpload>* NewUploadReactor(
    CoordinatorCore* core, v1::UploadCheckpointResponse* response, UploadHooks hooks);
grpc::ServerWriteReactor<v1::CheckpointChunk>* NewDownloadReactor(
    CoordinatorCore* core, const v1::DownloadCheckpointRequest* request);
grpc::ServerWriteReactor<v1::JobEvent>* NewWatchReactor(CoordinatorCore* core,
                                                        const v1::WatchJobRequest* request);
// log_stream.cc
grpc::ServerWriteReactor<v1::LogChunk>* NewLogsReactor(CoordinatorCore* core,
                                                       const v1::StreamJobLogsRequest* request);

}  // namespace sparsescale::coordinator
