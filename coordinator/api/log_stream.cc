// StreamJobLogs: a server stream of an attempt's stored log, optionally following it until the
// attempt ends. Like the watch stream (streams.cc) it keeps at most one store read or write
// outstanding, is poked through the job's watcher registration when a chunk or a transition
// commits, and finishes exactly once.
#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "coordinator/api/convert.h"
#include "coordinator/api/services.h"
#include "coordinator/api/validate.h"

namespace sparsescale::coordinator {
namespace {

// Bytes of stored log read (and sent as one message) per refresh.
constexpr int64_t kLogBytesPerMessage = 256 << 10;

class LogsReactor;

// The registry's handle on a log stream: outlives the reactor, so a late poke finds null.
class LogsBridge : public JobWatcher {
 public:
  explicit LogsBridge(LogsReactor* reactor) : reactor_(reactor) {}
  void OnJobChanged() override;
  void OnShutdown() override;
  void Detach() {
    std::lock_guard<std::mutex> lock(mu_);
    reactor_ = nullptr;
  }

 private:
  std::mutex mu_;
  LogsReactor* reactor_ ABSL_GUARDED_BY(mu_);
};

class LogsReactor : public grpc::ServerWriteReactor<v1::LogChunk> {
 public:
  LogsReactor(CoordinatorCore* core, const v1::StreamJobLogsRequest* request)
      : core_(core),
        job_id_(request->job_id()),
        attempt_(request->attempt()),
        follow_(request->follow()),
        next_offset_(request->offset()),
        bridge_(std::make_shared<LogsBridge>(this)) {
    absl::Status valid = ValidateStreamJobLogs(*request);
    if (!valid.ok()) {
      finished_ = true;
      Finish(ToGrpcStatus(valid));
      return;
    }
    if (follow_) {
      core_->AddWatcher(job_id_, bridge_);
      watching_ = true;
    }
    busy_ = true;
    Refresh();
  }

  // New log or a transition may be visible in the store: refresh now, or after the operation
  // in flight.
  void Poke() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finished_) {
        return;
      }
      if (busy_) {
        dirty_ = true;
        return;
      }
      busy_ = true;
    }
    Refresh();
  }

  void Stop(grpc::Status status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finished_) {
        return;
      }
      if (busy_) {
        stop_ = status;
        return;
      }
      finished_ = true;
    }
    Finish(status);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Idle(grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped reading"));
      return;
    }
    Idle(std::nullopt);
  }

  void OnCancel() override { Stop(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")); }

  void OnDone() override {
    if (watching_) {
      core_->RemoveWatcher(job_id_, bridge_.get());
    }
    bridge_->Detach();
    delete this;
  }

 private:
  void Refresh() {
    core_->Read([this](store::Store& store) { return Build(store); },
                [this](absl::Status status) {
                  if (!status.ok()) {
                    Idle(ToGrpcStatus(status));
                  } else if (chunk_.data().empty()) {
                    Idle(std::nullopt);
                  } else {
                    StartWrite(&chunk_);
                  }
                });
  }

  // Resolves the attempt on the first read that finds one (0 = the job's latest).
  absl::Status ResolveAttempt(const store::JobRow& job) {
    if (attempt_ > job.attempt) {
      return absl::NotFoundError(absl::StrCat("attempt: job ", job_id_, " has no attempt ",
                                              attempt_, " (its latest is ", job.attempt, ")"));
    }
    if (attempt_ == 0) {
      attempt_ = job.attempt;  // still 0 while the job was never leased
    }
    return absl::OkStatus();
  }

  // Reads the next contiguous stored bytes into chunk_ and decides whether the stream is done.
  absl::Status Build(store::Store& store) {
    chunk_.Clear();
    ASSIGN_OR_RETURN(std::optional<store::JobRow> job, store.FindJob(job_id_));
    if (!job.has_value()) {
      return absl::NotFoundError(absl::StrCat("job_id: job ", job_id_, " does not exist"));
    }
    RETURN_IF_ERROR(ResolveAttempt(*job));
    if (attempt_ == 0) {
      done_ = !follow_ || store::IsFinal(job->state);
      return absl::OkStatus();
    }
    // Whether the attempt had ended is read before its log, so every chunk it stored is read.
    ASSIGN_OR_RETURN(std::optional<bool> ended, store.AttemptEnded(job_id_, attempt_));
    ASSIGN_OR_RETURN(std::vector<store::LogChunkRow> rows,
                     store.ReadLog(job_id_, attempt_, next_offset_, kLogBytesPerMessage));
    chunk_.set_attempt(attempt_);
    for (const store::LogChunkRow& row : rows) {
      if (!chunk_.data().empty() && row.offset != next_offset_) {
        break;  // a gap: the next message says how much was dropped
      }
      if (chunk_.data().empty()) {
        chunk_.set_offset(row.offset);
        chunk_.set_dropped_bytes(row.offset - next_offset_);
      }
      chunk_.mutable_data()->append(row.data);
      next_offset_ = row.offset + static_cast<int64_t>(row.data.size());
    }
    more_ = !chunk_.data().empty();
    done_ = chunk_.data().empty() && (!follow_ || ended.value_or(true));
    return absl::OkStatus();
  }

  // The operation in flight ended: finish, continue with pending work, or go idle.
  void Idle(std::optional<grpc::Status> error) {
    std::unique_lock<std::mutex> lock(mu_);
    if (error.has_value() || stop_.has_value() || (done_ && !dirty_)) {
      finished_ = true;
      lock.unlock();
      Finish(error.value_or(stop_.value_or(grpc::Status::OK)));
      return;
    }
    if (dirty_ || more_) {
      dirty_ = false;
      lock.unlock();
      Refresh();
      return;
    }
    busy_ = false;
  }

  CoordinatorCore* core_;
  const std::string job_id_;
  int attempt_;
  const bool follow_;
  bool watching_ = false;
  int64_t next_offset_;
  std::shared_ptr<LogsBridge> bridge_;
  std::mutex mu_;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> stop_ ABSL_GUARDED_BY(mu_);
  // Touched only by the single operation in flight.
  v1::LogChunk chunk_;
  bool more_ = false;
  bool done_ = false;
};

void LogsBridge::OnJobChanged() {
  std::lock_guard<std::mutex> lock(mu_);
  if (reactor_ != nullptr) {
    reactor_->Poke();
  }
}

void LogsBridge::OnShutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  if (reactor_ != nullptr) {
    reactor_->Stop(grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator shutting down"));
  }
}

}  // namespace

grpc::ServerWriteReactor<v1::LogChunk>* NewLogsReactor(CoordinatorCore* core,
                                                       const v1::StreamJobLogsRequest* request) {
  return new LogsReactor(core, request);
}

}  // namespace sparsescale::coordinator
