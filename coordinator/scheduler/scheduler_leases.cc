// Scheduler: leases, heartbeats, completion, cancellation, expiry and retries.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "coordinator/scheduler/scheduler.h"

namespace sparsescale::scheduler {

absl::StatusOr<LeaseView> Scheduler::ValidateLease(const std::string& job_id, int attempt,
                                                   const std::string& worker_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || it->second.phase != JobPhase::kRunning) {
    return absl::FailedPreconditionError(
        absl::StrCat("attempt: job ", job_id, " has no running attempt ", attempt,
                     " (finished, requeued or unknown); the lease is no longer valid"));
  }
  Job& job = it->second;
  if (job.init.attempt != attempt) {
    return absl::FailedPreconditionError(absl::StrCat("attempt: ", attempt, " is stale; job ",
                                                      job_id, " is at attempt ", job.init.attempt));
  }
  const int64_t expiry = clock_->NowMs() + options_.lease_ttl_ms;
  if (job.worker_id == worker_id) {
    job.lease_expiry_ms = expiry;
    job.awaiting_reattach = false;
  } else {
    auto member = std::find_if(job.members.begin(), job.members.end(), [&](const Member& m) {
      return m.worker_id == worker_id && !m.done;
    });
    if (member == job.members.end()) {
      return absl::FailedPreconditionError(absl::StrCat("worker_id: job ", job_id, " attempt ",
                                                        attempt, " is leased to another worker"));
    }
    member->lease_expiry_ms = expiry;
  }
  return LeaseView{.attempt = job.init.attempt,
                   .resume_step = job.resume_step,
                   .checkpoint_step = job.init.checkpoint_step};
}

bool Scheduler::IsCurrentAttempt(const std::string& job_id, int attempt) const {
  auto it = jobs_.find(job_id);
  return it != jobs_.end() && it->second.phase == JobPhase::kRunning &&
         it->second.init.attempt == attempt;
}

std::vector<std::string> Scheduler::HoldersOf(const std::string& job_id, int attempt) const {
  std::vector<std::string> holders;
  if (!IsCurrentAttempt(job_id, attempt)) {
    return holders;
  }
  const Job& job = jobs_.at(job_id);
  holders.push_back(job.worker_id);
  for (const Member& m : job.members) {
    if (!m.done) {
      holders.push_back(m.worker_id);
    }
  }
  return holders;
}

void Scheduler::NoteProgress(const std::string& job_id, int64_t step) {
  auto it = jobs_.find(job_id);
  if (it != jobs_.end() && step > it->second.step) {
    it->second.step = step;
    it->second.last_progress_ms = clock_->NowMs();
  }
}

void Scheduler::NoteCheckpoint(const std::string& job_id, int64_t step) {
  auto it = jobs_.find(job_id);
  if (it != jobs_.end()) {
    it->second.init.checkpoint_step = step;
  }
}

HeartbeatResult Scheduler::Heartbeat(const std::string& worker_id,
                                     const std::vector<LeaseProgress>& leases, bool draining) {
  HeartbeatResult result;
  auto w = workers_.find(worker_id);
  if (w == workers_.end()) {
    result.known = false;
    return result;
  }
  w->second.last_heartbeat_ms = clock_->NowMs();
  w->second.draining = draining;
  for (const LeaseProgress& lease : leases) {
    if (!ValidateLease(lease.job_id, lease.attempt, worker_id).ok()) {
      result.orders.push_back(
          {.job_id = lease.job_id, .attempt = lease.attempt, .kind = OrderKind::kAbandon});
      continue;
    }
    NoteProgress(lease.job_id, lease.step);
    if (jobs_.at(lease.job_id).init.cancel_requested) {
      result.orders.push_back(
          {.job_id = lease.job_id, .attempt = lease.attempt, .kind = OrderKind::kCancel});
    }
  }
  return result;
}

