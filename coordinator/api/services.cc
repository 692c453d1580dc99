#include "coordinator/api/services.h"

#include <type_traits>

#include "common/status.h"
#include "coordinator/api/convert.h"
#include "coordinator/api/datasets.h"
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
// `start` with a completion that audits the call and finishes (and the admitted caller, when
// `start` takes it). `request` and `response` live until the reactor finishes.
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
  Done done = [reactor, gate, caller = *caller, request, response](absl::Status status) {
    gate->Finished(caller, request, response, status);
    reactor->Finish(ToGrpcStatus(status));
  };
  if constexpr (std::is_invocable_v<Start, Done, const Gatekeeper::Caller&>) {
    start(std::move(done), *caller);
  } else {
    start(std::move(done));
  }
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
  // Rendezvous names no worker: the binding is checked against the worker holding the job's
  // lease, once the core knows it.
  return Unary(gate_, ctx, "WorkerService.Rendezvous", request, response,
               ValidateRendezvous(*request), [&](Done done, const Gatekeeper::Caller& caller) {
                 core_->Rendezvous(*request, response, std::move(done),
                                   [gate = gate_, caller, request](const std::string& holder) {
                                     return gate->CheckRendezvous(caller, *request, holder);
                                   });
               });
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportLogs(grpc::CallbackServerContext* ctx,
                                                        const v1::ReportLogsRequest* request,
                                                        v1::ReportLogsResponse* response) {
  return Unary(gate_, ctx, "WorkerService.ReportLogs", request, response,
               ValidateReportLogs(*request),
               [&](Done done) { core_->ReportLogs(*request, response, done); });
}

namespace {

// Expands and validates every cell of a sweep, before anything is stored.
absl::StatusOr<std::vector<PreparedJob>> PrepareSweep(const v1::CreateSweepRequest& request) {
  std::vector<PreparedJob> prepared;
  RETURN_IF_ERROR(ValidateCreateSweep(request));
  RETURN_IF_ERROR(PrepareJob(request.base(), "base.").status());
  ASSIGN_OR_RETURN(auto cells, ExpandSweep(request.base(), request.axes()));
  for (const auto& cell : cells) {
    ASSIGN_OR_RETURN(PreparedJob job, PrepareJob(cell.spec, "cell " + cell.label + ": "));
    prepared.push_back(std::move(job));
  }
  return prepared;
}

}  // namespace

