// Scheduler: registration, the queue and placement.
#include "coordinator/scheduler/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace sparsescale::scheduler {

Scheduler::Scheduler(const SchedulerOptions& options, const Clock* clock)
    : options_(options), clock_(clock) {}

void Scheduler::AddQueuedJob(const JobInit& init) {
  if (jobs_.count(init.id) > 0) {
    return;
  }
  Job& job = jobs_[init.id];
  job.init = init;
  job.phase = JobPhase::kQueued;
  job.step = init.checkpoint_step;
  queue_.emplace(KeyOf(init), init.id);
}

void Scheduler::RestoreRunningJob(const JobInit& init, const std::string& worker_id) {
  if (jobs_.count(init.id) > 0) {
    return;
  }
  const int64_t now = clock_->NowMs();
  Job& job = jobs_[init.id];
  job.init = init;
  job.phase = JobPhase::kRunning;
  job.worker_id = worker_id;
  job.awaiting_reattach = true;
  job.lease_expiry_ms = now + options_.restart_grace_ms;
  job.last_progress_ms = now;
  job.step = init.checkpoint_step;
  job.resume_step = init.checkpoint_step;
  running_.insert(init.id);
  auto worker = workers_.find(worker_id);
  if (worker != workers_.end()) {
    // The share it held before the restart; its slots count in full (it is running there), so
    // the worker gets no new work beyond its slots.
    const Share share = ShareOn(worker->second.resources, job.init.requirements);
    job.gpus_held = std::min(share.gpus, worker->second.resources.gpus - worker->second.gpus_used);
    job.slots_held = share.slots;
    job.memory_held = job.init.requirements.memory_bytes;
    worker->second.gpus_used += job.gpus_held;
    worker->second.slots_used += job.slots_held;
    worker->second.memory_used += job.memory_held;
    worker->second.running.insert(init.id);
  }
}

void Scheduler::RegisterWorker(const std::string& worker_id, const WorkerResources& resources) {
  Worker& worker = workers_[worker_id];
  worker.id = worker_id;
  worker.resources = resources;
  worker.last_heartbeat_ms = clock_->NowMs();
}

void Scheduler::RestoreWorker(const std::string& worker_id, const WorkerResources& resources) {
  if (workers_.count(worker_id) > 0) {
    return;
  }
  RegisterWorker(worker_id, resources);
}

Scheduler::Share Scheduler::ShareOn(const WorkerResources& worker, const Requirements& need) {
  Share share;
  const bool cuda_worker = worker.device_kind == "cuda";
  share.gpus = (need.device == "cpu" || !cuda_worker) ? 0 : std::max(1, need.gpus);
  // Ranks on GPUs are bounded by the GPUs; ranks on CPU are processes, one slot each.
  share.slots = share.gpus > 0 ? 1 : std::max(1, need.ranks);
  return share;
}

bool Scheduler::Fits(const Worker& worker, const Job& job, Share* share) const {
  const Requirements& need = job.init.requirements;
  const WorkerResources& have = worker.resources;
  if (need.device == "cuda" && have.device_kind != "cuda") {
    return false;
  }
  *share = ShareOn(have, need);
  if (share->gpus > have.gpus - worker.gpus_used) {
    return false;
  }
  if (share->slots > have.slots - worker.slots_used) {
    return false;
  }
  if (have.memory_bytes > 0 && need.memory_bytes > have.memory_bytes - worker.memory_used) {
    return false;
  }
  return true;
}

std::string Scheduler::Unplaceable(const std::string& job_id) const {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || it->second.phase != JobPhase::kQueued) {
    return "";
  }
  if (workers_.empty()) {
    return "no worker is registered";
  }
  const Requirements& need = it->second.init.requirements;
  int most_gpus = 0;       // on one cuda worker
  int most_slots = 0;      // on any worker
  int most_cpu_slots = 0;  // on a cpu worker (where an "auto" job's ranks run on CPU)
  for (const auto& [id, worker] : workers_) {
    Worker idle;
    idle.resources = worker.resources;
    Share share;
    if (Fits(idle, it->second, &share)) {
      return "";
    }
    const WorkerResources& r = worker.resources;
    most_slots = std::max(most_slots, r.slots);
    if (r.device_kind == "cuda") {
      most_gpus = std::max(most_gpus, r.gpus);
    } else {
      most_cpu_slots = std::max(most_cpu_slots, r.slots);
    }
  }
  const int gpus = std::max(1, need.gpus);
  const int ranks = std::max(1, need.ranks);
  if (need.device == "cpu" && ranks > most_slots) {
    return absl::StrCat("it needs ", ranks, " free slots on one worker for its ", ranks,
                        " CPU ranks; the largest worker has ", most_slots);
  }
  if (need.device == "cuda" && gpus > most_gpus) {
    return most_gpus == 0
               ? "it needs a cuda worker and none is registered"
               : absl::StrCat("it needs ", gpus,
                              " GPUs on one worker; the largest cuda worker has ", most_gpus);
  }
  if (need.device == "auto" && gpus > most_gpus && ranks > most_cpu_slots) {
    return absl::StrCat("it needs ", gpus, " GPUs on a cuda worker or ", ranks,
                        " slots on a cpu worker; the largest have ", most_gpus, " GPUs and ",
                        most_cpu_slots, " slots");
  }
  return "no registered worker has enough memory for it";
}

