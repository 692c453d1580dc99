#include "worker/agent/job_events.h"

#include "absl/strings/str_cat.h"
#include "spec/proto_json.h"

namespace sparsescale::agent {

namespace v1 = sparsescale::v1;

std::string EncodeEvent(const v1::JobProcessEvent& event) {
  // Defaults printed: a reader of a job's log sees every field of every event.
  return spec::ToJsonLine(event, /*print_defaults=*/true);
}

std::string EncodePoint(const v1::LossPoint& point) {
  v1::JobProcessEvent event;
  *event.mutable_point() = point;
  return EncodeEvent(event);
}

std::string EncodeCheckpoint(int64_t step, const std::string& path) {
  v1::JobProcessEvent event;
  event.mutable_checkpoint()->set_step(step);
  event.mutable_checkpoint()->set_path(path);
  return EncodeEvent(event);
}

std::string EncodeProgress(const v1::JobProgress& progress) {
  v1::JobProcessEvent event;
  *event.mutable_progress() = progress;
  return EncodeEvent(event);
}

std::string EncodeDone(const v1::JobSummary& summary) {
  v1::JobProcessEvent event;
  *event.mutable_done() = summary;
  return EncodeEvent(event);
}

std::string EncodeStopped(int64_t step) {
  v1::JobProcessEvent event;
  event.mutable_stopped()->set_step(step);
  return EncodeEvent(event);
}

std::string EncodeError(const absl::Status& error) {
  v1::JobProcessEvent event;
  event.mutable_error()->set_code(static_cast<int>(error.code()));
  event.mutable_error()->set_message(std::string(error.message()));
  return EncodeEvent(event);
}

absl::StatusOr<v1::JobProcessEvent> ParseChildEvent(const std::string& line) {
  v1::JobProcessEvent event;
  if (absl::Status s = spec::FromJson(line, &event); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("job event: not a JSON object of the job ",
                                                   "process protocol (", s.message(), "): \"",
                                                   line.substr(0, 120), "\""));
  }
  if (event.event_case() == v1::JobProcessEvent::EVENT_NOT_SET) {
    return absl::InvalidArgumentError(
        absl::StrCat("job event: no event in \"", line.substr(0, 120), "\""));
  }
  return event;
}

absl::Status EventError(const v1::JobError& error) {
  int code = error.code();
  if (code <= 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    code = static_cast<int>(absl::StatusCode::kUnknown);
  }
  return absl::Status(static_cast<absl::StatusCode>(code), error.message());
}

}  // namespace sparsescale::agent
