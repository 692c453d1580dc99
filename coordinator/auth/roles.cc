#include "coordinator/auth/roles.h"

#include "absl/strings/str_cat.h"

namespace sparsescale::auth {

const std::vector<RpcRule>& RpcRules() {
  using v1::ROLE_ADMIN, v1::ROLE_SUBMITTER, v1::ROLE_VIEWER, v1::ROLE_WORKER;
  static const std::vector<RpcRule>* rules = new std::vector<RpcRule>{
      {"ClientService.CreateSweep", ROLE_SUBMITTER, true, false},
      {"ClientService.GetSweep", ROLE_VIEWER, false, false},
      {"ClientService.ListSweeps", ROLE_VIEWER, false, false},
      {"ClientService.SubmitJob", ROLE_SUBMITTER, true, false},
      {"ClientService.GetJob", ROLE_VIEWER, false, false},
      {"ClientService.ListJobs", ROLE_VIEWER, false, false},
      {"ClientService.CancelJob", ROLE_SUBMITTER, true, false},
      {"ClientService.WatchJob", ROLE_VIEWER, false, false},
      {"ClientService.GetLossCurve", ROLE_VIEWER, false, false},
      {"ClientService.ListCheckpoints", ROLE_VIEWER, false, false},
      {"ClientService.DownloadCheckpoint", ROLE_VIEWER, false, false},
      {"ClientService.GetClusterStatus", ROLE_VIEWER, false, false},
      {"ClientService.FitLaw", ROLE_SUBMITTER, true, false},
      {"ClientService.OptimalSparsity", ROLE_VIEWER, false, false},
      {"ClientService.StreamJobLogs", ROLE_VIEWER, false, false},
      {"ClientService.RetryJob", ROLE_SUBMITTER, true, false},
      {"ClientService.SetJobPriority", ROLE_SUBMITTER, true, false},
      {"ClientService.DeleteJob", ROLE_ADMIN, true, false},
      {"ClientService.CancelSweep", ROLE_SUBMITTER, true, false},
      {"ClientService.DeleteSweep", ROLE_ADMIN, true, false},
      {"ClientService.CreateToken", ROLE_ADMIN, true, false},
      {"ClientService.ListTokens", ROLE_ADMIN, false, false},
      {"ClientService.RevokeToken", ROLE_ADMIN, true, false},
      {"ClientService.ListAudit", ROLE_ADMIN, false, false},
      {"ClientService.FindMissingChunks", ROLE_SUBMITTER, false, false},
      {"ClientService.PutChunk", ROLE_SUBMITTER, true, true},
      {"ClientService.CommitDataset", ROLE_SUBMITTER, true, false},
      {"ClientService.ListDatasets", ROLE_VIEWER, false, false},
      {"ClientService.GetDataset", ROLE_VIEWER, false, false},
      {"ClientService.DeleteDataset", ROLE_SUBMITTER, true, false},
      {"WorkerService.RegisterWorker", ROLE_WORKER, true, false},
      {"WorkerService.AcquireLease", ROLE_WORKER, true, true},
      {"WorkerService.Heartbeat", ROLE_WORKER, true, true},
      {"WorkerService.ReportPoints", ROLE_WORKER, true, true},
      {"WorkerService.UploadCheckpoint", ROLE_WORKER, true, false},
      {"WorkerService.DownloadCheckpoint", ROLE_WORKER, false, false},
      {"WorkerService.CompleteJob", ROLE_WORKER, true, false},
      {"WorkerService.Rendezvous", ROLE_WORKER, true, true},
      {"WorkerService.ReportLogs", ROLE_WORKER, true, true},
      {"WorkerService.GetDataset", ROLE_WORKER, false, false},
      {"WorkerService.DownloadChunks", ROLE_WORKER, false, false},
  };
  return *rules;
}

const RpcRule* FindRpcRule(std::string_view method) {
  for (const RpcRule& rule : RpcRules()) {
    if (rule.method == method) {
      return &rule;
    }
  }
  return nullptr;
}

bool RoleAllows(v1::Role have, v1::Role need) {
  if (have == v1::ROLE_ADMIN || have == need) {
    return true;
  }
  return have == v1::ROLE_SUBMITTER && need == v1::ROLE_VIEWER;
}

std::string RoleName(v1::Role role) {
  switch (role) {
    case v1::ROLE_ADMIN:
      return "admin";
    case v1::ROLE_SUBMITTER:
      return "submitter";
    case v1::ROLE_VIEWER:
      return "viewer";
    case v1::ROLE_WORKER:
      return "worker";
    default:
      return "unspecified";
  }
}

absl::StatusOr<v1::Role> ParseRole(std::string_view name, std::string_view field) {
  for (v1::Role role : {v1::ROLE_ADMIN, v1::ROLE_SUBMITTER, v1::ROLE_VIEWER, v1::ROLE_WORKER}) {
    if (name == RoleName(role)) {
      return role;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(field), ": must be one of admin, submitter, viewer, worker; got \"",
                   std::string(name), "\""));
}

}  // namespace sparsescale::auth
