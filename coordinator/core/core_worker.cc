// CoordinatorCore: the worker protocol besides leases (register, heartbeats, points,
// completion, rendezvous, checkpoint uploads).
#include <set>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "coordinator/core/core.h"
#include "coordinator/core/fingerprint.h"
#include "coordinator/core/proto_convert.h"

namespace sparsescale::coordinator {
namespace {

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

std::vector<scheduler::LeaseProgress> ProgressOf(const v1::HeartbeatRequest& request) {
  std::vector<scheduler::LeaseProgress> leases;
  for (const v1::LeaseProgress& p : request.leases()) {
    leases.push_back({.job_id = p.job_id(), .attempt = p.attempt(), .step = p.step()});
  }
  return leases;
}

// Adds `orders` to the answer; returns the jobs the worker must abandon.
std::set<std::string> AddOrders(const std::vector<scheduler::Order>& orders,
                                v1::HeartbeatResponse* response) {
  std::set<std::string> abandoned;
  for (const scheduler::Order& order : orders) {
    v1::Order* o = response->add_orders();
    o->set_job_id(order.job_id);
    o->set_attempt(order.attempt);
    const bool abandon = order.kind == scheduler::OrderKind::kAbandon;
    o->set_kind(abandon ? v1::ORDER_KIND_ABANDON : v1::ORDER_KIND_CANCEL);
    if (abandon) {
      abandoned.insert(order.job_id);
    }
  }
  return abandoned;
}

store::AttemptEndRecord AttemptEndOf(const scheduler::Transition& t,
                                     const v1::CompleteJobRequest& request) {
  store::AttemptEndRecord end = AttemptEndFromTransition(t);
  end.final_train_loss = request.final_train_loss();
  if (request.has_final_eval_loss()) {
    end.final_eval_loss = request.final_eval_loss();
  }
  return end;
}

}  // namespace

void CoordinatorCore::RegisterWorker(v1::RegisterWorkerRequest request,
                                     v1::RegisterWorkerResponse* response, Done done) {
  Once once{.request_id = request.request_id(),
            .fingerprint = FingerprintOf("RegisterWorker", request),
            .response = response};
  Decide decide = [this, request = std::move(request), response]() -> absl::StatusOr<Plan> {
    const std::string id = NewRandomId("w-");
    const scheduler::WorkerResources resources = ResourcesFromProto(request.resources());
    scheduler_->RegisterWorker(id, resources);
    response->set_worker_id(id);
    response->set_heartbeat_period_ms(options_.heartbeat_period_ms);
    response->set_lease_ttl_ms(options_.scheduler.lease_ttl_ms);
    const int64_t now = NowUnixMs();
    const store::WorkerRow row{.id = id,
                               .name = request.name(),
                               .device_kind = resources.device_kind,
                               .gpus = resources.gpus,
                               .memory_bytes = resources.memory_bytes,
                               .slots = resources.slots,
                               .version = request.version(),
                               .draining = false,
                               .registered_unix_ms = now,
                               .last_heartbeat_unix_ms = now};
    return Plan{.write = [row](store::Store& store) { return store.UpsertWorker(row); }};
  };
  RunOnce(std::move(once), std::move(decide), std::move(done));
}

void CoordinatorCore::Heartbeat(v1::HeartbeatRequest request, v1::HeartbeatResponse* response,
                                Done done) {
  Decide decide = [this, request = std::move(request), response]() -> absl::StatusOr<Plan> {
    std::vector<scheduler::LeaseProgress> leases = ProgressOf(request);
    const scheduler::HeartbeatResult result =
        scheduler_->Heartbeat(request.worker_id(), leases, request.draining());
    response->set_reregister(!result.known);
    const std::set<std::string> abandoned = AddOrders(result.orders, response);
    if (!result.known) {
      return Plan{};
    }
    std::erase_if(leases, [&](const auto& l) { return abandoned.count(l.job_id) > 0; });
    const int64_t now = NowUnixMs();
    return Plan{
        .write = [leases, worker = request.worker_id(), draining = request.draining(),
                  now](store::Store& store) -> absl::Status {
          RETURN_IF_ERROR(store.TouchWorker(worker, draining, now));
          for (const scheduler::LeaseProgress& lease : leases) {
            RETURN_IF_ERROR(store.RecordProgress(lease.job_id, lease.step, now));
          }
          return absl::OkStatus();
        },
        // Liveness and progress are informational: the answer does not wait for them.
        .answer = Answer::kAtOnce,
    };
  };
  Run(std::move(decide), std::move(done));
}

void CoordinatorCore::ReportPoints(PointReport report, v1::ReportPointsResponse* response,
                                   Done done) {
  // Shared by the decision and the write, so up to 65,536 points are never copied.
  auto owned = std::make_shared<PointReport>(std::move(report));
  Decide decide = [this, owned, response]() -> absl::StatusOr<Plan> {
    ASSIGN_OR_RETURN(const scheduler::LeaseView lease,
                     scheduler_->ValidateLease(owned->job_id, owned->attempt, owned->worker_id));
    const int64_t last_step = owned->points.empty() ? 0 : owned->points.back().step();
    scheduler_->NoteProgress(owned->job_id, last_step);
    response->set_points_stored(static_cast<int32_t>(owned->points.size()));
    response->set_last_step(last_step);
    // A resumed attempt keeps the earlier attempts' points up to its checkpoint.
    std::erase_if(owned->points, [&](const v1::LossPoint& p) {
      return lease.resume_step > 0 && p.step() <= lease.resume_step;
    });
    const int64_t now = NowUnixMs();
    return Plan{
        .write =
            [owned, now](store::Store& store) {
              return store.InsertPoints(owned->job_id, owned->attempt, owned->points, now).status();
            },
        .then =
            [this, owned](const absl::Status& status) {
              if (status.ok()) {
                metrics_.points_ingested.Add(static_cast<int64_t>(owned->points.size()));
              }
              NotifyWatchers(owned->job_id);
            },
        .answer = Answer::kAtCommit,  // acknowledged only after COMMIT
    };
  };
  Run(std::move(decide), std::move(done));
}

void CoordinatorCore::CompleteJob(v1::CompleteJobRequest request,
                                  v1::CompleteJobResponse* response, Done done) {
  Once once{.request_id = request.request_id(),
            .fingerprint = FingerprintOf("CompleteJob", request),
            .response = response};
  Decide decide = [this, request = std::move(request), response]() -> absl::StatusOr<Plan> {
    ASSIGN_OR_RETURN(const scheduler::Transition ended,
                     scheduler_->Complete(request.job_id(), request.attempt(), request.worker_id(),
                                          OutcomeOf(request.outcome()),
                                          FailureFromProto(request.failure()), request.error()));
    // The next leases ride on the same commit.
    Plan grant = GrantPlan(NextLeases(request.worker_id(), request.next_free_slots()),
                           response->mutable_leases());
    const store::AttemptEndRecord end = AttemptEndOf(ended, request);
    // A gang member other than rank 0's ending well only gives back its share: nothing stored.
    const bool attempt_ended = ended.kind == scheduler::Transition::Kind::kAttemptEnded;
    const int64_t now = NowUnixMs();
    return Plan{
        .write = [end, now, attempt_ended,
                  grant = grant.write](store::Store& store) -> absl::Status {
          if (attempt_ended) {
            RETURN_IF_ERROR(store.RecordAttemptEnd(end, now));
          }
          return grant(store);
        },
        .then =
            [this, ended, grant = grant.then](const absl::Status& status) {
              grant(status);
              AfterTransitions({ended});
            },
        .answer = Answer::kAtCommit,
    };
  };
  RunOnce(std::move(once), std::move(decide), std::move(done));
}

void CoordinatorCore::Rendezvous(v1::RendezvousRequest request, v1::RendezvousResponse* response,
                                 Done done, HolderCheck may_act_for) {
  Post([this, request = std::move(request), response, done = std::move(done),
        may_act_for = std::move(may_act_for)] {
    // Every member worker of a multi-node gang holds the attempt; a rank may act for any.
    const std::vector<std::string> holders =
        scheduler_->HoldersOf(request.job_id(), request.attempt());
    if (holders.empty()) {
      done(absl::FailedPreconditionError(absl::StrCat("attempt: ", request.attempt(),
                                                      " is not the running attempt of job ",
                                                      request.job_id())));
      return;
    }
    if (may_act_for) {
      absl::Status allowed;
      for (const std::string& holder : holders) {
        allowed = may_act_for(holder);
        if (allowed.ok()) {
          break;
        }
      }
      if (!allowed.ok()) {
        done(allowed);  // before the slot exists: a refused call leaves nothing behind
        return;
      }
    }
    const RendezvousKey key{request.job_id(), request.attempt()};
    RendezvousSlot& slot = rendezvous_[key];
    if (request.rank() == 0) {
      Publish(slot, request.unique_id());
    }
    if (!slot.unique_id.empty()) {
      response->set_unique_id(slot.unique_id);
      done(absl::OkStatus());
      return;
    }
    AwaitUniqueId(key, response, done, std::chrono::milliseconds(request.wait_ms()));
  });
}

void CoordinatorCore::Publish(RendezvousSlot& slot, const std::string& unique_id) {
  slot.unique_id = unique_id;
  for (RendezvousWaiter& w : slot.waiters) {
    w.timer->cancel();
    w.response->set_unique_id(slot.unique_id);
    w.done(absl::OkStatus());
  }
  slot.waiters.clear();
}

void CoordinatorCore::AwaitUniqueId(const RendezvousKey& key, v1::RendezvousResponse* response,
                                    Done done, std::chrono::milliseconds wait) {
  RendezvousWaiter& w = rendezvous_[key].waiters.emplace_back(RendezvousWaiter{
      .response = response,
      .done = std::move(done),
      .timer = std::make_unique<boost::asio::steady_timer>(io_)});
  w.timer->expires_after(wait);
  w.timer->async_wait([this, key, timer = w.timer.get()](const boost::system::error_code& ec) {
    if (!ec) {  // else answered or shut down first
      ExpireRendezvousWaiter(key, timer);
    }
  });
}

void CoordinatorCore::ExpireRendezvousWaiter(const RendezvousKey& key,
                                             const boost::asio::steady_timer* timer) {
  auto slot = rendezvous_.find(key);
  if (slot == rendezvous_.end()) {
    return;
  }
  std::list<RendezvousWaiter>& waiters = slot->second.waiters;
  for (auto it = waiters.begin(); it != waiters.end(); ++it) {
    if (it->timer.get() == timer) {
      Done late = std::move(it->done);
      waiters.erase(it);
      late(absl::DeadlineExceededError("rank 0 has not supplied the unique id yet"));
      return;
    }
  }
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

void CoordinatorCore::BeginUpload(std::string worker_id, v1::CheckpointInfo info,
                                  std::function<void(absl::StatusOr<int64_t>)> done) {
  auto upload_id = std::make_shared<int64_t>(0);
  Decide decide = [this, worker_id = std::move(worker_id), info = std::move(info),
                   upload_id]() -> absl::StatusOr<Plan> {
    RETURN_IF_ERROR(scheduler_->ValidateLease(info.job_id(), info.attempt(), worker_id).status());
    const store::CheckpointRow meta{.id = 0,
                                    .job_id = info.job_id(),
                                    .step = info.step(),
                                    .attempt = info.attempt(),
                                    .size_bytes = info.size_bytes(),
                                    .sha256 = info.sha256(),
                                    .chunks = 0,
                                    .created_unix_ms = 0};
    const int64_t now = NowUnixMs();
    return Plan{
        .write = [meta, upload_id, now](store::Store& store) -> absl::Status {
          ASSIGN_OR_RETURN(*upload_id, store.BeginCheckpoint(meta, now));
          return absl::OkStatus();
        },
        .answer = Answer::kAtCommit,
    };
  };
  Run(std::move(decide), [upload_id, done = std::move(done)](absl::Status status) {
    done(status.ok() ? absl::StatusOr<int64_t>(*upload_id) : status);
  });
}

void CoordinatorCore::AppendUpload(int64_t upload_id, int chunk, std::string data, Done done) {
  writer_->Submit(
      [upload_id, chunk, data = std::move(data)](store::Store& store) {
        return store.AppendCheckpointChunk(upload_id, chunk, data);
      },
      std::move(done));
}

void CoordinatorCore::CommitUpload(std::string worker_id, v1::CheckpointInfo info,
                                   int64_t upload_id, Done done) {
  if (options_.store.checkpoint_dir.empty()) {
    CommitSyncedUpload(std::move(worker_id), std::move(info), upload_id, std::move(done));
    return;
  }
  // The payload file's fsync (seconds for gigabytes) runs on the read pool, so the writer's
  // Publish finds nothing left to flush and other writes are not stalled behind it.
  Read(
      [upload_id](store::Store& store) {
        return store.checkpoint_blobs().has_value()
                   ? store.checkpoint_blobs()->SyncTmp(upload_id)
                   : absl::OkStatus();
      },
      [this, worker_id = std::move(worker_id), info = std::move(info), upload_id,
       done = std::move(done)](absl::Status synced) mutable {
        if (!synced.ok()) {
          AbortUpload(upload_id);
          done(synced);
          return;
        }
        CommitSyncedUpload(std::move(worker_id), std::move(info), upload_id, std::move(done));
      });
}

void CoordinatorCore::CommitSyncedUpload(std::string worker_id, v1::CheckpointInfo info,
                                         int64_t upload_id, Done done) {
  Decide decide = [this, worker_id = std::move(worker_id), info = std::move(info),
                   upload_id]() -> absl::StatusOr<Plan> {
    // The lease may have been reassigned while the payload streamed in.
    absl::StatusOr<scheduler::LeaseView> lease =
        scheduler_->ValidateLease(info.job_id(), info.attempt(), worker_id);
    if (!lease.ok()) {
      AbortUpload(upload_id);
      return lease.status();
    }
    scheduler_->NoteCheckpoint(info.job_id(), info.step());
    return Plan{
        .write = [upload_id](store::Store& store) { return store.CommitCheckpoint(upload_id); },
        .then =
            [this, job = info.job_id(), previous = lease->checkpoint_step,
             bytes = info.size_bytes()](const absl::Status& s) {
              if (!s.ok()) {
                scheduler_->NoteCheckpoint(job, previous);
              } else {
                metrics_.checkpoint_bytes.Add(bytes);
              }
              NotifyWatchers(job);
            },
    };
  };
  Run(std::move(decide), std::move(done));
}

void CoordinatorCore::AbortUpload(int64_t upload_id) {
  writer_->Submit([upload_id](store::Store& store) { return store.AbortCheckpoint(upload_id); },
                  nullptr);
}

}  // namespace sparsescale::coordinator
