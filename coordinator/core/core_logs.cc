// CoordinatorCore: job logs - storing the chunks a worker captured from a job process, and the
// tail of a failed job's log that GetJob shows.
#include "common/status.h"
#include "coordinator/core/core.h"

namespace sparsescale::coordinator {
namespace {

// The last `lines` lines of `text` (a final line without a newline counts as one).
std::string LastLines(const std::string& text, int lines) {
  size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') {
    --end;  // the newline that ends the last line
  }
  size_t start = end;  // the newline before the lines taken so far
  for (int i = 0; i < lines; ++i) {
    const size_t nl = start == 0 ? std::string::npos : text.rfind('\n', start - 1);
    if (nl == std::string::npos) {
      return text;
    }
    start = nl;
  }
  return text.substr(start + 1);
}

}  // namespace

void CoordinatorCore::ReportLogs(v1::ReportLogsRequest request, v1::ReportLogsResponse* response,
                                 Done done) {
  // Shared by the decision and the write, so up to 1 MiB of data is never copied.
  auto owned = std::make_shared<const v1::ReportLogsRequest>(std::move(request));
  Decide decide = [this, owned, response]() -> absl::StatusOr<Plan> {
    RETURN_IF_ERROR(
        scheduler_->ValidateLease(owned->job_id(), owned->attempt(), owned->worker_id()).status());
    const int64_t keep = owned->keep_bytes() > 0 ? owned->keep_bytes() : kDefaultLogKeepBytes;
    return Plan{
        .write = [owned, keep, response](store::Store& store) -> absl::Status {
          ASSIGN_OR_RETURN(const int64_t end,
                           store.AppendLog(owned->job_id(), owned->attempt(), owned->offset(),
                                           owned->data(), keep));
          response->set_stored_through(end);
          return absl::OkStatus();
        },
        // Followers of the log (StreamJobLogs) are watchers of the job.
        .then = [this, job = owned->job_id()](const absl::Status&) { NotifyWatchers(job); },
        .answer = Answer::kAtCommit,  // acknowledged only after COMMIT
    };
  };
  Run(std::move(decide), std::move(done));
}

absl::Status CoordinatorCore::FillLogTail(store::Store& store, v1::Job* job) {
  if (job->state() != v1::JOB_STATE_FAILED || job->attempt() < 1) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(std::string tail, store.ReadLogTail(job->id(), job->attempt(), kLogTailBytes));
  job->set_log_tail(LastLines(tail, kLogTailLines));
  return absl::OkStatus();
}

}  // namespace sparsescale::coordinator
