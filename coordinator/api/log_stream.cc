// StreamJobLogs: a server stream of an attempt's stored log, optionally following it until the
// attempt ends (the following itself is JobFollowReactor's, as for WatchJob).
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "coordinator/api/job_follow_reactor.h"
#include "coordinator/api/services.h"
#include "coordinator/api/validate.h"

namespace sparsescale::coordinator {
namespace {

// Bytes of stored log read (and sent as one message) per refresh.
constexpr int64_t kLogBytesPerMessage = 256 << 10;

class LogsReactor : public JobFollowReactor<v1::LogChunk> {
 public:
  LogsReactor(CoordinatorCore* core, const v1::StreamJobLogsRequest* request)
      : JobFollowReactor(core, request->job_id()),
        attempt_(request->attempt()),
        follow_(request->follow()),
        next_offset_(request->offset()) {
    Begin(ValidateStreamJobLogs(*request), /*watch=*/follow_);
  }

 private:
  // Resolves the attempt on the first read that finds one (0 = the job's latest).
  absl::Status ResolveAttempt(const store::JobRow& job) {
    if (attempt_ > job.attempt) {
      return absl::NotFoundError(absl::StrCat("attempt: job ", job_id(), " has no attempt ",
                                              attempt_, " (its latest is ", job.attempt, ")"));
    }
    if (attempt_ == 0) {
      attempt_ = job.attempt;  // still 0 while the job was never leased
    }
    return absl::OkStatus();
  }

  // Reads the next contiguous stored bytes into `chunk`; done once the attempt has ended (or
  // without follow) and nothing is left.
  absl::StatusOr<FollowStep> Read(store::Store& store, v1::LogChunk* chunk) override {
    ASSIGN_OR_RETURN(std::optional<store::JobRow> job, store.FindJob(job_id()));
    if (!job.has_value()) {
      return absl::NotFoundError(absl::StrCat("job_id: job ", job_id(), " does not exist"));
    }
    RETURN_IF_ERROR(ResolveAttempt(*job));
    if (attempt_ == 0) {
      return FollowStep{.done = !follow_ || store::IsFinal(job->state)};
    }
    // Whether the attempt had ended is read before its log, so every chunk it stored is read.
    ASSIGN_OR_RETURN(std::optional<bool> ended, store.AttemptEnded(job_id(), attempt_));
    ASSIGN_OR_RETURN(std::vector<store::LogChunkRow> rows,
                     store.ReadLog(job_id(), attempt_, next_offset_, kLogBytesPerMessage));
    chunk->set_attempt(attempt_);
    for (const store::LogChunkRow& row : rows) {
      if (!chunk->data().empty() && row.offset != next_offset_) {
        break;  // a gap: the next message says how much was dropped
      }
      if (chunk->data().empty()) {
        chunk->set_offset(row.offset);
        chunk->set_dropped_bytes(row.offset - next_offset_);
      }
      chunk->mutable_data()->append(row.data);
      next_offset_ = row.offset + static_cast<int64_t>(row.data.size());
    }
    const bool sent = !chunk->data().empty();
    return FollowStep{
        .send = sent, .more = sent, .done = !sent && (!follow_ || ended.value_or(true))};
  }

  int attempt_;
  const bool follow_;
  int64_t next_offset_;
};

}  // namespace

grpc::ServerWriteReactor<v1::LogChunk>* NewLogsReactor(CoordinatorCore* core,
                                                       const v1::StreamJobLogsRequest* request) {
  return new LogsReactor(core, request);
}

}  // namespace sparsescale::coordinator
