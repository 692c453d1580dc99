#include "worker/agent/agent.h"

#include <algorithm>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "common/version.h"
#include "worker/agent/retry.h"

namespace sparsescale::agent {

namespace v1 = sparsescale::v1;

// How often the lease loop and the drain look at their slots when no finished job wakes them
// (a backstop: finishing jobs signal the mutex condition).
constexpr std::chrono::seconds kSlotCheckPeriod{1};

struct Agent::Slot {
  std::unique_ptr<JobRunner> runner;
  std::vector<std::string> gpus;  // held from gpus_ while the job runs
  std::thread thread;
  bool finished = false;  // guarded by Agent::mu_
};

std::string NewRequestId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat("w-", absl::Hex(rng(), absl::kZeroPad16),
                      absl::Hex(rng() & 0xffffffffu, absl::kZeroPad8));
}

Agent::Agent(AgentOptions options, std::unique_ptr<WorkerRpc> rpc)
    : options_(std::move(options)),
      rpc_(std::move(rpc)),
      gpus_(options_.device_kind == "cuda" ? options_.gpu_ids : std::vector<std::string>{}),
      heartbeat_period_(options_.default_heartbeat_period) {
  SS_CHECK(options_.slots > 0);
  // A finished job asks for its slot's next lease in its CompleteJob call (one round trip and
  // one coordinator commit fewer per job), unless the worker is draining.
  runner_options_ = options_.runner;
  DatasetCacheOptions cache = options_.datasets;
  if (cache.dir.empty()) {
    cache.dir = options_.runner.work_dir + "/datasets";
  }
  cache.worker_id = [this] { return WorkerId(); };
  datasets_ = std::make_unique<DatasetCache>(rpc_.get(), std::move(cache));
  runner_options_.datasets = datasets_.get();
  runner_options_.next_free_slots = [this] {
    AwaitMutex::Lock lock(mu_);
    return draining_ ? 0 : 1;
  };
}

Agent::~Agent() {
  Drain();
  {
    AwaitMutex::Lock lock(mu_);
    stop_heartbeat_ = true;
  }
  if (heartbeat_thread_.joinable()) {
    heartbeat_thread_.join();
  }
  DrainJobs();
}

void Agent::Drain() {
  AwaitMutex::Lock lock(mu_);
  if (!draining_) {
    draining_ = true;
    heartbeat_now_ = true;  // Tell the coordinator at once: no more leases for this worker.
    for (auto& slot : slots_) {
      slot->runner->Order(JobOrder::kDrain);
    }
  }
}

AgentStats Agent::stats() const {
  AwaitMutex::Lock lock(mu_);
  return stats_;
}

std::string Agent::WorkerId() const {
  AwaitMutex::Lock lock(mu_);
  return worker_id_;
}

absl::Status Agent::Run() {
  RETURN_IF_ERROR(Register());
  heartbeat_thread_ = std::thread([this] { HeartbeatLoop(); });
  LeaseLoop();
  DrainJobs();  // Heartbeats go on meanwhile, so the leases stay alive while jobs release.
  {
    AwaitMutex::Lock lock(mu_);
    stop_heartbeat_ = true;
  }
  heartbeat_thread_.join();
  AgentStats s = stats();
  LogInfo("drained: %d jobs started, %d succeeded, %d released, %d other", s.jobs_started,
          s.jobs_succeeded, s.jobs_released, s.jobs_other);
  AwaitMutex::Lock lock(mu_);
  return refused_;
}

// Registers, retrying while the coordinator is unreachable (a worker may start first).
absl::Status Agent::Register() {
  std::string request_id = NewRequestId();
  Backoff backoff(options_.retry_initial, options_.retry_max);
  int failures = 0;
  while (true) {
    absl::Status s = RegisterOnce(request_id);
    if (s.ok()) {
      return s;
    }
    if (!IsTransient(s)) {
      return absl::Status(s.code(), absl::StrCat("RegisterWorker: ", s.message()));
    }
    if (++failures == 1 || failures % 30 == 0) {
      LogWarning("cannot register yet (%s); retrying", s.ToString());
    }
    if (!SleepUnlessDraining(backoff.Next())) {
      return absl::OkStatus();  // Drained before the coordinator ever answered.
    }
  }
}

absl::Status Agent::RegisterOnce(const std::string& request_id) {
  v1::RegisterWorkerRequest request;
  request.set_request_id(request_id);
  request.set_name(options_.name);
  request.set_version(options_.version);
  request.set_protocol_version(options_.protocol_version > 0 ? options_.protocol_version
                                                             : kProtocolVersion);
  v1::Resources* r = request.mutable_resources();
  r->set_device_kind(options_.device_kind);
  r->set_gpus(gpus_.size());
  r->set_memory_bytes(options_.memory_bytes);
  r->set_slots(options_.slots);
  ASSIGN_OR_RETURN(v1::RegisterWorkerResponse response, rpc_->RegisterWorker(request));
  AwaitMutex::Lock lock(mu_);
  worker_id_ = response.worker_id();
  if (response.heartbeat_period_ms() > 0) {
    heartbeat_period_ = std::chrono::milliseconds(response.heartbeat_period_ms());
  }
  ++stats_.registrations;
  LogInfo("registered as %s (%s, %d slots)", worker_id_, options_.device_kind, options_.slots);
  return absl::OkStatus();
}