Transition Scheduler::Grant(Worker& worker, Job& job, Share share) {
  // Acquire() grants only queued jobs that Fits() placed on this worker.
  SS_CHECK(job.phase == JobPhase::kQueued);
  SS_CHECK(worker.slots_used + share.slots <= worker.resources.slots);
  SS_CHECK(worker.gpus_used + share.gpus <= worker.resources.gpus);
  const int64_t now = clock_->NowMs();
  queue_.erase(KeyOf(job.init));
  job.phase = JobPhase::kRunning;
  job.init.attempt += 1;
  job.worker_id = worker.id;
  job.gpus_held = share.gpus;
  job.slots_held = share.slots;
  job.memory_held = job.init.requirements.memory_bytes;
  job.lease_expiry_ms = now + options_.lease_ttl_ms;
  job.last_progress_ms = now;
  job.resume_step = job.init.checkpoint_step;
  job.step = job.resume_step;
  job.awaiting_reattach = false;
  worker.gpus_used += share.gpus;
  worker.slots_used += share.slots;
  worker.memory_used += job.memory_held;
  worker.running.insert(job.init.id);
  running_.insert(job.init.id);
  Transition t;
  t.kind = Transition::Kind::kGranted;
  t.job_id = job.init.id;
  t.attempt = job.init.attempt;
  t.worker_id = worker.id;
  t.step = job.resume_step;
  t.state = JobPhase::kRunning;
  return t;
}

absl::StatusOr<std::vector<Transition>> Scheduler::Acquire(const std::string& worker_id,
                                                           int max_leases) {
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) {
    return absl::NotFoundError(
        absl::StrCat("worker_id: unknown worker ", worker_id, "; register again"));
  }
  Worker& worker = it->second;
  worker.last_heartbeat_ms = clock_->NowMs();
  std::vector<Transition> grants;
  if (worker.draining) {
    return grants;
  }
  // Fits() checks each job's slots; this only stops the scan once nothing more can fit.
  int leases_left = max_leases > 0 ? max_leases : worker.resources.slots;
  int scanned = 0;
  for (auto q = queue_.begin();
       q != queue_.end() && leases_left > 0 && worker.slots_used < worker.resources.slots &&
       scanned < options_.max_scan;
       ++scanned) {
    Job& job = jobs_.at(q->second);
    ++q;  // Grant() erases the entry we are on.
    Share share;
    if (Fits(worker, job, &share)) {
      grants.push_back(Grant(worker, job, share));
      --leases_left;
    }
  }
  return grants;
}

absl::Status Scheduler::SetPriority(const std::string& job_id, int priority) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat("id: job ", job_id, " is not active"));
  }
  Job& job = it->second;
  if (job.phase != JobPhase::kQueued) {
    return absl::FailedPreconditionError(
        absl::StrCat("id: job ", job_id, " is running; only a queued job's priority can change"));
  }
  queue_.erase(KeyOf(job.init));
  job.init.priority = priority;
  queue_.emplace(KeyOf(job.init), job_id);
  return absl::OkStatus();
}

std::optional<JobPhase> Scheduler::PhaseOf(const std::string& job_id) const {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    return std::nullopt;
  }
  return it->second.phase;
}

std::vector<std::string> Scheduler::QueueOrder(size_t limit) const {
  std::vector<std::string> ids;
  for (auto it = queue_.begin(); it != queue_.end() && ids.size() < limit; ++it) {
    ids.push_back(it->second);
  }
  return ids;
}

std::vector<WorkerView> Scheduler::Workers() const {
  const int64_t now = clock_->NowMs();
  std::vector<WorkerView> views;
  for (const auto& [id, worker] : workers_) {
    WorkerView& view = views.emplace_back();
    view.id = id;
    view.resources = worker.resources;
    view.alive = now - worker.last_heartbeat_ms < options_.lease_ttl_ms;
    view.draining = worker.draining;
    view.running_job_ids.assign(worker.running.begin(), worker.running.end());
    view.last_heartbeat_ms = worker.last_heartbeat_ms;
  }
  std::sort(views.begin(), views.end(),
            [](const WorkerView& a, const WorkerView& b) { return a.id < b.id; });
  return views;
}

void Scheduler::ForgetSilentWorkers() {
  const int64_t now = clock_->NowMs();
  for (auto it = workers_.begin(); it != workers_.end();) {
    const Worker& w = it->second;
    if (w.running.empty() && now - w.last_heartbeat_ms > options_.worker_forget_ms) {
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace sparsescale::scheduler
