// The gRPC services of sparsescale.v1 (callback API): each method validates its request, then
// hands it to CoordinatorCore and finishes the reactor from the core's completion. Streaming
// calls use the reactors in streams.h. Thread-safety: thread-safe (gRPC calls them
// concurrently; all state lives in the core).
#pragma once

#include <grpcpp/grpcpp.h>

#include "coordinator/core/core.h"
#include "sparsescale/v1/coordinator.grpc.pb.h"

namespace sparsescale::coordinator {

class WorkerServiceImpl final : public v1::WorkerService::CallbackService {
 public:
  explicit WorkerServiceImpl(CoordinatorCore* core) : core_(core) {}

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

 private:
  CoordinatorCore* core_;
};

class ClientServiceImpl final : public v1::ClientService::CallbackService {
 public:
  explicit ClientServiceImpl(CoordinatorCore* core) : core_(core) {}

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

 private:
  CoordinatorCore* core_;
};

// Streaming reactors (streams.cc).
grpc::ServerReadReactor<v1::CheckpointUpload>* NewUploadReactor(
    CoordinatorCore* core, v1::UploadCheckpointResponse* response);
grpc::ServerWriteReactor<v1::CheckpointChunk>* NewDownloadReactor(
    CoordinatorCore* core, const v1::DownloadCheckpointRequest* request);
grpc::ServerWriteReactor<v1::JobEvent>* NewWatchReactor(CoordinatorCore* core,
                                                        const v1::WatchJobRequest* request);
// log_stream.cc
grpc::ServerWriteReactor<v1::LogChunk>* NewLogsReactor(CoordinatorCore* core,
                                                       const v1::StreamJobLogsRequest* request);

}  // namespace sparsescale::coordinator