grpc::ServerUnaryReactor* ClientServiceImpl::CreateSweep(grpc::CallbackServerContext* ctx,
                                                         const v1::CreateSweepRequest* request,
                                                         v1::CreateSweepResponse* response) {
  absl::StatusOr<std::vector<PreparedJob>> prepared = PrepareSweep(*request);
  return Unary(gate_, ctx, "ClientService.CreateSweep", request, response, prepared.status(),
               [&](Done done) {
                 if (request->base().data().dataset().empty()) {
                   core_->CreateSweep(*request, std::move(*prepared), response, done);
                   return;
                 }
                 // The base's dataset name is pinned to its hash before the cells are made.
                 auto resolved = std::make_shared<v1::CreateSweepRequest>(*request);
                 ResolveDataset(core_, resolved->mutable_base(), "base.data.dataset",
                                [core = core_, resolved, response, done](absl::Status status) {
                                  if (!status.ok()) {
                                    done(status);
                                    return;
                                  }
                                  absl::StatusOr<std::vector<PreparedJob>> cells =
                                      PrepareSweep(*resolved);
                                  if (!cells.ok()) {
                                    done(cells.status());
                                    return;
                                  }
                                  core->CreateSweep(*resolved, std::move(*cells), response, done);
                                });
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
  return Unary(gate_, ctx, "ClientService.SubmitJob", request, response, valid, [&](Done done) {
    if (request->spec().data().dataset().empty()) {
      core_->SubmitJob(*request, std::move(*job), response, done);
      return;
    }
    // A dataset name is pinned to its hash before the job (and its cell id) is made.
    auto resolved = std::make_shared<v1::SubmitJobRequest>(*request);
    ResolveDataset(core_, resolved->mutable_spec(), "spec.data.dataset",
                   [core = core_, resolved, response, done](absl::Status status) {
                     if (!status.ok()) {
                       done(status);
                       return;
                     }
                     absl::StatusOr<PreparedJob> pinned = PrepareJob(resolved->spec(), "spec.");
                     if (!pinned.ok()) {
                       done(pinned.status());
                       return;
                     }
                     core->SubmitJob(*resolved, std::move(*pinned), response, done);
                   });
  });
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

// Datasets. Reads run on the read pool, writes through the StoreWriter; a commit verifies the
// files' hashes on the read pool first, so the writer thread never hashes a dataset.

grpc::ServerUnaryReactor* ClientServiceImpl::FindMissingChunks(
    grpc::CallbackServerContext* ctx, const v1::FindMissingChunksRequest* request,
    v1::FindMissingChunksResponse* response) {
  return Unary(gate_, ctx, "ClientService.FindMissingChunks", request, response,
               ValidateFindMissingChunks(*request), [&](Done done) {
                 core_->Read(
                     [request, response](store::Store& store) -> absl::Status {
                       ASSIGN_OR_RETURN(std::vector<std::string> missing,
                                        store::MissingChunks(store, {request->chunks().begin(),
                                                                     request->chunks().end()}));
                       for (std::string& chunk : missing) {
                         response->add_missing(std::move(chunk));
                       }
                       return absl::OkStatus();
                     },
                     done);
               });
}

grpc::ServerUnaryReactor* ClientServiceImpl::PutChunk(grpc::CallbackServerContext* ctx,
                                                      const v1::PutChunkRequest* request,
                                                      v1::PutChunkResponse* response) {
  return Unary(gate_, ctx, "ClientService.PutChunk", request, response,
               ValidatePutChunk(*request), [&](Done done) {
                 core_->Write(
                     [request, response, now = core_->now_unix_ms()](store::Store& store)
                         -> absl::Status {
                       ASSIGN_OR_RETURN(const bool stored,
                                        store::PutDatasetChunk(store, request->dataset(),
                                                               request->sha256(), request->data(),
                                                               now));
                       response->set_stored(stored);
                       return absl::OkStatus();
                     },
                     done);
               });
}

grpc::ServerUnaryReactor* ClientServiceImpl::CommitDataset(
    grpc::CallbackServerContext* ctx, const v1::CommitDatasetRequest* request,
    v1::CommitDatasetResponse* response) {
  return Unary(gate_, ctx, "ClientService.CommitDataset", request, response,
               ValidateCommitDataset(*request), [&](Done done) {
                 auto files =
                     std::make_shared<std::vector<store::DatasetFileRow>>(FilesFromProto(*request));
                 core_->Read(
                     [files](store::Store& store) {
                       return store::VerifyDatasetFiles(store, *files);
                     },
                     [core = core_, files, request, response, done](absl::Status verified) {
                       if (!verified.ok()) {
                         done(verified);
                         return;
                       }
                       core->Write(
                           [files, request, response,
                            now = core->now_unix_ms()](store::Store& store) -> absl::Status {
                             ASSIGN_OR_RETURN(
                                 store::CommitOutcome outcome,
                                 store::CommitDatasetFiles(store, request->name(), *files, now));
                             outcome.dataset.files.clear();
                             DatasetToProto(outcome.dataset, response->mutable_dataset());
                             response->set_created(outcome.created);
                             return absl::OkStatus();
                           },
                           done);
                     });
               });
}

grpc::ServerUnaryReactor* ClientServiceImpl::ListDatasets(grpc::CallbackServerContext* ctx,
                                                          const v1::ListDatasetsRequest* request,
                                                          v1::ListDatasetsResponse* response) {
  return Unary(gate_, ctx, "ClientService.ListDatasets", request, response, absl::OkStatus(),
               [&](Done done) {
                 core_->Read(
                     [response](store::Store& store) -> absl::Status {
                       ASSIGN_OR_RETURN(std::vector<store::DatasetRow> rows,
                                        store::ListDatasets(store));
                       for (const store::DatasetRow& row : rows) {
                         DatasetToProto(row, response->add_datasets());
                       }
                       return absl::OkStatus();
                     },
                     done);
               });
}

namespace {

// GetDataset of either service: the dataset (with its files) by name or hash.
void ReadDataset(CoordinatorCore* core, const v1::GetDatasetRequest* request,
                 v1::Dataset* response, bool ready_only, Done done) {
  core->Read(
      [request, response, ready_only](store::Store& store) -> absl::Status {
        ASSIGN_OR_RETURN(std::optional<store::DatasetRow> found,
                         store::FindDataset(store, request->dataset(), /*with_files=*/true));
        if (!found || (ready_only && found->state != store::DatasetState::kReady)) {
          return absl::NotFoundError(
              absl::StrCat("dataset: no ", ready_only ? "ready " : "", "dataset ",
                           request->dataset()));
        }
        DatasetToProto(*found, response);
        return absl::OkStatus();
      },
      std::move(done));
}

}  // namespace

grpc::ServerUnaryReactor* ClientServiceImpl::GetDataset(grpc::CallbackServerContext* ctx,
                                                        const v1::GetDatasetRequest* request,
                                                        v1::Dataset* response) {
  return Unary(gate_, ctx, "ClientService.GetDataset", request, response,
               ValidateDatasetRef(request->dataset(), "dataset"),
               [&](Done done) { ReadDataset(core_, request, response, false, done); });
}

grpc::ServerUnaryReactor* ClientServiceImpl::DeleteDataset(
    grpc::CallbackServerContext* ctx, const v1::DeleteDatasetRequest* request,
    v1::DeleteDatasetResponse* response) {
  return Unary(gate_, ctx, "ClientService.DeleteDataset", request, response,
               ValidateDatasetRef(request->dataset(), "dataset"), [&](Done done) {
                 core_->Write(
                     [request, response](store::Store& store) -> absl::Status {
                       ASSIGN_OR_RETURN(store::DeleteOutcome outcome,
                                        store::DeleteDataset(store, request->dataset()));
                       DatasetToProto(outcome.dataset, response->mutable_dataset());
                       response->set_chunks_deleted(outcome.chunks_deleted);
                       response->set_bytes_freed(outcome.bytes_freed);
                       return absl::OkStatus();
                     },
                     done);
               });
}

grpc::ServerUnaryReactor* WorkerServiceImpl::GetDataset(grpc::CallbackServerContext* ctx,
                                                        const v1::GetDatasetRequest* request,
                                                        v1::Dataset* response) {
  return Unary(gate_, ctx, "WorkerService.GetDataset", request, response,
               ValidateDatasetRef(request->dataset(), "dataset"),
               [&](Done done) { ReadDataset(core_, request, response, true, done); });
}

grpc::ServerWriteReactor<v1::DatasetChunk>* WorkerServiceImpl::DownloadChunks(
    grpc::CallbackServerContext* ctx, const v1::DownloadChunksRequest* request) {
  if (absl::Status refused = gate_->Admit(ctx, "WorkerService.DownloadChunks", request).status();
      !refused.ok()) {
    return new RefusedWriter<v1::DatasetChunk>(refused);
  }
  return NewChunkDownloadReactor(core_, request);
}

}  // namespace sparsescale::coordinator