// Registers again (the coordinator restarted or forgot this worker). A refusal for good (a
// coordinator of another protocol version, upgraded under this worker) drains the worker, and
// Run() then returns the refusal; anything else is retried by the next heartbeat or lease call.
void Agent::Reregister() {
  absl::Status s = RegisterOnce(NewRequestId());
  if (s.code() != absl::StatusCode::kFailedPrecondition) {
    return;
  }
  LogError("the coordinator refuses this worker: %s; draining", s.message());
  {
    AwaitMutex::Lock lock(mu_);
    refused_ = absl::FailedPreconditionError(absl::StrCat("RegisterWorker: ", s.message()));
  }
  Drain();
}

void Agent::HeartbeatLoop() {
  while (true) {
    {
      AwaitMutex::Lock lock(mu_);
      auto wake = [this]() {
        return stop_heartbeat_ || heartbeat_now_;
      };
      lock.AwaitFor(heartbeat_period_, wake);
      if (stop_heartbeat_) {
        return;
      }
      heartbeat_now_ = false;
    }
    SendHeartbeat();
  }
}

void Agent::SendHeartbeat() {
  v1::HeartbeatRequest request;
  {
    AwaitMutex::Lock lock(mu_);
    request.set_worker_id(worker_id_);
    request.set_draining(draining_);
    for (auto& slot : slots_) {
      if (!slot->finished) {
        *request.add_leases() = slot->runner->Progress();
      }
    }
  }
  absl::StatusOr<v1::HeartbeatResponse> response = rpc_->Heartbeat(request);
  if (!response.ok()) {
    if (response.status().code() == absl::StatusCode::kNotFound) {
      Reregister();  // Unknown worker: start over.
    }
    return;  // Unreachable: try again next period.
  }
  if (response->reregister()) {
    LogInfo("the coordinator asked this worker to register again");
    Reregister();
  }
  AwaitMutex::Lock lock(mu_);
  for (const v1::Order& order : response->orders()) {
    for (auto& slot : slots_) {
      JobRunner& runner = *slot->runner;
      if (runner.job_id() == order.job_id() && runner.attempt() == order.attempt()) {
        LogInfo("job %s#%d: order %s", order.job_id(), order.attempt(),
                v1::OrderKind_Name(order.kind()));
        runner.Order(order.kind() == v1::ORDER_KIND_CANCEL ? JobOrder::kCancel
                                                           : JobOrder::kAbandon);
      }
    }
  }
}

void Agent::LeaseLoop() {
  Backoff backoff(options_.retry_initial, options_.retry_max);
  int free_slots = 0;
  while (WaitForFreeSlot(&free_slots)) {
    v1::AcquireLeaseRequest request;
    request.set_worker_id(WorkerId());
    request.set_wait_ms(options_.lease_wait.count());
    request.set_free_slots(free_slots);
    absl::StatusOr<v1::AcquireLeaseResponse> response = rpc_->AcquireLease(request);
    if (!response.ok()) {
      if (response.status().code() == absl::StatusCode::kNotFound) {
        Reregister();
      }
      SleepUnlessDraining(backoff.Next());
      continue;
    }
    backoff.Reset();
    for (const v1::Lease& lease : response->leases()) {
      StartJob(lease);
    }
  }
}

// Waits until a slot is free (true, with the count) or the agent drains (false).
bool Agent::WaitForFreeSlot(int* free_slots) {
  while (true) {
    ReapFinished();
    AwaitMutex::Lock lock(mu_);
    if (draining_) {
      return false;
    }
    *free_slots = options_.slots - static_cast<int>(slots_.size());
    if (*free_slots > 0) {
      return true;
    }
    auto wake = [this]() {
      return draining_ || finished_unreaped_ > 0;
    };
    lock.AwaitFor(kSlotCheckPeriod, wake);
  }
}

// The GPUs a job takes on this worker, as the coordinator's scheduler counts them
// (Scheduler::ShareOn, MemberShare): none on a cpu worker or for a "cpu" job, else
// max(1, spec.gpus), or the lease's rank_count for a member of a multi-node gang.
int Agent::GpusFor(const v1::Lease& lease) const {
  const v1::JobSpec& spec = lease.spec();
  if (options_.device_kind != "cuda" || spec.device() == "cpu") {
    return 0;
  }
  if (lease.rank_count() > 0 && lease.rank_count() < lease.world_size()) {
    return lease.rank_count();
  }
  return std::max(1, spec.gpus());
}

