#include "coordinator/http/dashboard_json.h"

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sparsescale::coordinator::http {

namespace {

constexpr v1::JobState kStates[] = {v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING,
                                    v1::JOB_STATE_SUCCEEDED, v1::JOB_STATE_FAILED,
                                    v1::JOB_STATE_CANCELLED};

// The contract's name of a stored state key ("JOB_STATE_QUEUED" -> "QUEUED").
std::string StripStatePrefix(const std::string& name) {
  constexpr absl::string_view kPrefix = "JOB_STATE_";
  return absl::StartsWith(name, kPrefix) ? name.substr(kPrefix.size()) : name;
}

}  // namespace

HttpResponse JsonResponse(const Json& body) {
  HttpResponse response;
  response.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return response;
}

HttpResponse StatusResponse(const absl::Status& status, const std::string& parameter) {
  const std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return ErrorResponse(404, message, parameter);
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
      return ErrorResponse(400, message, parameter);
    case absl::StatusCode::kUnavailable:
      return ErrorResponse(503, message);
    default:
      return ErrorResponse(500, message);
  }
}

absl::StatusOr<int64_t> IntParam(const HttpRequest& request, const std::string& name, int64_t low,
                                 int64_t high, int64_t fallback) {
  auto it = request.query.find(name);
  if (it == request.query.end()) {
    return fallback;
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(it->second, &value) || value < low || value > high) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": must be an integer in [", low, ", ",
                                                   high, "], got \"", it->second, "\""));
  }
  return value;
}

absl::StatusOr<Page> PageParams(const HttpRequest& request) {
  Page page;
  absl::StatusOr<int64_t> size = IntParam(request, "page_size", 1, 1000, 100);
  if (!size.ok()) {
    return size.status();
  }
  page.size = static_cast<int>(*size);
  auto token = request.query.find("page_token");
  if (token != request.query.end() && !token->second.empty() &&
      (!absl::SimpleAtoi(token->second, &page.after) || page.after < 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_token: not a token this server gave out: \"", token->second, "\""));
  }
  return page;
}

HttpResponse BadParam(const absl::Status& status) {
  const std::string message(status.message());
  return ErrorResponse(400, message, message.substr(0, message.find(':')));
}

std::string StateName(v1::JobState state) { return StripStatePrefix(v1::JobState_Name(state)); }

std::string StructureName(const v1::PruningSpec& pruning) {
  if (pruning.structure() == v1::SPARSITY_STRUCTURE_NM) {
    return absl::StrCat(pruning.n(), ":", pruning.m());
  }
  return "unstructured";
}

int64_t ParamsOf(const v1::JobSpec& spec) {
  const double width = spec.model().width();
  return std::llround(12.0 * spec.model().layers() * width * width *
                      (1.0 - spec.pruning().sparsity()));
}

Json JobSummary(const v1::Job& job) {
  const bool succeeded = job.state() == v1::JOB_STATE_SUCCEEDED;
  Json final_eval = nullptr;
  if (succeeded && job.has_last_eval_loss()) {
    final_eval = job.last_eval_loss();
  }
  return Json{{"id", job.id()},
              {"sweep_id", job.sweep_id()},
              {"name", job.spec().name()},
              {"state", StateName(job.state())},
              {"step", job.step()},
              {"total_steps", job.total_steps()},
              {"n_params", ParamsOf(job.spec())},
              {"sparsity", job.spec().pruning().sparsity()},
              {"tokens", job.spec().data().tokens()},
              {"structure", StructureName(job.spec().pruning())},
              {"priority", job.priority()},
              {"attempts", job.attempt()},
              {"worker", job.worker_id()},
              {"final_train_loss", succeeded ? Json(job.last_train_loss()) : Json(nullptr)},
              {"final_eval_loss", final_eval},
              {"updated_ms", job.updated_unix_ms()}};
}

Json StateCounts(const google::protobuf::Map<std::string, int32_t>& counts) {
  Json out = Json::object();
  for (v1::JobState state : kStates) {
    auto it = counts.find(v1::JobState_Name(state));
    out[StateName(state)] = it == counts.end() ? 0 : it->second;
  }
  return out;
}

Json SweepSummary(const v1::Sweep& sweep, double progress, const Json& eta_seconds) {
  const Json counts = StateCounts(sweep.jobs_by_state());
  const int64_t active = counts["QUEUED"].get<int64_t>() + counts["RUNNING"].get<int64_t>();
  std::string state = "SUCCEEDED";
  if (counts["RUNNING"].get<int64_t>() > 0 ||
      (active > 0 && active < static_cast<int64_t>(sweep.job_ids_size()))) {
    state = "RUNNING";
  } else if (active > 0) {
    state = "QUEUED";
  } else if (counts["FAILED"].get<int64_t>() > 0) {
    state = "FAILED";
  } else if (counts["CANCELLED"].get<int64_t>() > 0) {
    state = "CANCELLED";
  }
  return Json{{"id", sweep.id()},
              {"name", sweep.name()},
              {"created_ms", sweep.created_unix_ms()},
              {"jobs_total", sweep.job_ids_size()},
              {"jobs_by_state", counts},
              {"progress", progress},
              {"eta_seconds", eta_seconds},
              {"state", state}};
}

}  // namespace sparsescale::coordinator::http
