// CoordinatorCore: the worker protocol (register, leases, heartbeats, points, completion,
// rendezvous, checkpoint uploads).
#include <atomic>
#include <chrono>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status.h"
#include "coordinator/core/proto_convert.h"
#include "coordinator/core/core.h"

namespace sparsescale::coordinator {
namespace {

// Method name plus a hash of the request without its request id: a reused id with a different
// body is a conflict, the same body is a retry.
template <typename Request>
std::string FingerprintOf(const std::string& method, Request request) {
  request.clear_request_id();
  return absl::StrCat(method, ":", Sha256Hex(DeterministicBytes(request)));
}

scheduler::Outcome OutcomeOf(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_SUCCEEDED:
      return scheduler::Outcome::kSucceeded;
    case v1::JOB_STATE_CANCELLED:
      return scheduler::Outcome::kCancelled;
    case v1::JOB_STATE_QUEUED:
      return scheduler::Outcome::kReleased;
    default:
      return scheduler::Outcome::kFailed;
  }
}

}  // namespace

void CoordinatorCore::RegisterWorker(const v1::RegisterWorkerRequest& request,
                                     v1::RegisterWorkerResponse* response, Done done) {
  Post([this, &request, response, done] {
    RunOnce(request.request_id(), FingerprintOf("RegisterWorker", request), response, done,
            [this, &request, response](Finish finish) {
              const std::string id = NewRandomId("w-");
              const scheduler::WorkerResources resources = ResourcesFromProto(request.resources());
              scheduler_->RegisterWorker(id, resources);
              response->set_worker_id(id);
              response->set_heartbeat_period_ms(options_.heartbeat_period_ms);
              response->set_lease_ttl_ms(options_.scheduler.lease_ttl_ms);
              const int64_t now = NowUnixMs();
              store::WorkerRow row{id,
                                   request.name(),
                                   resources.device_kind,
                                   resources.gpus,
                                   resources.memory_bytes,
                                   resources.slots,
                                   request.version(),
                                   false,
                                   now,
                                   now};
              const std::string bytes = response->SerializeAsString();
              const std::string fingerprint = FingerprintOf("RegisterWorker", request);
              Write(
                  [row, bytes, fingerprint, request_id = request.request_id(),
                   now](store::Store& store) -> absl::Status {
                    RETURN_IF_ERROR(store.UpsertWorker(row));
                    return store.InsertRequest(request_id, fingerprint, bytes, now);
                  },
                  [finish, bytes](absl::Status status) {
                    finish(status.ok() ? absl::StatusOr<std::string>(bytes) : status);
                  });
            });
  });
}

void CoordinatorCore::AcquireLease(const v1::AcquireLeaseRequest& request,
                                   v1::AcquireLeaseResponse* response,
                                   std::function<bool()> cancelled, Done done) {
  Post([this, &request, response, cancelled = std::move(cancelled), done] {
    if (shutting_down_) {
      done(absl::OkStatus());
      return;
    }
    LeaseWaiter waiter;
    waiter.id = ++next_waiter_id_;
    waiter.worker_id = request.worker_id();
    waiter.free_slots = request.free_slots();
    waiter.response = response;
    waiter.cancelled = cancelled;
    waiter.done = done;
    bool served = false;
    TryServe(waiter, &served);
    if (served) {
      return;
    }
    if (request.wait_ms() <= 0) {
      done(absl::OkStatus());
      return;
    }
    waiter.timer = std::make_unique<boost::asio::steady_timer>(io_);
    waiter.timer->expires_after(std::chrono::milliseconds(request.wait_ms()));
    waiter.timer->async_wait([this, id = waiter.id](const boost::system::error_code& ec) {
      if (ec) {
        return;  // served or shut down first
      }
      for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
        if (it->id == id) {
          Done expired = std::move(it->done);
          waiters_.erase(it);
          expired(absl::OkStatus());
          return;
        }
      }
    });
    waiters_.push_back(std::move(waiter));
  });
}

void CoordinatorCore::TryServe(LeaseWaiter& waiter, bool* served) {
  auto grants = scheduler_->Acquire(waiter.worker_id, waiter.free_slots);
  *served = !grants.ok() || !grants->empty();
  if (!grants.ok()) {
    waiter.done(grants.status());
  } else if (!grants->empty()) {
    GrantLeases(std::move(*grants), waiter.response, waiter.done);
  }
}

