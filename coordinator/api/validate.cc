#include "coordinator/api/validate.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "common/version.h"
#include "coordinator/core/core.h"

namespace sparsescale::coordinator {
namespace {

using sparsescale::v1::JobState;

absl::Status Invalid(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

absl::Status IntRange(const std::string& field, int64_t value, int64_t low, int64_t high) {
  if (value < low || value > high) {
    return Invalid(field, absl::StrCat("must be in [", low, ", ", high, "], got ", value));
  }
  return absl::OkStatus();
}

absl::Status Finite(const std::string& field, double value, double low = -INFINITY) {
  if (!std::isfinite(value)) {
    return Invalid(field, absl::StrFormat("must be finite, got %g", value));
  }
  if (value < low) {
    return Invalid(field, absl::StrFormat("must be >= %g, got %g", low, value));
  }
  return absl::OkStatus();
}

absl::Status MaxLength(const std::string& field, const std::string& value, size_t max) {
  if (value.size() > max) {
    return Invalid(field, absl::StrCat("longer than ", max, " bytes"));
  }
  return absl::OkStatus();
}

// Checks one loss point. Field names are built only on failure: a report carries up to 65,536
// points and this runs for each of them.
absl::Status ValidatePoint(const sparsescale::v1::LossPoint& p, int index) {
  auto f = [index](const char* name) { return absl::StrCat("points[", index, "].", name); };
  constexpr int64_t kBig = int64_t{1} << 62;
  const bool ints_ok = p.step() >= 0 && p.step() <= (int64_t{1} << 50) && p.tokens() >= 0 &&
                       p.tokens() <= kBig && p.nonzeros_paper() >= 0 &&
                       p.nonzeros_paper() <= kBig && p.nonzeros_exact() >= 0 &&
                       p.nonzeros_exact() <= kBig;
  const bool reals_ok =
      std::isfinite(p.train_loss()) && (!p.has_eval_loss() || std::isfinite(p.eval_loss())) &&
      p.sparsity() >= 0 && p.sparsity() <= 1 && std::isfinite(p.lr()) && p.lr() >= 0 &&
      std::isfinite(p.flops_dense()) && p.flops_dense() >= 0 && std::isfinite(p.flops_sparse()) &&
      p.flops_sparse() >= 0 && std::isfinite(p.wall_s()) && p.wall_s() >= 0;
  if (ints_ok && reals_ok) {
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(IntRange(f("step"), p.step(), 0, int64_t{1} << 50));
  RETURN_IF_ERROR(IntRange(f("tokens"), p.tokens(), 0, kBig));
  RETURN_IF_ERROR(Finite(f("train_loss"), p.train_loss()));
  if (p.has_eval_loss()) {
    RETURN_IF_ERROR(Finite(f("eval_loss"), p.eval_loss()));
  }
  if (!(p.sparsity() >= 0 && p.sparsity() <= 1)) {
    return Invalid(f("sparsity"), absl::StrFormat("must be in [0, 1], got %g", p.sparsity()));
  }
  RETURN_IF_ERROR(Finite(f("lr"), p.lr(), 0));
  RETURN_IF_ERROR(IntRange(f("nonzeros_paper"), p.nonzeros_paper(), 0, kBig));
  RETURN_IF_ERROR(IntRange(f("nonzeros_exact"), p.nonzeros_exact(), 0, kBig));
  RETURN_IF_ERROR(Finite(f("flops_dense"), p.flops_dense(), 0));
  RETURN_IF_ERROR(Finite(f("flops_sparse"), p.flops_sparse(), 0));
  return Finite(f("wall_s"), p.wall_s(), 0);
}

absl::Status ValidatePriority(int priority, int max_attempts) {
  RETURN_IF_ERROR(IntRange("priority", priority, -1000, 1000));
  return IntRange("max_attempts", max_attempts, 0, 100);
}

}  // namespace

absl::Status ValidateId(const std::string& value, const std::string& field) {
  if (value.empty()) {
    return Invalid(field, "required");
  }
  if (value.size() > 128) {
    return Invalid(field, "longer than 128 characters");
  }
  for (char c : value) {
    if (c < 0x21 || c > 0x7e) {
      return Invalid(field, "must be printable ASCII without spaces");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ParsePageToken(const std::string& token, const std::string& field) {
  if (token.empty()) {
    return 0;
  }
  int64_t position = 0;
  if (!absl::SimpleAtoi(token, &position) || position < 0) {
    return Invalid(field, "not a token from a previous response");
  }
  return position;
}

absl::StatusOr<int> PageSize(int requested, const std::string& field) {
  if (requested == 0) {
    return kDefaultPageSize;
  }
  RETURN_IF_ERROR(IntRange(field, requested, 1, kMaxPageSize));
  return requested;
}

absl::Status ValidateRegisterWorker(const sparsescale::v1::RegisterWorkerRequest& r) {
  RETURN_IF_ERROR(ValidateId(r.request_id(), "request_id"));
  RETURN_IF_ERROR(MaxLength("name", r.name(), 256));
  RETURN_IF_ERROR(MaxLength("version", r.version(), 256));
  const auto& res = r.resources();
  if (res.device_kind() != "cpu" && res.device_kind() != "cuda") {
    return Invalid("resources.device_kind",
                   absl::StrCat("must be \"cpu\" or \"cuda\", got \"", res.device_kind(), "\""));
  }
  RETURN_IF_ERROR(
      IntRange("resources.gpus", res.gpus(), res.device_kind() == "cuda" ? 1 : 0, 1024));
  RETURN_IF_ERROR(IntRange("resources.memory_bytes", res.memory_bytes(), 0, int64_t{1} << 56));
  RETURN_IF_ERROR(IntRange("resources.slots", res.slots(), 0, 1024));
  return CheckProtocolVersion(r);
}

absl::Status CheckProtocolVersion(const sparsescale::v1::RegisterWorkerRequest& r) {
  const int worker = EffectiveProtocolVersion(r.protocol_version());
  if (worker == kProtocolVersion) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "protocol_version: worker \"", r.name(), "\" speaks worker protocol ", worker,
      " (sparsescale-worker ", r.version().empty() ? "of unknown version" : r.version(),
      ") but this coordinator speaks protocol ", kProtocolVersion, " (sparsescale-coordinator ",
      kVersion, "); run a worker of the coordinator's release (docs/DEPLOY.md, \"Versions\")"));
}

absl::Status ValidateAcquireLease(const sparsescale::v1::AcquireLeaseRequest& r) {
  RETURN_IF_ERROR(ValidateId(r.worker_id(), "worker_id"));
  RETURN_IF_ERROR(IntRange("wait_ms", r.wait_ms(), 0, kMaxWaitMs));
  return IntRange("free_slots", r.free_slots(), 0, 1024);
}

absl::Status ValidateHeartbeat(const sparsescale::v1::HeartbeatRequest& r) {
  RETURN_IF_ERROR(ValidateId(r.worker_id(), "worker_id"));
  if (r.leases_size() > 1024) {
    return Invalid("leases", "more than 1024 leases");
  }
  for (int i = 0; i < r.leases_size(); ++i) {
    const std::string f = absl::StrCat("leases[", i, "]");
    RETURN_IF_ERROR(ValidateId(r.leases(i).job_id(), f + ".job_id"));
    RETURN_IF_ERROR(IntRange(f + ".attempt", r.leases(i).attempt(), 1, 1 << 30));
    RETURN_IF_ERROR(IntRange(f + ".step", r.leases(i).step(), 0, int64_t{1} << 50));
  }
  return absl::OkStatus();
}

absl::Status ValidateReportPoints(const sparsescale::v1::ReportPointsRequest& r) {
  RETURN_IF_ERROR(ValidateId(r.worker_id(), "worker_id"));
  RETURN_IF_ERROR(ValidateId(r.job_id(), "job_id"));
  RETURN_IF_ERROR(IntRange("attempt", r.attempt(), 1, 1 << 30));
  if (r.points_size() > kMaxPointsPerReport) {
    return Invalid("points", absl::StrCat(r.points_size(), " points in one request, at most ",
                                          kMaxPointsPerReport));
  }
  for (int i = 0; i < r.points_size(); ++i) {
    RETURN_IF_ERROR(ValidatePoint(r.points(i), i));
    if (i > 0 && r.points(i).step() <= r.points(i - 1).step()) {
      return Invalid(absl::StrCat("points[", i, "].step"),
                     absl::StrCat("must be greater than the previous point's step ",
                                  r.points(i - 1).step(), ", got ", r.points(i).step()));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCompleteJob(const sparsescale::v1::CompleteJobRequest& r) {
  RETURN_IF_ERROR(ValidateId(r.request_id(), "request_id"));
  RETURN_IF_ERROR(ValidateId(r.worker_id(), "worker_id"));
  RETURN_IF_ERROR(ValidateId(r.job_id(), "job_id"));
  RETURN_IF_ERROR(IntRange("attempt", r.attempt(), 1, 1 << 30));
  const JobState o = r.outcome();
  if (o != v1::JOB_STATE_SUCCEEDED && o != v1::JOB_STATE_FAILED && o != v1::JOB_STATE_CANCELLED &&
      o != v1::JOB_STATE_QUEUED) {
    return Invalid("outcome", absl::StrCat("must be SUCCEEDED, FAILED, CANCELLED or QUEUED, got ",
                                           v1::JobState_Name(o)));
  }
  if (!v1::FailureClass_IsValid(r.failure())) {
    return Invalid("failure", absl::StrCat("unknown failure class ", r.failure()));
  }
  RETURN_IF_ERROR(MaxLength("error", r.error(), 64 << 10));
  RETURN_IF_ERROR(Finite("final_train_loss", r.final_train_loss()));
  if (r.has_final_eval_loss()) {
    RETURN_IF_ERROR(Finite("final_eval_loss", r.final_eval_loss()));
  }
  RETURN_IF_ERROR(IntRange("next_free_slots", r.next_free_slots(), 0, 1024));
  if (o == v1::JOB_STATE_QUEUED && r.next_free_slots() > 0) {
    return Invalid("next_free_slots", "must be 0 when the outcome is QUEUED (a release)");
  }
  return IntRange("steps", r.steps(), 0, int64_t{1} << 50);
}

absl::Status ValidateRendezvous(const sparsescale::v1::RendezvousRequest& r) {
  RETURN_IF_ERROR(ValidateId(r.job_id(), "job_id"));
  RETURN_IF_ERROR(IntRange("attempt", r.attempt(), 1, 1 << 30));
  RETURN_IF_ERROR(IntRange("rank", r.rank(), 0, 1 << 20));
  RETURN_IF_ERROR(IntRange("wait_ms", r.wait_ms(), 0, kMaxWaitMs));
  if (r.rank() == 0 && r.unique_id().empty()) {
    return Invalid("unique_id", "rank 0 must supply the unique id");
  }
  return MaxLength("unique_id", r.unique_id(), 4096);
}

absl::Status ValidateUploadStart(const sparsescale::v1::CheckpointUpload& first) {
  RETURN_IF_ERROR(ValidateId(first.worker_id(), "worker_id"));
  if (!first.has_info()) {
    return Invalid("info", "the first message must carry the checkpoint info");
  }
  const auto& info = first.info();
  RETURN_IF_ERROR(ValidateId(info.job_id(), "info.job_id"));
  RETURN_IF_ERROR(IntRange("info.attempt", info.attempt(), 1, 1 << 30));
  RETURN_IF_ERROR(IntRange("info.step", info.step(), 0, int64_t{1} << 50));
  RETURN_IF_ERROR(IntRange("info.size_bytes", info.size_bytes(), 1, kMaxCheckpointBytes));
  if (info.sha256().size() != 64 ||
      info.sha256().find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Invalid("info.sha256", "must be 64 lowercase hex digits");
  }
  return ValidateChunk(first.data(), "data");
}

absl::Status ValidateChunk(const std::string& data, const std::string& field) {
  if (static_cast<int64_t>(data.size()) > kMaxChunkBytes) {
    return Invalid(field, absl::StrCat("chunk of ", data.size(), " bytes, at most ", kMaxChunkBytes,
                                       " (4 MiB) per message"));
  }
  return absl::OkStatus();
}

absl::Status ValidateCreateSweep(const sparsescale::v1::CreateSweepRequest& r) {
  RETURN_IF_ERROR(ValidateId(r.request_id(), "request_id"));
  RETURN_IF_ERROR(MaxLength("name", r.name(), 256));
  if (!r.has_base()) {
    return Invalid("base", "required");
  }
  RETURN_IF_ERROR(IntRange("checkpoint_retention.keep_last", r.checkpoint_retention().keep_last(),
                           0, 1000));
  return ValidatePriority(r.priority(), r.max_attempts());
}

absl::Status ValidateSubmitJob(const sparsescale::v1::SubmitJobRequest& r) {
  RETURN_IF_ERROR(ValidateId(r.request_id(), "request_id"));
  if (!r.has_spec()) {
    return Invalid("spec", "required");
  }
  return ValidatePriority(r.priority(), r.max_attempts());
}

absl::Status ValidateCancelJob(const sparsescale::v1::CancelJobRequest& r) {
  RETURN_IF_ERROR(ValidateId(r.request_id(), "request_id"));
  return ValidateId(r.id(), "id");
}

absl::Status ValidateIdRequest(const std::string& request_id, const std::string& id) {
  RETURN_IF_ERROR(ValidateId(request_id, "request_id"));
  return ValidateId(id, "id");
}

absl::Status ValidateSetJobPriority(const sparsescale::v1::SetJobPriorityRequest& r) {
  RETURN_IF_ERROR(ValidateIdRequest(r.request_id(), r.id()));
  return ValidatePriority(r.priority(), 0);
}

absl::Status ValidateListJobs(const sparsescale::v1::ListJobsRequest& r) {
  if (!r.sweep_id().empty()) {
    RETURN_IF_ERROR(ValidateId(r.sweep_id(), "sweep_id"));
  }
  for (int i = 0; i < r.states_size(); ++i) {
    if (r.states(i) < v1::JOB_STATE_QUEUED || r.states(i) > v1::JOB_STATE_CANCELLED) {
      return Invalid(absl::StrCat("states[", i, "]"),
                     absl::StrCat("not a job state: ", r.states(i)));
    }
  }
  RETURN_IF_ERROR(PageSize(r.page_size(), "page_size").status());
  return ParsePageToken(r.page_token(), "page_token").status();
}

absl::Status ValidateGetLossCurve(const sparsescale::v1::GetLossCurveRequest& r) {
  RETURN_IF_ERROR(ValidateId(r.job_id(), "job_id"));
  if (r.max_points() != 0 && (r.max_points() < 2 || r.max_points() > 1'000'000)) {
    return Invalid("max_points",
                   absl::StrCat("must be 0 (all) or in [2, 1000000], got ", r.max_points()));
  }
  return absl::OkStatus();
}

absl::Status ValidateDownload(const sparsescale::v1::DownloadCheckpointRequest& r) {
  RETURN_IF_ERROR(ValidateId(r.job_id(), "job_id"));
  RETURN_IF_ERROR(IntRange("step", r.step(), 0, int64_t{1} << 50));
  return IntRange("offset", r.offset(), 0, int64_t{1} << 50);
}

absl::Status ValidateReportLogs(const sparsescale::v1::ReportLogsRequest& r) {
  RETURN_IF_ERROR(ValidateId(r.worker_id(), "worker_id"));
  RETURN_IF_ERROR(ValidateId(r.job_id(), "job_id"));
  RETURN_IF_ERROR(IntRange("attempt", r.attempt(), 1, 1 << 30));
  RETURN_IF_ERROR(IntRange("offset", r.offset(), 0, int64_t{1} << 50));
  RETURN_IF_ERROR(IntRange("keep_bytes", r.keep_bytes(), 0, kMaxLogKeepBytes));
  if (static_cast<int64_t>(r.data().size()) > kMaxLogChunkBytes) {
    return Invalid(
        "data", absl::StrCat(r.data().size(), " bytes in one chunk, at most ", kMaxLogChunkBytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateStreamJobLogs(const sparsescale::v1::StreamJobLogsRequest& r) {
  RETURN_IF_ERROR(ValidateId(r.job_id(), "job_id"));
  RETURN_IF_ERROR(IntRange("attempt", r.attempt(), 0, 1 << 30));
  return IntRange("offset", r.offset(), 0, int64_t{1} << 50);
}

absl::Status ValidateFitLaw(const sparsescale::v1::FitLawRequest& r) {
  RETURN_IF_ERROR(ValidateId(r.request_id(), "request_id"));
  if (r.sweep_id().empty() == (r.job_ids_size() == 0)) {
    return Invalid("sweep_id", "give either sweep_id or job_ids (exactly one)");
  }
  if (!r.sweep_id().empty()) {
    RETURN_IF_ERROR(ValidateId(r.sweep_id(), "sweep_id"));
  }
  for (int i = 0; i < r.job_ids_size(); ++i) {
    RETURN_IF_ERROR(ValidateId(r.job_ids(i), absl::StrCat("job_ids[", i, "]")));
  }
  if (!r.residual().empty() && r.residual() != "log" && r.residual() != "abs") {
    return Invalid("residual",
                   absl::StrCat("must be \"log\" or \"abs\", got \"", r.residual(), "\""));
  }
  RETURN_IF_ERROR(Finite("delta", r.delta(), 0));
  RETURN_IF_ERROR(IntRange("starts", r.starts(), 0, 100'000));
  return IntRange("bootstrap", r.bootstrap(), 0, 10'000);
}

absl::Status ValidateOptimalSparsity(const sparsescale::v1::OptimalSparsityRequest& r) {
  if (r.fit_id().empty() == !r.has_coefficients()) {
    return Invalid("fit_id", "give either fit_id or coefficients (exactly one)");
  }
  if (!(std::isfinite(r.nonzeros()) && r.nonzeros() > 0)) {
    return Invalid("nonzeros", absl::StrFormat("must be finite and > 0, got %g", r.nonzeros()));
  }
  if (!(std::isfinite(r.compute()) && r.compute() > 0)) {
    return Invalid("compute", absl::StrFormat("must be finite and > 0, got %g", r.compute()));
  }
  if (!r.cost().empty() && r.cost() != "sparse" && r.cost() != "dense") {
    return Invalid("cost", absl::StrCat("must be \"sparse\" or \"dense\", got \"", r.cost(), "\""));
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::coordinator
