// The dashboard's JSON shapes (docs/DASHBOARD.md) built from the v1 messages, and the parsing
// of its query parameters. Pure functions; thread-safe. nlohmann::json stays inside
// coordinator/http.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "coordinator/core/core.h"
#include "coordinator/http/http_message.h"
#include "nlohmann/json.hpp"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::coordinator::http {

using Json = nlohmann::json;

// 200 with the JSON body (invalid UTF-8 in stored text is replaced, never an exception).
HttpResponse JsonResponse(const Json& body);
// The contract's error for a core status: NotFound 404, InvalidArgument 400 (naming
// `parameter`), Unavailable 503, anything else 500.
HttpResponse StatusResponse(const absl::Status& status, const std::string& parameter = "");

// A query parameter problem: 400 naming it.
struct ParamError {
  std::string parameter;
  std::string message;
};

// An integer query parameter in [low, high], or `fallback` when absent.
absl::StatusOr<int64_t> IntParam(const HttpRequest& request, const std::string& name, int64_t low,
                                 int64_t high, int64_t fallback);
// page_size (1..1000, default 100) and page_token (opaque; "" = from the start).
absl::StatusOr<Page> PageParams(const HttpRequest& request);
// 400 for a status from the parsers above (their message starts with the parameter name).
HttpResponse BadParam(const absl::Status& status);

// "JOB_STATE_QUEUED" -> "QUEUED".
std::string StateName(v1::JobState state);
// "unstructured" or "n:m".
std::string StructureName(const v1::PruningSpec& pruning);
// The paper's nonzero count of the model body: 12 * layers * width^2 * (1 - S).
int64_t ParamsOf(const v1::JobSpec& spec);

// The job summary of the contract.
Json JobSummary(const v1::Job& job);
// {"QUEUED": n, ...} with every real state present (0 when none).
Json StateCounts(const google::protobuf::Map<std::string, int32_t>& counts);
// The sweep's listing shape; `progress` in [0, 1] (steps done over steps total) and
// `eta_seconds` (null when it cannot be estimated) come from the caller.
Json SweepSummary(const v1::Sweep& sweep, double progress, const Json& eta_seconds);

}  // namespace sparsescale::coordinator::http
