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
  Enqueue(job);
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

void Scheduler::Enqueue(const Job& job) {
  queue_.emplace(KeyOf(job.init), job.init.id);
  if (job.init.requirements.ranks > 1) {
    multi_queue_.emplace(KeyOf(job.init), job.init.id);
  }
}

void Scheduler::Dequeue(const Job& job) {
  queue_.erase(KeyOf(job.init));
  multi_queue_.erase(KeyOf(job.init));
}

Scheduler::Share Scheduler::MemberShare(const WorkerResources& worker, const Requirements& need,
                                        int ranks) {
  if (need.device != "cpu" && worker.device_kind == "cuda") {
    return Share{.gpus = ranks, .slots = 1};
  }
  return Share{.gpus = 0, .slots = ranks};
}

bool Scheduler::BehindReserved(const Job& job) const {
  if (reserved_.empty() || job.init.id == reserved_) {
    return false;
  }
  auto it = jobs_.find(reserved_);
  return it != jobs_.end() && it->second.phase == JobPhase::kQueued &&
         KeyOf(it->second.init) < KeyOf(job.init);
}

bool Scheduler::Fits(const Worker& worker, const Job& job, Share* share) const {
  const Requirements& need = job.init.requirements;
  const WorkerResources& have = worker.resources;
  if (need.device == "cuda" && have.device_kind != "cuda") {
    return false;
  }
  *share = ShareOn(have, need);
  int free_gpus = have.gpus - worker.gpus_used;
  int free_slots = have.slots - worker.slots_used;
  if (auto held = held_.find(worker.id); held != held_.end() && BehindReserved(job)) {
    free_gpus -= held->second.gpus;
    free_slots -= held->second.slots;
  }
  if (share->gpus > free_gpus) {
    return false;
  }
  if (share->slots > free_slots) {
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
  const Job& job = it->second;
  const Requirements& need = job.init.requirements;
  const int ranks = std::max(1, need.ranks);
  int gang_room = 0;  // ranks all workers together could run when idle, memory included
  int gang_gpu_room = 0;
  int all_gpus = 0;   // GPUs of all cuda workers (for the message)
  int all_slots = 0;  // slots of all workers where the job's ranks may run on CPU
  int cuda_workers = 0;
  for (const auto& [id, worker] : workers_) {
    Worker idle;
    idle.resources = worker.resources;
    Share share;
    if (Fits(idle, job, &share)) {
      return "";
    }
    const WorkerResources& r = worker.resources;
    const bool cuda = r.device_kind == "cuda";
    cuda_workers += cuda ? 1 : 0;
    all_gpus += cuda ? r.gpus : 0;
    all_slots += (need.device == "cpu" || !cuda) ? r.slots : 0;
    gang_gpu_room += RoomFor(worker, job, "gpu", /*idle=*/true);
    gang_room += RoomFor(worker, job, "cpu", /*idle=*/true);
  }
  if (ranks > 1 && (gang_gpu_room >= ranks || gang_room >= ranks)) {
    return "";  // a multi-node gang once enough of them are idle
  }
  const int gpus = std::max(1, need.gpus);
  if (need.device == "cpu" && ranks > all_slots) {
    return absl::StrCat("it needs ", ranks, " free slots for its ", ranks,
                        " CPU ranks; all registered workers together have ", all_slots);
  }
  if (need.device == "cuda" && gpus > all_gpus) {
    return cuda_workers == 0 ? "it needs a cuda worker and none is registered"
                             : absl::StrCat("it needs ", gpus,
                                            " GPUs; all registered cuda workers together have ",
                                            all_gpus);
  }
  if (need.device == "auto" && gpus > all_gpus && ranks > all_slots) {
    return absl::StrCat("it needs ", gpus, " GPUs on cuda workers or ", ranks,
                        " slots on cpu workers; together they have ", all_gpus, " GPUs and ",
                        all_slots, " slots");
  }
  return "no registered worker has enough memory for it";
}

int Scheduler::RoomFor(const Worker& worker, const Job& job, const std::string& kind,
                       bool idle) const {
  const Requirements& need = job.init.requirements;
  const WorkerResources& have = worker.resources;
  const bool cuda_worker = have.device_kind == "cuda";
  if (kind == "gpu" ? (need.device == "cpu" || !cuda_worker)
                    : (need.device == "cuda" || (need.device == "auto" && cuda_worker))) {
    return 0;
  }
  int free_gpus = have.gpus - (idle ? 0 : worker.gpus_used);
  int free_slots = have.slots - (idle ? 0 : worker.slots_used);
  const int64_t free_memory = have.memory_bytes - (idle ? 0 : worker.memory_used);
  if (auto held = held_.find(worker.id); !idle && held != held_.end() && BehindReserved(job)) {
    free_gpus -= held->second.gpus;
    free_slots -= held->second.slots;
  }
  if (have.memory_bytes > 0 && need.memory_bytes > free_memory) {
    return 0;
  }
  if (kind == "gpu") {
    return free_slots >= 1 ? std::max(0, free_gpus) : 0;
  }
  return std::max(0, free_slots);
}

std::vector<Scheduler::Worker*> Scheduler::LiveWorkers() {
  const int64_t now = clock_->NowMs();
  std::vector<Worker*> live;
  for (auto& [id, worker] : workers_) {
    if (!worker.draining && now - worker.last_heartbeat_ms < options_.lease_ttl_ms) {
      live.push_back(&worker);
    }
  }
  std::sort(live.begin(), live.end(), [](const Worker* a, const Worker* b) {
    return a->last_heartbeat_ms != b->last_heartbeat_ms
               ? a->last_heartbeat_ms > b->last_heartbeat_ms
               : a->id < b->id;
  });
  return live;
}

std::vector<Transition> Scheduler::PlaceGang(Worker& asking, Job& job) {
  const Requirements& need = job.init.requirements;
  const int ranks = need.ranks;
  if (ranks <= 1 || job.phase != JobPhase::kQueued) {
    return {};
  }
  const std::vector<Worker*> live = LiveWorkers();
  for (const char* kind : {"gpu", "cpu"}) {
    std::vector<std::pair<Worker*, int>> rooms;  // (worker, ranks it could take), asking first
    int total = 0;
    bool one_holds_all = false;
    for (Worker* w : live) {
      const int room = RoomFor(*w, job, kind, /*idle=*/false);
      if (room <= 0) {
        continue;
      }
      one_holds_all = one_holds_all || room >= ranks;
      total += room;
      rooms.emplace_back(w, room);
    }
    if (one_holds_all || total < ranks) {
      continue;  // a single worker takes it (on its own Acquire), or this kind has no room
    }
    std::stable_sort(rooms.begin(), rooms.end(), [&](const auto& a, const auto& b) {
      if ((a.first == &asking) != (b.first == &asking)) {
        return a.first == &asking;
      }
      return a.second > b.second;
    });
    const int64_t now = clock_->NowMs();
    Dequeue(job);
    job.phase = JobPhase::kRunning;
    job.init.attempt += 1;
    job.last_progress_ms = now;
    job.resume_step = job.init.checkpoint_step;
    job.step = job.resume_step;
    job.awaiting_reattach = false;
    job.members.clear();
    std::vector<Transition> out;
    int next = 0;
    for (const auto& [w, room] : rooms) {
      if (next >= ranks) {
        break;
      }
      const int take = std::min(room, ranks - next);
      const Share share = MemberShare(w->resources, need, take);
      w->gpus_used += share.gpus;
      w->slots_used += share.slots;
      w->memory_used += need.memory_bytes;
      w->running.insert(job.init.id);
      const bool delivered = w == &asking;
      if (next == 0) {
        job.worker_id = w->id;
        job.lead_ranks = take;
        job.lead_delivered = delivered;
        job.gpus_held = share.gpus;
        job.slots_held = share.slots;
        job.memory_held = need.memory_bytes;
        job.lease_expiry_ms = now + options_.lease_ttl_ms;
      } else {
        job.members.push_back(Member{.worker_id = w->id,
                                     .first_rank = next,
                                     .rank_count = take,
                                     .gpus_held = share.gpus,
                                     .slots_held = share.slots,
                                     .memory_held = need.memory_bytes,
                                     .lease_expiry_ms = now + options_.lease_ttl_ms,
                                     .delivered = delivered,
                                     .done = false});
      }
      Transition t;
      t.kind = next == 0 ? Transition::Kind::kGranted : Transition::Kind::kMemberLease;
      t.job_id = job.init.id;
      t.attempt = job.init.attempt;
      t.worker_id = w->id;
      t.step = job.resume_step;
      t.state = JobPhase::kRunning;
      t.first_rank = next;
      t.rank_count = take;
      t.world_size = ranks;
      t.deliver = delivered;
      // The attempt is recorded once (rank 0's); a member's lease only when it is delivered.
      if (next == 0 || delivered) {
        out.push_back(t);
      }
      next += take;
    }
    running_.insert(job.init.id);
    gangs_.insert(job.init.id);
    return out;
  }
  return {};
}

void Scheduler::Reserve() {
  reserved_.clear();
  held_.clear();
  if (multi_queue_.empty()) {
    return;  // the common case: no job of several ranks waits
  }
  const std::vector<Worker*> live = LiveWorkers();
  int scanned = 0;
  for (auto q = multi_queue_.begin(); q != multi_queue_.end() && scanned < options_.max_scan;
       ++q, ++scanned) {
    const Job& job = jobs_.at(q->second);
    const int ranks = job.init.requirements.ranks;
    bool now_fits = false;
    const char* best_kind = nullptr;
    int best_room = -1;
    for (const char* kind : {"gpu", "cpu"}) {
      int room = 0;
      int idle_room = 0;
      for (const Worker* w : live) {
        room += RoomFor(*w, job, kind, /*idle=*/false);
        idle_room += RoomFor(*w, job, kind, /*idle=*/true);
      }
      now_fits = now_fits || room >= ranks;
      if (idle_room >= ranks && room > best_room) {
        best_kind = kind;
        best_room = room;
      }
    }
    for (const Worker* w : live) {
      Share share;
      now_fits = now_fits || Fits(*w, job, &share);
    }
    if (now_fits || best_kind == nullptr) {
      continue;  // placed by the next Acquire that tries it, or never placeable here
    }
    reserved_ = job.init.id;
    std::vector<std::pair<Worker*, int>> rooms;
    for (Worker* w : live) {
      if (const int room = RoomFor(*w, job, best_kind, /*idle=*/false); room > 0) {
        rooms.emplace_back(w, room);
      }
    }
    std::stable_sort(rooms.begin(), rooms.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    int held = 0;
    for (const auto& [w, room] : rooms) {
      if (held >= ranks) {
        break;
      }
      const int take = std::min(room, ranks - held);
      held_[w->id] = MemberShare(w->resources, job.init.requirements, take);
      held += take;
    }
    return;
  }
}

std::string Scheduler::ReservedJob() {
  Reserve();
  return reserved_;
}

std::vector<Transition> Scheduler::TakeUndelivered(const std::string& worker_id) {
  std::vector<Transition> out;
  for (const std::string& id : gangs_) {
    Job& job = jobs_.at(id);
    auto lease = [&](int first_rank, int rank_count) {
      Transition t;
      t.kind = Transition::Kind::kMemberLease;
      t.job_id = id;
      t.attempt = job.init.attempt;
      t.worker_id = worker_id;
      t.step = job.resume_step;
      t.state = JobPhase::kRunning;
      t.first_rank = first_rank;
      t.rank_count = rank_count;
      t.world_size = job.init.requirements.ranks;
      out.push_back(t);
    };
    if (job.worker_id == worker_id && !job.lead_delivered) {
      job.lead_delivered = true;
      lease(0, job.lead_ranks);
    }
    for (Member& m : job.members) {
      if (m.worker_id == worker_id && !m.delivered && !m.done) {
        m.delivered = true;
        lease(m.first_rank, m.rank_count);
      }
    }
  }
  return out;
}

bool Scheduler::HasUndeliveredLeases() const {
  for (const std::string& id : gangs_) {
    const Job& job = jobs_.at(id);
    if (!job.lead_delivered) {
      return true;
    }
    for (const Member& m : job.members) {
      if (!m.delivered && !m.done) {
        return true;
      }
    }
  }
  return false;
}

Transition Scheduler::Grant(Worker& worker, Job& job, Share share) {
  // Acquire() grants only queued jobs that Fits() placed on this worker.
  SS_CHECK(job.phase == JobPhase::kQueued);
  SS_CHECK(worker.slots_used + share.slots <= worker.resources.slots);
  SS_CHECK(worker.gpus_used + share.gpus <= worker.resources.gpus);
  const int64_t now = clock_->NowMs();
  Dequeue(job);
  job.phase = JobPhase::kRunning;
  job.lead_ranks = std::max(1, job.init.requirements.ranks);
  job.lead_delivered = true;
  job.members.clear();
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
  t.first_rank = 0;
  t.rank_count = job.lead_ranks;
  t.world_size = job.lead_ranks;
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
  if (worker.draining) {
    return std::vector<Transition>{};
  }
  // Gang member leases placed by other workers' requests come first, whatever max_leases says:
  // their room is already taken.
  std::vector<Transition> grants = TakeUndelivered(worker_id);
  Reserve();
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
    } else if (job.init.requirements.ranks > 1) {
      std::vector<Transition> gang = PlaceGang(worker, job);
      if (!gang.empty()) {
        grants.insert(grants.end(), gang.begin(), gang.end());
        --leases_left;
      }
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
  Dequeue(job);
  job.init.priority = priority;
  Enqueue(job);
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