// The runner options of a job holding `gpus`: on a cuda worker the job process sees only those,
// and a job holding none (a "cpu" job) runs on the CPU backend.
JobRunnerOptions Agent::RunnerOptionsFor(const std::vector<std::string>& gpus) const {
  JobRunnerOptions options = runner_options_;
  if (options_.device_kind == "cuda") {
    options.env.push_back(CudaVisibleDevicesEntry(gpus));
    if (gpus.empty()) {
      options.device = "cpu";
    }
  }
  return options;
}

void Agent::StartJob(const v1::Lease& lease) {
  {
    AwaitMutex::Lock lock(mu_);
    std::optional<std::vector<std::string>> gpus;
    if (!draining_ && static_cast<int>(slots_.size()) < options_.slots) {
      gpus = gpus_.Take(GpusFor(lease));
    }
    if (gpus.has_value()) {
      auto slot = std::make_unique<Slot>();
      slot->gpus = std::move(*gpus);
      slot->runner = std::make_unique<JobRunner>(lease, RunnerOptionsFor(slot->gpus), rpc_.get(),
                                                 [this] { return WorkerId(); });
      Slot* raw = slot.get();
      slots_.push_back(std::move(slot));
      ++stats_.jobs_started;
      raw->thread = std::thread([this, raw] { RunSlot(raw); });
      return;
    }
  }
  // Granted as the drain began, or more than asked for (slots or GPUs).
  ReleaseLease(lease);
}

// Runs the slot's job, then (chained) the jobs its completions were granted, in this slot.
void Agent::RunSlot(Slot* slot) {
  while (true) {
    const JobEnd end = slot->runner->Run();  // the job process has ended
    std::vector<v1::Lease> next = slot->runner->TakeNextLeases();
    std::unique_ptr<JobRunner> finished;  // destroyed outside the lock
    {
      AwaitMutex::Lock lock(mu_);
      gpus_.Give(std::exchange(slot->gpus, {}));
      if (end == JobEnd::kSucceeded) {
        ++stats_.jobs_succeeded;
      } else if (end == JobEnd::kReleased) {
        ++stats_.jobs_released;
      } else {
        ++stats_.jobs_other;
      }
      std::optional<std::vector<std::string>> gpus;
      if (!next.empty() && !draining_) {
        gpus = gpus_.Take(GpusFor(next.front()));
      }
      if (!gpus.has_value()) {
        slot->finished = true;
        ++finished_unreaped_;
      } else {
        slot->gpus = std::move(*gpus);
        finished = std::exchange(
            slot->runner,
            std::make_unique<JobRunner>(next.front(), RunnerOptionsFor(slot->gpus), rpc_.get(),
                                        [this] { return WorkerId(); }));
        ++stats_.jobs_started;
        ++stats_.jobs_chained;
        next.erase(next.begin());
      }
    }
    for (const v1::Lease& lease : next) {
      StartJob(lease);  // more than asked for: another slot, or released when there is none
    }
    if (finished == nullptr) {
      return;
    }
  }
}

void Agent::ReleaseLease(const v1::Lease& lease) {
  v1::CompleteJobRequest request;
  request.set_request_id(AttemptEndRequestId("release", lease));
  request.set_worker_id(WorkerId());
  request.set_job_id(lease.job_id());
  request.set_attempt(lease.attempt());
  request.set_outcome(v1::JOB_STATE_QUEUED);
  absl::Status s = rpc_->CompleteJob(request).status();
  LogInfo("job %s#%d: released unstarted (%s)", lease.job_id(), lease.attempt(), s.ToString());
}

void Agent::ReapFinished() {
  std::vector<std::unique_ptr<Slot>> done;
  {
    AwaitMutex::Lock lock(mu_);
    for (auto it = slots_.begin(); it != slots_.end();) {
      if ((*it)->finished) {
        done.push_back(std::move(*it));
        it = slots_.erase(it);
        --finished_unreaped_;
      } else {
        ++it;
      }
    }
  }
  for (auto& slot : done) {
    slot->thread.join();
  }
}

void Agent::DrainJobs() {
  {
    AwaitMutex::Lock lock(mu_);
    for (auto& slot : slots_) {
      slot->runner->Order(JobOrder::kDrain);
    }
  }
  while (true) {
    ReapFinished();
    AwaitMutex::Lock lock(mu_);
    if (slots_.empty()) {
      return;
    }
    auto wake = [this]() { return finished_unreaped_ > 0; };
    lock.AwaitFor(kSlotCheckPeriod, wake);
  }
}

// Sleeps for `delay` unless a drain starts first. Returns false when draining.
bool Agent::SleepUnlessDraining(std::chrono::milliseconds delay) {
  AwaitMutex::Lock lock(mu_);
  auto draining = [this]() { return draining_; };
  return !lock.AwaitFor(delay, draining);
}

}  // namespace sparsescale::agent
