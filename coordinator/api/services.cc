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

// Has the Gatekeeper admit the call, then finishes at once with `valid`'s error or starts
// `start` with a completion that audits the call and finishes. `request` and `response` live
// until the reactor finishes.
template <typename Start>
grpc::ServerUnaryReactor* Unary(Gatekeeper* gate, grpc::CallbackServerContext* ctx,
                                std::string_view method, const google::protobuf::Message* request,
                                const google::protobuf::Message* response,
                                const absl::Status& valid, Start start) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<Gatekeeper::Caller> caller = gate->Admit(ctx, method, request);
  if (!caller.ok()) {
    reactor->Finish(ToGrpcStatus(caller.status()));
    return reactor;
  }
  if (!valid.ok()) {
    gate->Finished(*caller, request, nullptr, valid);
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  start([reactor, gate, caller = *caller, request, response](absl::Status status) {
    gate->Finished(caller, request, response, status);
    reactor->Finish(ToGrpcStatus(status));
  });
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* WorkerServiceImpl::RegisterWorker(
    grpc::CallbackServerContext* ctx, const v1::RegisterWorkerRequest* request,
    v1::RegisterWorkerResponse* response) {
  return Unary(gate_, ctx, "WorkerService.RegisterWorker", request, response,
               ValidateRegisterWorker(*request),
               [&](Done done) { core_->RegisterWorker(*request, response, done); });
}

grpc::ServerUnaryReactor* WorkerServiceImpl::AcquireLease(grpc::CallbackServerContext* ctx,
                                                          const v1::AcquireLeaseRequest* request,
                                                          v1::AcquireLeaseResponse* response) {
  return Unary(gate_, ctx, "WorkerService.AcquireLease", request, response,
               ValidateAcquireLease(*request), [&](Done done) {
                 core_->AcquireLease(
                     *request, response, [ctx] { return ctx->IsCancelled(); }, done);
               });
}

grpc::ServerUnaryReactor* WorkerServiceImpl::Heartbeat(grpc::CallbackServerContext* ctx,
                                                       const v1::HeartbeatRequest* request,
                                                       v1::HeartbeatResponse* response) {
  return Unary(gate_, ctx, "WorkerService.Heartbeat", request, response,
               ValidateHeartbeat(*request),
               [&](Done done) { core_->Heartbeat(*request, response, done); });
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportPoints(grpc::CallbackServerContext* ctx,
                                                          const v1::ReportPointsRequest* request,
                                                          v1::ReportPointsResponse* response) {
  return Unary(gate_, ctx, "WorkerService.ReportPoints", request, response,
               ValidateReportPoints(*request), [&](Done done) {
                 PointReport report{.worker_id = request->worker_id(),
                                    .job_id = request->job_id(),
                                    .attempt = request->attempt(),
                                    .points = {request->points().begin(), request->points().end()}};
                 core_->ReportPoints(std::move(report), response, done);
               });
}

grpc::ServerReadReactor<v1::CheckpointUpload>* WorkerServiceImpl::UploadCheckpoint(
    grpc::CallbackServerContext* ctx, v1::UploadCheckpointResponse* response) {
  absl::StatusOr<Gatekeeper::Caller> caller =
      gate_->Admit(ctx, "WorkerService.UploadCheckpoint", nullptr);
  if (!caller.ok()) {
    return new RefusedReader<v1::CheckpointUpload>(caller.status());
  }
  UploadHooks hooks{
      .admit_worker = [gate = gate_, c = *caller](
                          const std::string& worker_id) { return gate->CheckWorker(c, worker_id); },
      .finished = [gate = gate_, c = *caller](
                      const v1::CheckpointInfo& info,
                      const absl::Status& status) { gate->Finished(c, &info, nullptr, status); }};
  return NewUploadReactor(core_, response, std::move(hooks));
}

grpc::ServerWriteReactor<v1::CheckpointChunk>* WorkerServiceImpl::DownloadCheckpoint(
    grpc::CallbackServerContext* ctx, const v1::DownloadCheckpointRequest* request) {
  if (absl::Status refused =
          gate_->Admit(ctx, "WorkerService.DownloadCheckpoint", request).status();
      !refused.ok()) {
    return new RefusedWriter<v1::CheckpointChunk>(refused);
  }
  return NewDownloadReactor(core_, request);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::CompleteJob(grpc::CallbackServerContext* ctx,
                                                         const v1::CompleteJobRequest* request,
                                                         v1::CompleteJobResponse* response) {
  return Unary(gate_, ctx, "WorkerService.CompleteJob", request, response,
               ValidateCompleteJob(*request),
               [&](Done done) { core_->CompleteJob(*request, response, done); });
}

grpc::ServerUnaryReactor* WorkerServiceImpl::Rendezvous(grpc::CallbackServerContext* ctx,
                                                        const v1::RendezvousRequest* request,
                                                        v1::RendezvousResponse* response) {
  return Unary(gate_, ctx, "WorkerService.Rendezvous", request, response,
               ValidateRendezvous(*request),
               [&](Done done) { core_->Rendezvous(*request, response, done); });
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportLogs(grpc::CallbackServerContext* ctx,
                                                        const v1::ReportLogsRequest* request,
                                                        v1::ReportLogsResponse* response) {
  return Unary(gate_, ctx, "WorkerService.ReportLogs", request, response,
               ValidateReportLogs(*request),
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
  return Unary(gate_, ctx, "ClientService.CreateSweep", request, response, valid, [&](Done done) {
    core_->CreateSweep(*request, std::move(prepared), response, done);
  });
}

grpc::ServerUnaryReactor* ClientServiceImpl::GetSweep(grpc::CallbackServerContext* ctx,
                                                      const v1::GetSweepRequest* request,
                                                      v1::Sweep* response) {
  return Unary(gate_, ctx, "ClientService.GetSweep", request, response,
               ValidateId(request->id(), "id"),
               [&](Done done) { core_->GetSweep(request->id(), response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::ListSweeps(grpc::CallbackServerContext* ctx,
                                                        const v1::ListSweepsRequest* request,
                                                        v1::ListSweepsResponse* response) {
  absl::StatusOr<Page> page = PageOf(request->page_token(), request->page_size());
  return Unary(gate_, ctx, "ClientService.ListSweeps", request, response, page.status(),
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
  return Unary(gate_, ctx, "ClientService.SubmitJob", request, response, valid,
               [&](Done done) { core_->SubmitJob(*request, std::move(*job), response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::GetJob(grpc::CallbackServerContext* ctx,
                                                    const v1::GetJobRequest* request,
                                                    v1::Job* response) {
  return Unary(gate_, ctx, "ClientService.GetJob", request, response,
               ValidateId(request->id(), "id"),
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
  return Unary(gate_, ctx, "ClientService.ListJobs", request, response, valid, [&](Done done) {
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
  return Unary(gate_, ctx, "ClientService.RetryJob", request, response,
               ValidateIdRequest(request->request_id(), request->id()),
               [&](Done done) { core_->RetryJob(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::SetJobPriority(
    grpc::CallbackServerContext* ctx, const v1::SetJobPriorityRequest* request, v1::Job* response) {
  return Unary(gate_, ctx, "ClientService.SetJobPriority", request, response,
               ValidateSetJobPriority(*request),
               [&](Done done) { core_->SetJobPriority(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::DeleteJob(grpc::CallbackServerContext* ctx,
                                                       const v1::DeleteJobRequest* request,
                                                       v1::DeleteJobResponse* response) {
  return Unary(gate_, ctx, "ClientService.DeleteJob", request, response,
               ValidateIdRequest(request->request_id(), request->id()),
               [&](Done done) { core_->DeleteJob(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::CancelSweep(grpc::CallbackServerContext* ctx,
                                                         const v1::CancelSweepRequest* request,
                                                         v1::CancelSweepResponse* response) {
  return Unary(gate_, ctx, "ClientService.CancelSweep", request, response,
               ValidateIdRequest(request->request_id(), request->id()),
               [&](Done done) { core_->CancelSweep(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::DeleteSweep(grpc::CallbackServerContext* ctx,
                                                         const v1::DeleteSweepRequest* request,
                                                         v1::DeleteSweepResponse* response) {
  return Unary(gate_, ctx, "ClientService.DeleteSweep", request, response,
               ValidateIdRequest(request->request_id(), request->id()),
               [&](Done done) { core_->DeleteSweep(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::CancelJob(grpc::CallbackServerContext* ctx,
                                                       const v1::CancelJobRequest* request,
                                                       v1::Job* response) {
  return Unary(gate_, ctx, "ClientService.CancelJob", request, response,
               ValidateCancelJob(*request),
               [&](Done done) { core_->CancelJob(*request, response, done); });
}

grpc::ServerWriteReactor<v1::JobEvent>* ClientServiceImpl::WatchJob(
    grpc::CallbackServerContext* ctx, const v1::WatchJobRequest* request) {
  if (absl::Status refused = gate_->Admit(ctx, "ClientService.WatchJob", request).status();
      !refused.ok()) {
    return new RefusedWriter<v1::JobEvent>(refused);
  }
  return NewWatchReactor(core_, request);
}

grpc::ServerUnaryReactor* ClientServiceImpl::GetLossCurve(grpc::CallbackServerContext* ctx,
                                                          const v1::GetLossCurveRequest* request,
                                                          v1::GetLossCurveResponse* response) {
  return Unary(gate_, ctx, "ClientService.GetLossCurve", request, response,
               ValidateGetLossCurve(*request),
               [&](Done done) { core_->GetLossCurve(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::ListCheckpoints(
    grpc::CallbackServerContext* ctx, const v1::ListCheckpointsRequest* request,
    v1::ListCheckpointsResponse* response) {
  return Unary(gate_, ctx, "ClientService.ListCheckpoints", request, response,
               ValidateId(request->job_id(), "job_id"),
               [&](Done done) { core_->ListCheckpoints(request->job_id(), response, done); });
}

grpc::ServerWriteReactor<v1::CheckpointChunk>* ClientServiceImpl::DownloadCheckpoint(
    grpc::CallbackServerContext* ctx, const v1::DownloadCheckpointRequest* request) {
  if (absl::Status refused =
          gate_->Admit(ctx, "ClientService.DownloadCheckpoint", request).status();
      !refused.ok()) {
    return new RefusedWriter<v1::CheckpointChunk>(refused);
  }
  return NewDownloadReactor(core_, request);
}

grpc::ServerUnaryReactor* ClientServiceImpl::GetClusterStatus(
    grpc::CallbackServerContext* ctx, const v1::GetClusterStatusRequest* request,
    v1::GetClusterStatusResponse* response) {
  return Unary(gate_, ctx, "ClientService.GetClusterStatus", request, response, absl::OkStatus(),
               [&](Done done) { core_->GetClusterStatus(response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::FitLaw(grpc::CallbackServerContext* ctx,
                                                    const v1::FitLawRequest* request,
                                                    v1::FitLawResponse* response) {
  return Unary(gate_, ctx, "ClientService.FitLaw", request, response, ValidateFitLaw(*request),
               [&](Done done) { core_->FitLaw(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::OptimalSparsity(
    grpc::CallbackServerContext* ctx, const v1::OptimalSparsityRequest* request,
    v1::OptimalSparsityResponse* response) {
  return Unary(gate_, ctx, "ClientService.OptimalSparsity", request, response,
               ValidateOptimalSparsity(*request),
               [&](Done done) { core_->OptimalSparsity(*request, response, done); });
}

grpc::ServerWriteReactor<v1::LogChunk>* ClientServiceImpl::StreamJobLogs(
    grpc::CallbackServerContext* ctx, const v1::StreamJobLogsRequest* request) {
  if (absl::Status refused = gate_->Admit(ctx, "ClientService.StreamJobLogs", request).status();
      !refused.ok()) {
    return new RefusedWriter<v1::LogChunk>(refused);
  }
  return NewLogsReactor(core_, request);
}

grpc::ServerUnaryReactor* ClientServiceImpl::CreateToken(grpc::CallbackServerContext* ctx,
                                                         const v1::CreateTokenRequest* request,
                                                         v1::CreateTokenResponse* response) {
  return Unary(gate_, ctx, "ClientService.CreateToken", request, response, absl::OkStatus(),
               [&](Done done) { gate_->CreateToken(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::ListTokens(grpc::CallbackServerContext* ctx,
                                                        const v1::ListTokensRequest* request,
                                                        v1::ListTokensResponse* response) {
  return Unary(gate_, ctx, "ClientService.ListTokens", request, response, absl::OkStatus(),
               [&](Done done) { gate_->ListTokens(response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::RevokeToken(grpc::CallbackServerContext* ctx,
                                                         const v1::RevokeTokenRequest* request,
                                                         v1::RevokeTokenResponse* response) {
  return Unary(gate_, ctx, "ClientService.RevokeToken", request, response, absl::OkStatus(),
               [&](Done done) { gate_->RevokeToken(*request, response, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::ListAudit(grpc::CallbackServerContext* ctx,
                                                       const v1::ListAuditRequest* request,
                                                       v1::ListAuditResponse* response) {
  return Unary(gate_, ctx, "ClientService.ListAudit", request, response, absl::OkStatus(),
               [&](Done done) { gate_->ListAudit(*request, response, done); });
}

}  // namespace sparsescale::coordinator
