#include "coordinator/api/services.h"

#include "common/status.h"
#include "coordinator/api/convert.h"
#include "coordinator/api/validate.h"
#include "coordinator/core/job_rules.h"
#include "coordinator/core/proto_convert.h"

namespace sparsescale::coordinator {
namespace {

using Done = CoordinatorCore::Done;

// The page a listing asks for (InvalidArgument naming page_token or page_size).
absl::StatusOr<Page> PageOf(const std::string& token, int size) {
  ASSIGN_OR_RETURN(const int64_t after, ParsePageToken(token, "page_token"));
  ASSIGN_OR_RETURN(const int rows, PageSize(size, "page_size"));
  return Page{.after = after, .size = rows};
}

// Finishes at once with `valid`'s error, or starts `start` with a completion that finishes.
template <typename Start>
grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, const absl::Status& valid,
                                Start start) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (!valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  start([reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* WorkerServiceImpl::RegisterWorker(
    grpc::CallbackServerContext* ctx, const v1::RegisterWorkerRequest* request,
    v1::RegisterWorkerResponse* response) {
  return Unary(ctx, ValidateRegisterWorker(*request),
               [&](Done done) { core_->RegisterWorker(*request, response, done); });
}

grpc::ServerUnaryReactor* WorkerServiceImpl::AcquireLease(grpc::CallbackServerContext* ctx,
                                                          const v1::AcquireLeaseRequest* request,
                                                          v1::AcquireLeaseResponse* response) {
  return Unary(ctx, ValidateAcquireLease(*request), [&](Done done) {
    core_->AcquireLease(
        *request, response, [ctx] { return ctx->IsCancelled(); }, done);
  });
}

grpc::ServerUnaryReactor* WorkerServiceImpl::Heartbeat(grpc::CallbackServerContext* ctx,
                                                       const v1::HeartbeatRequest* request,
                                                       v1::HeartbeatResponse* response) {
  return Unary(ctx, ValidateHeartbeat(*request),
               [&](Done done) { core_->Heartbeat(*request, response, done); });
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportPoints(grpc::CallbackServerContext* ctx,
                                                          const v1::ReportPointsRequest* request,
                                                          v1::ReportPointsResponse* response) {
  return Unary(ctx, ValidateReportPoints(*request), [&](Done done) {
    PointReport report{.worker_id = request->worker_id(),
                       .job_id = request->job_id(),
                       .attempt = request->attempt(),
                       .points = {request->points().begin(), request->points().end()}};
    core_->ReportPoints(std::move(report), response, done);
  });
}

grpc::ServerReadReactor<v1::CheckpointUpload>* WorkerServiceImpl::UploadCheckpoint(
    grpc::CallbackServerContext*, v1::UploadCheckpointResponse* response) {
  return NewUploadReactor(core_, response);
}

grpc::ServerWriteReactor<v1::CheckpointChunk>* WorkerServiceImpl::DownloadCheckpoint(
    grpc::CallbackServerContext*, const v1::DownloadCheckpointRequest* request) {
  return NewDownloadReactor(core_, request);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::CompleteJob(grpc::CallbackServerContext* ctx,
                                                         const v1::CompleteJobRequest* request,
                                                         v1::CompleteJobResponse* response) {
  return Unary(ctx, ValidateCompleteJob(*request),
               [&](Done done) { core_->CompleteJob(*request, response, done); });
}

grpc::ServerUnaryReactor* WorkerServiceImpl::Rendezvous(grpc::CallbackServerContext* ctx,
                                                        const v1::RendezvousRequest* request,
                                                        v1::RendezvousResponse* response) {
  return Unary(ctx, ValidateRendezvous(*request),
               [&](Done done) { core_->Rendezvous(*request, response, done); });
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportLogs(grpc::CallbackServerContext* ctx,
                                                        const v1::ReportLogsRequest* request,
                                                        v1::ReportLogsResponse* response) {
  return Unary(ctx, ValidateReportLogs(*request),
               [&](Done done) { core_->ReportLogs(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::CreateSweep(grpc::CallbackServerContext* ctx,
                                                         const v1::CreateSweepRequest* request,
                                                         v1::CreateSweepResponse* response) {
  // Expansion and validation of every cell happen here, before anything is stored.
  std::vector<PreparedJob> prepared;
  absl::Status valid = ValidateCreateSweep(*request);
  if (valid.ok()) {
    auto base = PrepareJob(request->base(), "base.");
    valid = base.status();
  }
  if (valid.ok()) {
    auto cells = ExpandSweep(request->base(), request->axes());
    valid = cells.status();
    for (size_t i = 0; valid.ok() && i < cells->size(); ++i) {
      auto job = PrepareJob((*cells)[i].spec, "cell " + (*cells)[i].label + ": ");
      valid = job.status();
      if (job.ok()) {
        prepared.push_back(std::move(*job));
      }
    }
  }
  return Unary(ctx, valid, [&](Done done) {
    core_->CreateSweep(*request, std::move(prepared), response, done);
  });
}

grpc::ServerUnaryReactor* ClientServiceImpl::GetSweep(grpc::CallbackServerContext* ctx,
                                                      const v1::GetSweepRequest* request,
                                                      v1::Sweep* response) {
  return Unary(ctx, ValidateId(request->id(), "id"),
               [&](Done done) { core_->GetSweep(request->id(), response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::ListSweeps(grpc::CallbackServerContext* ctx,
                                                        const v1::ListSweepsRequest* request,
                                                        v1::ListSweepsResponse* response) {
  absl::StatusOr<Page> page = PageOf(request->page_token(), request->page_size());
  return Unary(ctx, page.status(),
               [&](Done done) { core_->ListSweeps(*page, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::SubmitJob(grpc::CallbackServerContext* ctx,
                                                       const v1::SubmitJobRequest* request,
                                                       v1::SubmitJobResponse* response) {
  absl::Status valid = ValidateSubmitJob(*request);
  absl::StatusOr<PreparedJob> job = absl::UnknownError("not prepared");
  if (valid.ok()) {
    job = PrepareJob(request->spec(), "spec.");
    valid = job.status();
  }
  return Unary(ctx, valid,
               [&](Done done) { core_->SubmitJob(*request, std::move(*job), response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::GetJob(grpc::CallbackServerContext* ctx,
                                                    const v1::GetJobRequest* request,
                                                    v1::Job* response) {
  return Unary(ctx, ValidateId(request->id(), "id"),
               [&](Done done) { core_->GetJob(request->id(), response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::ListJobs(grpc::CallbackServerContext* ctx,
                                                      const v1::ListJobsRequest* request,
                                                      v1::ListJobsResponse* response) {
  absl::Status valid = ValidateListJobs(*request);
  absl::StatusOr<Page> page = PageOf(request->page_token(), request->page_size());
  if (valid.ok()) {
    valid = page.status();
  }
  return Unary(ctx, valid, [&](Done done) {
    store::JobFilter filter{.sweep_id = request->sweep_id(), .states = {}};
    for (int state : request->states()) {
      filter.states.push_back(StateFromProto(static_cast<v1::JobState>(state)));
    }
    core_->ListJobs(std::move(filter), *page, response, done);
  });
}

grpc::ServerUnaryReactor* ClientServiceImpl::RetryJob(grpc::CallbackServerContext* ctx,
                                                      const v1::RetryJobRequest* request,
                                                      v1::Job* response) {
  return Unary(ctx, ValidateIdRequest(request->request_id(), request->id()),
               [&](Done done) { core_->RetryJob(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::SetJobPriority(
    grpc::CallbackServerContext* ctx, const v1::SetJobPriorityRequest* request,
    v1::Job* response) {
  return Unary(ctx, ValidateSetJobPriority(*request),
               [&](Done done) { core_->SetJobPriority(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::DeleteJob(grpc::CallbackServerContext* ctx,
                                                       const v1::DeleteJobRequest* request,
                                                       v1::DeleteJobResponse* response) {
  return Unary(ctx, ValidateIdRequest(request->request_id(), request->id()),
               [&](Done done) { core_->DeleteJob(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::CancelSweep(grpc::CallbackServerContext* ctx,
                                                         const v1::CancelSweepRequest* request,
                                                         v1::CancelSweepResponse* response) {
  return Unary(ctx, ValidateIdRequest(request->request_id(), request->id()),
               [&](Done done) { core_->CancelSweep(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::DeleteSweep(grpc::CallbackServerContext* ctx,
                                                         const v1::DeleteSweepRequest* request,
                                                         v1::DeleteSweepResponse* response) {
  return Unary(ctx, ValidateIdRequest(request->request_id(), request->id()),
               [&](Done done) { core_->DeleteSweep(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::CancelJob(grpc::CallbackServerContext* ctx,
                                                       const v1::CancelJobRequest* request,
                                                       v1::Job* response) {
  return Unary(ctx, ValidateCancelJob(*request),
               [&](Done done) { core_->CancelJob(*request, response, done); });
}

grpc::ServerWriteReactor<v1::JobEvent>* ClientServiceImpl::WatchJob(
    grpc::CallbackServerContext*, const v1::WatchJobRequest* request) {
  return NewWatchReactor(core_, request);
}

grpc::ServerUnaryReactor* ClientServiceImpl::GetLossCurve(grpc::CallbackServerContext* ctx,
                                                          const v1::GetLossCurveRequest* request,
                                                          v1::GetLossCurveResponse* response) {
  return Unary(ctx, ValidateGetLossCurve(*request),
               [&](Done done) { core_->GetLossCurve(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::ListCheckpoints(
    grpc::CallbackServerContext* ctx, const v1::ListCheckpointsRequest* request,
    v1::ListCheckpointsResponse* response) {
  return Unary(ctx, ValidateId(request->job_id(), "job_id"),
               [&](Done done) { core_->ListCheckpoints(request->job_id(), response, done); });
}

grpc::ServerWriteReactor<v1::CheckpointChunk>* ClientServiceImpl::DownloadCheckpoint(
    grpc::CallbackServerContext*, const v1::DownloadCheckpointRequest* request) {
  return NewDownloadReactor(core_, request);
}

grpc::ServerUnaryReactor* ClientServiceImpl::GetClusterStatus(
    grpc::CallbackServerContext* ctx, const v1::GetClusterStatusRequest*,
    v1::GetClusterStatusResponse* response) {
  return Unary(ctx, absl::OkStatus(), [&](Done done) { core_->GetClusterStatus(response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::FitLaw(grpc::CallbackServerContext* ctx,
                                                    const v1::FitLawRequest* request,
                                                    v1::FitLawResponse* response) {
  return Unary(ctx, ValidateFitLaw(*request),
               [&](Done done) { core_->FitLaw(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::OptimalSparsity(
    grpc::CallbackServerContext* ctx, const v1::OptimalSparsityRequest* request,
    v1::OptimalSparsityResponse* response) {
  return Unary(ctx, ValidateOptimalSparsity(*request),
               [&](Done done) { core_->OptimalSparsity(*request, response, done); });
}

grpc::ServerWriteReactor<v1::LogChunk>* ClientServiceImpl::StreamJobLogs(
    grpc::CallbackServerContext*, const v1::StreamJobLogsRequest* request) {
  return NewLogsReactor(core_, request);
}

}  // namespace sparsescale::coordinator