void Scheduler::ReleaseFromWorker(Job& job) {
  auto w = workers_.find(job.worker_id);
  if (w != workers_.end()) {
    Worker& worker = w->second;
    // A job holds what it was granted (or restored with) on this worker, and only there.
    SS_CHECK(worker.running.erase(job.init.id) == 1);
    SS_CHECK(worker.gpus_used >= job.gpus_held);
    SS_CHECK(worker.slots_used >= job.slots_held);
    SS_CHECK(worker.memory_used >= job.memory_held);
    worker.gpus_used -= job.gpus_held;
    worker.slots_used -= job.slots_held;
    worker.memory_used -= job.memory_held;
  }
  for (Member& m : job.members) {
    auto mw = workers_.find(m.worker_id);
    if (m.done || mw == workers_.end()) {
      continue;
    }
    Worker& worker = mw->second;
    SS_CHECK(worker.running.erase(job.init.id) == 1);
    SS_CHECK(worker.gpus_used >= m.gpus_held && worker.slots_used >= m.slots_held &&
             worker.memory_used >= m.memory_held);
    worker.gpus_used -= m.gpus_held;
    worker.slots_used -= m.slots_held;
    worker.memory_used -= m.memory_held;
  }
  job.members.clear();
  gangs_.erase(job.init.id);
  job.lead_ranks = 0;
  job.lead_delivered = true;
  running_.erase(job.init.id);
  job.gpus_held = 0;
  job.slots_held = 0;
  job.memory_held = 0;
}

Transition Scheduler::EndMember(Job& job, const std::string& worker_id, Outcome outcome,
                                Failure failure, const std::string& reason) {
  if (outcome == Outcome::kFailed || outcome == Outcome::kReleased) {
    // One member down ends the attempt on all of them, counted once.
    const std::string why = absl::StrCat("gang member on worker ", worker_id, ": ",
                                         reason.empty() ? "released" : reason);
    return EndBy(job, outcome, failure, why);
  }
  // SS_CHECKed by ValidateLease: a live member of this job on this worker.
  auto member = std::find_if(job.members.begin(), job.members.end(), [&](const Member& m) {
    return m.worker_id == worker_id && !m.done;
  });
  SS_CHECK(member != job.members.end());
  auto w = workers_.find(worker_id);
  if (w != workers_.end()) {
    Worker& worker = w->second;
    SS_CHECK(worker.running.erase(job.init.id) == 1);
    worker.gpus_used -= member->gpus_held;
    worker.slots_used -= member->slots_held;
    worker.memory_used -= member->memory_held;
  }
  member->done = true;
  Transition t;
  t.kind = Transition::Kind::kMemberEnded;
  t.job_id = job.init.id;
  t.attempt = job.init.attempt;
  t.worker_id = worker_id;
  t.state = JobPhase::kRunning;
  t.first_rank = member->first_rank;
  t.rank_count = member->rank_count;
  t.world_size = job.init.requirements.ranks;
  return t;
}

Transition Scheduler::EndAttempt(Job& job, JobPhase state, JobPhase outcome, Failure failure,
                                 const std::string& reason) {
  Transition t;
  t.kind = Transition::Kind::kAttemptEnded;
  t.job_id = job.init.id;
  t.attempt = job.phase == JobPhase::kRunning ? job.init.attempt : 0;
  t.worker_id = job.worker_id;
  t.step = job.init.checkpoint_step;
  t.state = state;
  t.outcome = outcome;
  t.failure = failure;
  t.reason = reason;
  t.infra_failures = job.init.infra_failures;
  t.job_failures = job.init.job_failures;
  if (job.phase == JobPhase::kRunning) {
    ReleaseFromWorker(job);
  } else {
    Dequeue(job);
  }
  job.phase = state;
  job.worker_id.clear();
  if (state == JobPhase::kQueued) {
    job.step = job.init.checkpoint_step;
    job.awaiting_reattach = false;
    Enqueue(job);
  }
  return t;
}

Transition Scheduler::Retire(Transition t) {
  auto it = jobs_.find(t.job_id);
  SS_CHECK(it != jobs_.end());
  if (it->second.phase != JobPhase::kQueued) {
    jobs_.erase(it);  // final: the scheduler holds only jobs that may still run
  }
  return t;
}

Transition Scheduler::Fail(Job& job, Failure failure, const std::string& reason) {
  if (failure == Failure::kJob) {
    job.init.job_failures += 1;
  } else {
    job.init.infra_failures += 1;
  }
  if (job.init.cancel_requested) {
    return EndAttempt(job, JobPhase::kCancelled, JobPhase::kFailed, failure, reason);
  }
  const bool final =
      (failure == Failure::kJob && job.init.job_failures > options_.job_failure_retries) ||
      job.init.infra_failures + job.init.job_failures >= job.init.max_attempts;
  return EndAttempt(job, final ? JobPhase::kFailed : JobPhase::kQueued, JobPhase::kFailed, failure,
                    reason);
}

