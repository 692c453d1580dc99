// The machinery shared by the server streams that follow one job (WatchJob, StreamJobLogs):
// read from the store on the read pool, write what the read found, and read again when the job
// changes (a JobWatcher registration) or when the read filled a whole page. At most one read or
// write is outstanding; a change that lands meanwhile is remembered and read after it; the
// stream finishes exactly once (done, error, cancel or coordinator shutdown).
//
// A subclass says what one read finds (Read) and ends its constructor with Begin. Thread-safe:
// Poke and Stop may come from any thread (through the watcher bridge); Read runs on the read
// pool, one at a time, and may use the subclass's state without locks.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/api/convert.h"
#include "coordinator/core/core.h"
#include "coordinator/store/store.h"

namespace sparsescale::coordinator {

// What one read found.
struct FollowStep {
  bool send = false;  // the message holds something to write
  bool more = false;  // read again right after this write (the read filled a page)
  bool done = false;  // nothing more will come: finish once this is sent, unless a change is due
};

template <typename Message>
class JobFollowReactor : public grpc::ServerWriteReactor<Message> {
 public:
  void OnWriteDone(bool ok) override {
    Idle(ok ? std::nullopt
            : std::optional(
                  grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped reading")));
  }

  void OnCancel() override { Stop(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")); }

  void OnDone() override {
    if (watching_) {
      core_->RemoveWatcher(job_id_, bridge_.get());
    }
    bridge_->Detach();
    delete this;
  }

 protected:
  JobFollowReactor(CoordinatorCore* core, std::string job_id)
      : core_(core), job_id_(std::move(job_id)), bridge_(std::make_shared<Bridge>(this)) {}
  ~JobFollowReactor() override = default;

  // The last step of the subclass's constructor: finishes at once with `valid` when it is an
  // error, else registers for the job's changes (when `watch`) and starts the first read.
  void Begin(const absl::Status& valid, bool watch) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      // The first read counts as in flight before the watcher is registered: a change that
      // lands in between is remembered (dirty_) and read after it, never by a second read.
      busy_ = valid.ok();
      finished_ = !valid.ok();
    }
    if (!valid.ok()) {
      this->Finish(ToGrpcStatus(valid));
      return;
    }
    if (watch) {
      core_->AddWatcher(job_id_, bridge_);
      watching_ = true;
    }
    Refresh();
  }

  // Fills `message` (cleared by the caller) from the store and says what to do with it.
  virtual absl::StatusOr<FollowStep> Read(store::Store& store, Message* message) = 0;

  const std::string& job_id() const { return job_id_; }

 private:
  // The registry's handle on the stream: outlives the reactor, so a late poke finds null.
  class Bridge : public JobWatcher {
   public:
    explicit Bridge(JobFollowReactor* reactor) : reactor_(reactor) {}
    void OnJobChanged() override {
      std::lock_guard<std::mutex> lock(mu_);
      if (reactor_ != nullptr) {
        reactor_->Poke();
      }
    }
    void OnShutdown() override {
      std::lock_guard<std::mutex> lock(mu_);
      if (reactor_ != nullptr) {
        reactor_->Stop(grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator shutting down"));
      }
    }
    void Detach() {
      std::lock_guard<std::mutex> lock(mu_);
      reactor_ = nullptr;
    }

   private:
    std::mutex mu_;
    JobFollowReactor* reactor_ ABSL_GUARDED_BY(mu_);
  };

  // A change may be visible in the store: read now, or after the operation in flight.
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
    this->Finish(status);
  }

  void Refresh() {
    core_->Read(
        [this](store::Store& store) -> absl::Status {
          message_.Clear();
          absl::StatusOr<FollowStep> step = Read(store, &message_);
          step_ = step.ok() ? *step : FollowStep{};
          return step.status();
        },
        [this](absl::Status status) {
          if (!status.ok()) {
            Idle(ToGrpcStatus(status));
          } else if (step_.send) {
            this->StartWrite(&message_);
          } else {
            Idle(std::nullopt);
          }
        });
  }

  // The operation in flight ended: finish, continue with pending work, or go idle.
  void Idle(std::optional<grpc::Status> error) {
    std::unique_lock<std::mutex> lock(mu_);
    if (error.has_value() || stop_.has_value() || (step_.done && !dirty_)) {
      finished_ = true;
      lock.unlock();
      this->Finish(error.value_or(stop_.value_or(grpc::Status::OK)));
      return;
    }
    if (dirty_ || step_.more) {
      dirty_ = false;
      lock.unlock();
      Refresh();
      return;
    }
    busy_ = false;
  }

  CoordinatorCore* const core_;
  const std::string job_id_;
  const std::shared_ptr<Bridge> bridge_;
  bool watching_ = false;
  std::mutex mu_;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> stop_ ABSL_GUARDED_BY(mu_);
  // Touched only by the single operation in flight.
  Message message_;
  FollowStep step_;
};

}  // namespace sparsescale::coordinator
