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
    int gpus = 0;
    Fits(worker->second, job, &gpus);  // the GPU share it held before the restart
    job.gpus_held = std::min(gpus, worker->second.resources.gpus - worker->second.gpus_used);
    job.memory_held = job.init.requirements.memory_bytes;
    worker->second.gpus_used += job.gpus_held;
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

bool Scheduler::Fits(const Worker& worker, const Job& job, int* gpus) const {
  const Requirements& need = job.init.requirements;
  const WorkerResources& have = worker.resources;
  const bool cuda_worker = have.device_kind == "cuda";
  if (need.device == "cuda" && !cuda_worker) {
    return false;
  }
  *gpus = (need.device == "cpu" || !cuda_worker) ? 0 : std::max(1, need.gpus);
  if (*gpus > have.gpus - worker.gpus_used) {
    return false;
  }
  if (have.memory_bytes > 0 && need.memory_bytes > have.memory_bytes - worker.memory_used) {
    return false;
  }
  return true;
}

Transition Scheduler::Grant(Worker& worker, Job& job, int gpus) {
  const int64_t now = clock_->NowMs();
  queue_.erase(KeyOf(job.init));
  job.phase = JobPhase::kRunning;
  job.init.attempt += 1;
  job.worker_id = worker.id;
  job.gpus_held = gpus;
  job.memory_held = job.init.requirements.memory_bytes;
  job.lease_expiry_ms = now + options_.lease_ttl_ms;
  job.last_progress_ms = now;
  job.resume_step = job.init.checkpoint_step;
  job.step = job.resume_step;
  job.awaiting_reattach = false;
  worker.gpus_used += gpus;
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
  int capacity = worker.resources.slots - static_cast<int>(worker.running.size());
  if (max_leases > 0) {
    capacity = std::min(capacity, max_leases);
  }
  int scanned = 0;
  for (auto q = queue_.begin(); q != queue_.end() && capacity > 0 && scanned < options_.max_scan;
       ++scanned) {
    Job& job = jobs_.at(q->second);
    ++q;  // Grant() erases the entry we are on.
    int gpus = 0;
    if (Fits(worker, job, &gpus)) {
      grants.push_back(Grant(worker, job, gpus));
      --capacity;
    }
  }
  return grants;
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
