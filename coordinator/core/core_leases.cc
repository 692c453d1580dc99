// CoordinatorCore: leases - AcquireLease with its long-poll, serving waiting workers when work
// arrives, and recording grants.
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/log_repeat.h"
#include "common/status.h"
#include "coordinator/core/core.h"
#include "coordinator/core/proto_convert.h"

namespace sparsescale::coordinator {

void CoordinatorCore::AcquireLease(v1::AcquireLeaseRequest request,
                                   v1::AcquireLeaseResponse* response,
                                   std::function<bool()> cancelled, Done done) {
  Post([this, request = std::move(request), response, cancelled = std::move(cancelled),
        done = std::move(done)] {
    if (shutting_down_) {
      done(absl::OkStatus());
      return;
    }
    LeaseWaiter waiter{.id = ++next_waiter_id_,
                       .worker_id = request.worker_id(),
                       .free_slots = request.free_slots(),
                       .response = response,
                       .cancelled = cancelled,
                       .done = done,
                       .timer = nullptr};
    if (TryServe(waiter)) {
      return;
    }
    if (request.wait_ms() <= 0) {
      done(absl::OkStatus());
      return;
    }
    Park(std::move(waiter), std::chrono::milliseconds(request.wait_ms()));
  });
}

bool CoordinatorCore::TryServe(LeaseWaiter& waiter) {
  absl::StatusOr<std::vector<scheduler::Transition>> grants =
      scheduler_->Acquire(waiter.worker_id, waiter.free_slots);
  if (!grants.ok()) {
    waiter.done(grants.status());
    return true;
  }
  if (grants->empty()) {
    return false;
  }
  Commit(GrantPlan(std::move(*grants), waiter.response->mutable_leases()), waiter.done);
  return true;
}

void CoordinatorCore::Park(LeaseWaiter waiter, std::chrono::milliseconds wait) {
  waiter.timer = std::make_unique<boost::asio::steady_timer>(io_);
  waiter.timer->expires_after(wait);
  waiter.timer->async_wait([this, id = waiter.id](const boost::system::error_code& ec) {
    if (!ec) {  // else served or shut down first
      ExpireWaiter(id);
    }
  });
  waiters_.push_back(std::move(waiter));
  parked_lease_polls_ = waiters_.size();
}

void CoordinatorCore::ExpireWaiter(uint64_t id) {
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
    if (it->id == id) {
      Done expired = std::move(it->done);
      waiters_.erase(it);
      parked_lease_polls_ = waiters_.size();
      expired(absl::OkStatus());
      return;
    }
  }
}

void CoordinatorCore::ServeWaiters() {
  for (auto it = waiters_.begin();
       it != waiters_.end() && (scheduler_->queued() > 0 || scheduler_->HasUndeliveredLeases());) {
    if (it->cancelled && it->cancelled()) {
      it->timer->cancel();
      Done gone = std::move(it->done);
      it = waiters_.erase(it);
      gone(absl::CancelledError("the client went away"));
      continue;
    }
    if (TryServe(*it)) {
      it->timer->cancel();
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  parked_lease_polls_ = waiters_.size();
}

std::vector<scheduler::Transition> CoordinatorCore::NextLeases(const std::string& worker_id,
                                                               int slots) {
  if (slots <= 0 || shutting_down_) {
    return {};
  }
  // An Acquire error (a worker that is draining or unknown) only means no new lease.
  absl::StatusOr<std::vector<scheduler::Transition>> acquired =
      scheduler_->Acquire(worker_id, slots);
  return acquired.ok() ? std::move(*acquired) : std::vector<scheduler::Transition>{};
}

CoordinatorCore::Plan CoordinatorCore::GrantPlan(
    std::vector<scheduler::Transition> grants,
    google::protobuf::RepeatedPtrField<v1::Lease>* leases) {
  auto shared = std::make_shared<const std::vector<scheduler::Transition>>(std::move(grants));
  const int64_t now = NowUnixMs();
  return Plan{
      .write = [this, shared, leases,
                now](store::Store& store) { return RecordGrants(store, *shared, leases, now); },
      .then =
          [this, shared](const absl::Status& status) {
            if (!status.ok() && !shared->empty()) {
              // The leases stay granted in memory and expire unclaimed after their TTL.
              LogRepeated(LogLevel::kError, "core-record-leases",
                          absl::StrCat("recording leases failed: ", status.ToString()));
            } else {
              CountTransitions(*shared);
            }
            for (const scheduler::Transition& t : *shared) {
              NotifyWatchers(t.job_id);
            }
            if (scheduler_->HasUndeliveredLeases()) {
              ServeWaiters();  // parked members of a gang this grant placed
            }
          },
      // Nothing after the commit needs the state thread before the worker may start.
      .answer = Answer::kAtCommit,
  };
}

absl::Status CoordinatorCore::RecordGrants(store::Store& store,
                                           const std::vector<scheduler::Transition>& grants,
                                           google::protobuf::RepeatedPtrField<v1::Lease>* leases,
                                           int64_t now_unix_ms) {
  RETURN_IF_ERROR(ApplyTransitions(store, grants, now_unix_ms));
  for (const scheduler::Transition& t : grants) {
    // A gang placed by this request may start on other workers: their leases wait for them.
    if (!t.deliver || (t.kind != scheduler::Transition::Kind::kGranted &&
                       t.kind != scheduler::Transition::Kind::kMemberLease)) {
      continue;
    }
    ASSIGN_OR_RETURN(std::optional<store::JobRow> row, store.FindJob(t.job_id));
    if (!row.has_value()) {
      return absl::InternalError("granted job " + t.job_id + " is not stored");
    }
    v1::Lease* lease = leases->Add();
    lease->set_job_id(t.job_id);
    lease->set_attempt(t.attempt);
    if (!lease->mutable_spec()->ParseFromString(row->spec)) {
      return absl::DataLossError("stored spec of job " + t.job_id + " does not parse");
    }
    lease->set_resume_step(t.step);
    lease->set_lease_ttl_ms(options_.scheduler.lease_ttl_ms);
    lease->set_rank(t.first_rank);
    lease->set_world_size(t.world_size);
    lease->set_rank_count(t.rank_count);
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::coordinator