void CoordinatorCore::ServeWaiters() {
  for (auto it = waiters_.begin(); it != waiters_.end() && scheduler_->queued() > 0;) {
    if (it->cancelled && it->cancelled()) {
      it->timer->cancel();
      Done gone = std::move(it->done);
      it = waiters_.erase(it);
      gone(absl::CancelledError("the client went away"));
      continue;
    }
    bool served = false;
    TryServe(*it, &served);
    if (served) {
      it->timer->cancel();
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
}

absl::Status CoordinatorCore::RecordGrants(store::Store& store,
                                           const std::vector<scheduler::Transition>& grants,
                                           google::protobuf::RepeatedPtrField<v1::Lease>* leases,
                                           int64_t now_unix_ms) {
  for (const scheduler::Transition& t : grants) {
    RETURN_IF_ERROR(ApplyTransition(store, t, now_unix_ms));
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
    lease->set_rank(0);
    lease->set_world_size(1);
  }
  return absl::OkStatus();
}

void CoordinatorCore::GrantLeases(std::vector<scheduler::Transition> grants,
                                  v1::AcquireLeaseResponse* response, Done done) {
  const int64_t now = NowUnixMs();
  // Answered straight from the writer thread after the commit: nothing here needs the Asio
  // thread, and one hop less matters at thousands of leases per second.
  writer_->Submit(
      [this, grants, response, now](store::Store& store) {
        return RecordGrants(store, grants, response->mutable_leases(), now);
      },
      [this, grants, done](absl::Status status) {
        if (!status.ok()) {
          // The leases stay granted in memory and expire unclaimed after their TTL.
          std::fprintf(stderr, "coordinator: recording leases failed: %s\n",
                       status.ToString().c_str());
        }
        for (const scheduler::Transition& t : grants) {
          NotifyWatchers(t.job_id);
        }
        done(status);
      });
}

void CoordinatorCore::Heartbeat(const v1::HeartbeatRequest& request,
                                v1::HeartbeatResponse* response, Done done) {
  Post([this, &request, response, done] {
    std::vector<scheduler::LeaseProgress> leases;
    for (const v1::LeaseProgress& p : request.leases()) {
      leases.push_back({p.job_id(), p.attempt(), p.step()});
    }
    const scheduler::HeartbeatResult result =
        scheduler_->Heartbeat(request.worker_id(), leases, request.draining());
    response->set_reregister(!result.known);
    std::set<std::string> abandoned;
    for (const scheduler::Order& order : result.orders) {
      v1::Order* o = response->add_orders();
      o->set_job_id(order.job_id);
      o->set_attempt(order.attempt);
      o->set_kind(order.kind == scheduler::OrderKind::kCancel ? v1::ORDER_KIND_CANCEL
                                                              : v1::ORDER_KIND_ABANDON);
      if (order.kind == scheduler::OrderKind::kAbandon) {
        abandoned.insert(order.job_id);
      }
    }
    if (result.known) {
      // Liveness and progress are informational: the answer does not wait for them.
      std::erase_if(leases, [&](const auto& l) { return abandoned.count(l.job_id) > 0; });
      const int64_t now = NowUnixMs();
      writer_->Submit(
          [leases, worker = request.worker_id(), draining = request.draining(),
           now](store::Store& store) -> absl::Status {
            RETURN_IF_ERROR(store.TouchWorker(worker, draining, now));
            for (const auto& lease : leases) {
              RETURN_IF_ERROR(store.RecordProgress(lease.job_id, lease.step, now));
            }
            return absl::OkStatus();
          },
          nullptr);
    }
    done(absl::OkStatus());
  });
}

void CoordinatorCore::ReportPoints(const v1::ReportPointsRequest& request,
                                   std::vector<store::PointRow> points,
                                   v1::ReportPointsResponse* response, Done done) {
  Post([this, &request, points = std::move(points), response, done]() mutable {
    auto lease =
        scheduler_->ValidateLease(request.job_id(), request.attempt(), request.worker_id());
    if (!lease.ok()) {
      done(lease.status());
      return;
    }
    // A resumed attempt keeps the earlier attempts' points up to its checkpoint.
    std::erase_if(points, [&](const store::PointRow& p) {
      return lease->resume_step > 0 && p.step <= lease->resume_step;
    });
    const int64_t last_step = request.points_size() > 0 ? request.points().rbegin()->step() : 0;
    scheduler_->NoteProgress(request.job_id(), last_step);
    response->set_points_stored(request.points_size());
    response->set_last_step(last_step);
    const int64_t now = NowUnixMs();
    writer_->Submit(
        [points = std::move(points), job = request.job_id(), attempt = request.attempt(),
         now](store::Store& store) -> absl::Status {
          return store.InsertPoints(job, attempt, points, now).status();
        },
        [this, done, job = request.job_id()](absl::Status status) {
          done(status);  // acknowledged only after COMMIT
          NotifyWatchers(job);
        });
  });
}

void CoordinatorCore::CompleteJob(const v1::CompleteJobRequest& request,
                                  v1::CompleteJobResponse* response, Done done) {
  // The client is answered straight after the COMMIT, from the writer thread; the ledger and
  // the follow-up (long-polls, watchers) catch up on the Asio thread. `once` keeps the later
  // ledger completion from answering twice.
  auto replied = std::make_shared<std::atomic<bool>>(false);
  Done once = [done, replied](absl::Status status) {
    if (!replied->exchange(true)) {
      done(status);
    }
  };
  Post([this, &request, response, once] {
    const std::string fingerprint = FingerprintOf("CompleteJob", request);
    RunOnce(request.request_id(), fingerprint, response, once,
            [this, &request, response, fingerprint, once](Finish finish) {
              auto t = scheduler_->Complete(request.job_id(), request.attempt(),
                                            request.worker_id(), OutcomeOf(request.outcome()),
                                            FailureFromProto(request.failure()),
                                            request.error());
              if (!t.ok()) {
                finish(t.status());
                return;
              }
              store::AttemptEndRecord end = AttemptEndFromTransition(*t);
              end.final_train_loss = request.final_train_loss();
              if (request.has_final_eval_loss()) {
                end.final_eval_loss = request.final_eval_loss();
              }
              // The next leases ride on the same commit. An Acquire error (a worker that is
              // draining or unknown) only means no new lease; the completion stands.
              std::vector<scheduler::Transition> grants;
              if (request.next_free_slots() > 0 && !shutting_down_) {
                auto acquired = scheduler_->Acquire(request.worker_id(), request.next_free_slots());
                if (acquired.ok()) {
                  grants = std::move(*acquired);
                }
              }
              const int64_t now = NowUnixMs();
              writer_->Submit(
                  [this, end, grants, response, now, fingerprint,
                   id = request.request_id()](store::Store& store) -> absl::Status {
                    RETURN_IF_ERROR(store.RecordAttemptEnd(end, now));
                    RETURN_IF_ERROR(RecordGrants(store, grants, response->mutable_leases(), now));
                    return store.InsertRequest(id, fingerprint, response->SerializeAsString(), now);
                  },
                  [this, t = *t, grants, response, finish, once](absl::Status status) {
                    if (!status.ok() && !grants.empty()) {
                      std::fprintf(stderr, "coordinator: recording leases failed: %s\n",
                                   status.ToString().c_str());
                    }
                    // Serialised before the client owns the response again.
                    std::string answer = response->SerializeAsString();
                    for (const scheduler::Transition& g : grants) {
                      NotifyWatchers(g.job_id);
                    }
                    once(status);
                    Post([this, t, finish, status, answer = std::move(answer)] {
                      AfterTransitions({t});
                      finish(status.ok() ? absl::StatusOr<std::string>(answer) : status);
                    });
                  });
            });
  });
}

void CoordinatorCore::Rendezvous(const v1::RendezvousRequest& request,
                                 v1::RendezvousResponse* response, Done done) {
  Post([this, &request, response, done] {
    if (!scheduler_->IsCurrentAttempt(request.job_id(), request.attempt())) {
      done(absl::FailedPreconditionError(absl::StrCat("attempt: ", request.attempt(),
                                                      " is not the running attempt of job ",
                                                      request.job_id())));
      return;
    }
    RendezvousSlot& slot = rendezvous_[{request.job_id(), request.attempt()}];
    if (request.rank() == 0) {
      slot.unique_id = request.unique_id();
      for (RendezvousWaiter& w : slot.waiters) {
        w.timer->cancel();
        w.response->set_unique_id(slot.unique_id);
        w.done(absl::OkStatus());
      }
      slot.waiters.clear();
    }
    if (!slot.unique_id.empty()) {
      response->set_unique_id(slot.unique_id);
      done(absl::OkStatus());
      return;
    }
    RendezvousWaiter& w = slot.waiters.emplace_back();
    w.response = response;
    w.done = done;
    w.timer = std::make_unique<boost::asio::steady_timer>(io_);
    w.timer->expires_after(std::chrono::milliseconds(request.wait_ms()));
    auto* timer = w.timer.get();
    timer->async_wait([this, key = std::make_pair(request.job_id(), request.attempt()),
                       timer](const boost::system::error_code& ec) {
      auto slot_it = rendezvous_.find(key);
      if (ec || slot_it == rendezvous_.end()) {
        return;
      }
      auto& waiters = slot_it->second.waiters;
      for (auto it = waiters.begin(); it != waiters.end(); ++it) {
        if (it->timer.get() == timer) {
          Done late = std::move(it->done);
          waiters.erase(it);
          late(absl::DeadlineExceededError("rank 0 has not supplied the unique id yet"));
          return;
        }
      }
    });
  });
}

void CoordinatorCore::EndRendezvous(const std::string& job_id, int attempt) {
  auto it = rendezvous_.find({job_id, attempt});
  if (it == rendezvous_.end()) {
    return;
  }
  for (RendezvousWaiter& w : it->second.waiters) {
    w.timer->cancel();
    w.done(absl::AbortedError("the attempt ended before the rendezvous completed"));
  }
  rendezvous_.erase(it);
}

void CoordinatorCore::BeginUpload(const std::string& worker_id, const v1::CheckpointInfo& info,
                                  std::function<void(absl::StatusOr<int64_t>)> done) {
  Post([this, worker_id, info, done] {
    auto lease = scheduler_->ValidateLease(info.job_id(), info.attempt(), worker_id);
    if (!lease.ok()) {
      done(lease.status());
      return;
    }
    store::CheckpointRow meta{
        0, info.job_id(), info.step(), info.attempt(), info.size_bytes(), info.sha256(), 0, 0};
    auto id = std::make_shared<int64_t>(0);
    const int64_t now = NowUnixMs();
    writer_->Submit(
        [meta, id, now](store::Store& store) -> absl::Status {
          ASSIGN_OR_RETURN(*id, store.BeginCheckpoint(meta, now));
          return absl::OkStatus();
        },
        [id, done](absl::Status status) {
          done(status.ok() ? absl::StatusOr<int64_t>(*id) : status);
        });
  });
}

void CoordinatorCore::AppendUpload(int64_t upload_id, int chunk, std::string data, Done done) {
  writer_->Submit(
      [upload_id, chunk, data = std::move(data)](store::Store& store) {
        return store.AppendCheckpointChunk(upload_id, chunk, data);
      },
      std::move(done));
}

void CoordinatorCore::CommitUpload(const std::string& worker_id, const v1::CheckpointInfo& info,
                                   int64_t upload_id, Done done) {
  Post([this, worker_id, info, upload_id, done] {
    // The lease may have been reassigned while the payload streamed in.
    auto lease = scheduler_->ValidateLease(info.job_id(), info.attempt(), worker_id);
    if (!lease.ok()) {
      AbortUpload(upload_id);
      done(lease.status());
      return;
    }
    scheduler_->NoteCheckpoint(info.job_id(), info.step());
    writer_->Submit(
        [upload_id](store::Store& store) { return store.CommitCheckpoint(upload_id); },
        [this, done, job = info.job_id(), previous = lease->checkpoint_step](absl::Status status) {
          if (!status.ok()) {
            Post([this, job, previous] { scheduler_->NoteCheckpoint(job, previous); });
          }
          done(status);
          NotifyWatchers(job);
        });
  });
}

void CoordinatorCore::AbortUpload(int64_t upload_id) {
  writer_->Submit([upload_id](store::Store& store) { return store.AbortCheckpoint(upload_id); },
                  nullptr);
}

}  // namespace sparsescale::coordinator