absl::StatusOr<Transition> Scheduler::Complete(const std::string& job_id, int attempt,
                                               const std::string& worker_id, Outcome outcome,
                                               Failure failure, const std::string& reason) {
  RETURN_IF_ERROR(ValidateLease(job_id, attempt, worker_id).status());
  Job& job = jobs_.at(job_id);
  if (job.worker_id != worker_id) {
    Transition t = EndMember(job, worker_id, outcome, failure, reason);
    return t.kind == Transition::Kind::kMemberEnded ? t : Retire(t);
  }
  return Retire(EndBy(job, outcome, failure, reason));
}

Transition Scheduler::EndBy(Job& job, Outcome outcome, Failure failure,
                            const std::string& reason) {
  switch (outcome) {
    case Outcome::kSucceeded:
      return EndAttempt(job, JobPhase::kSucceeded, JobPhase::kSucceeded, Failure::kNone, "");
    case Outcome::kCancelled:
      return EndAttempt(job, JobPhase::kCancelled, JobPhase::kCancelled, Failure::kNone, reason);
    case Outcome::kReleased:
      if (job.init.cancel_requested) {
        return EndAttempt(job, JobPhase::kCancelled, JobPhase::kCancelled, Failure::kNone, reason);
      }
      return EndAttempt(job, JobPhase::kQueued, JobPhase::kQueued, Failure::kNone,
                        reason.empty() ? "released by worker" : reason);
    case Outcome::kFailed:
      return Fail(job, failure == Failure::kNone ? Failure::kJob : failure, reason);
  }
  CheckFailed(__FILE__, __LINE__, "unknown outcome");
}

absl::StatusOr<std::optional<Transition>> Scheduler::Cancel(const std::string& job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat("id: job ", job_id, " is not active"));
  }
  Job& job = it->second;
  if (job.phase == JobPhase::kQueued) {
    return Retire(EndAttempt(job, JobPhase::kCancelled, JobPhase::kCancelled, Failure::kNone,
                             "cancelled while queued"));
  }
  if (job.init.cancel_requested) {
    return std::nullopt;
  }
  job.init.cancel_requested = true;
  Transition t;
  t.kind = Transition::Kind::kCancelRequested;
  t.job_id = job_id;
  t.attempt = job.init.attempt;
  t.worker_id = job.worker_id;
  t.state = JobPhase::kRunning;
  return t;
}

std::vector<Transition> Scheduler::Tick() {
  const int64_t now = clock_->NowMs();
  std::vector<std::pair<std::string, std::string>> doomed;  // (job id, reason)
  for (const std::string& id : running_) {
    const Job& job = jobs_.at(id);
    if (job.awaiting_reattach && now >= job.lease_expiry_ms) {
      doomed.emplace_back(id, absl::StrCat("not re-attached within the restart grace of ",
                                           options_.restart_grace_ms, " ms"));
    } else if (now >= job.lease_expiry_ms) {
      doomed.emplace_back(id, absl::StrCat("lease expired: worker ", job.worker_id, " silent for ",
                                           options_.lease_ttl_ms, " ms"));
    } else if (auto m = std::find_if(
                   job.members.begin(), job.members.end(),
                   [&](const Member& m) { return !m.done && now >= m.lease_expiry_ms; });
               m != job.members.end()) {
      doomed.emplace_back(
          id, m->delivered
                  ? absl::StrCat("lease expired: gang member worker ", m->worker_id,
                                 " silent for ", options_.lease_ttl_ms, " ms")
                  : absl::StrCat("lease expired: gang member worker ", m->worker_id,
                                 " did not take its lease within ", options_.lease_ttl_ms, " ms"));
    } else if (options_.hang_timeout_ms > 0 &&
               now - job.last_progress_ms >= options_.hang_timeout_ms) {
      doomed.emplace_back(id, absl::StrCat("hang: no step progress for ",
                                           now - job.last_progress_ms, " ms at step ", job.step));
    }
  }
  std::vector<Transition> transitions;
  for (const auto& [id, reason] : doomed) {
    transitions.push_back(Retire(Fail(jobs_.at(id), Failure::kInfra, reason)));
  }
  ForgetSilentWorkers();
  return transitions;
}

}  // namespace sparsescale::scheduler
