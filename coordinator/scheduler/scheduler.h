// The job scheduler: queue (priority, then FIFO), placement on workers that fit, leases with a
// TTL and an attempt number as fencing token, hang detection, bounded and classified retries,
// cancellation, and the restart grace for re-attaching running attempts. Pure logic: no I/O,
// no gRPC or SQLite; time comes from a Clock. Every decision is returned as a Transition that
// the owner persists before acknowledging anything that depends on it.
//
// Placement rules: a job goes only to a worker with enough free slots (one per job, or one per
// rank for a data-parallel job whose ranks run on CPU), the right device (see Requirements)
// and enough free memory; a multi-GPU job is a gang that takes all its GPUs on one worker or
// waits (multi-node gangs are not supported), and so is a multi-process CPU job. Jobs that do
// not fit are skipped (backfill); the scan is bounded by SchedulerOptions::max_scan. A job no
// registered worker could ever hold (more ranks than any worker's slots or GPUs) stays queued
// and is named by Unplaceable().
//
// Thread-safety: not thread-safe; one thread (the coordinator's Asio thread) owns it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/scheduler/clock.h"
#include "coordinator/scheduler/types.h"

namespace sparsescale::scheduler {

struct SchedulerOptions {
  int64_t lease_ttl_ms = 30'000;       // a lease not renewed (heartbeat) for this long expires
  int64_t hang_timeout_ms = 600'000;   // no step progress for this long: requeue; 0 = off
  int64_t restart_grace_ms = 60'000;   // after a restart, running attempts may re-attach
  int job_failure_retries = 0;         // JOB failures retried this many times (then final)
  int64_t worker_forget_ms = 600'000;  // idle, silent workers are forgotten after this
  int max_scan = 4096;                 // queue entries examined per placement
};

class Scheduler {
 public:
  Scheduler(const SchedulerOptions& options, const Clock* clock);

  // Jobs and workers. AddQueuedJob / RestoreRunningJob ignore ids already present.
  void AddQueuedJob(const JobInit& job);
  // A job the store says is RUNNING at start-up: it keeps its lease until the restart grace
  // ends, unless its worker re-attaches it by heartbeat.
  void RestoreRunningJob(const JobInit& job, const std::string& worker_id);
  void RegisterWorker(const std::string& worker_id, const WorkerResources& resources);
  // A worker known from the store: a heartbeat from it is accepted (no re-registration).
  void RestoreWorker(const std::string& worker_id, const WorkerResources& resources);

  // Leases for up to `max_leases` jobs (0 = as many as the worker's free slots allow).
  // NotFound for an unknown worker; empty while draining or when nothing fits.
  absl::StatusOr<std::vector<Transition>> Acquire(const std::string& worker_id, int max_leases);

  // Renews the listed current leases, records progress, and returns orders: CANCEL for jobs
  // being cancelled, ABANDON for leases that are no longer this worker's.
  HeartbeatResult Heartbeat(const std::string& worker_id, const std::vector<LeaseProgress>& leases,
                            bool draining);

  // The fencing check: FailedPrecondition unless `attempt` is the job's current running attempt
  // and `worker_id` holds it. A passing check also renews the lease.
  absl::StatusOr<LeaseView> ValidateLease(const std::string& job_id, int attempt,
                                          const std::string& worker_id);
  // True when `attempt` is the job's current running attempt (no worker check, no renewal).
  bool IsCurrentAttempt(const std::string& job_id, int attempt) const;
  // The worker holding `attempt` of the job when it is the current running attempt, else "".
  std::string HolderOf(const std::string& job_id, int attempt) const;
  void NoteProgress(const std::string& job_id, int64_t step);
  void NoteCheckpoint(const std::string& job_id, int64_t step);

  // Ends the attempt as the worker reports (after ValidateLease's checks).
  absl::StatusOr<Transition> Complete(const std::string& job_id, int attempt,
                                      const std::string& worker_id, Outcome outcome,
                                      Failure failure, const std::string& reason);

  // Cancels a queued job at once, or asks the running attempt to stop (nullopt when already
  // asked). NotFound when the scheduler does not hold the job (final or unknown).
  absl::StatusOr<std::optional<Transition>> Cancel(const std::string& job_id);

  // Moves a queued job to `priority`: it takes its place among the jobs of that priority by its
  // seq, as if it had been queued with it. NotFound when the scheduler does not hold the job
  // (final or unknown); FailedPrecondition naming the state when it is running.
  absl::Status SetPriority(const std::string& job_id, int priority);

  // Expires leases, restart-grace attempts and hung jobs; forgets long-silent idle workers.
  std::vector<Transition> Tick();

  // Views.
  bool HasJob(const std::string& job_id) const { return jobs_.count(job_id) > 0; }
  bool HasWorker(const std::string& worker_id) const { return workers_.count(worker_id) > 0; }
  // The phase of a job the scheduler holds (queued or running); nullopt when it holds none.
  std::optional<JobPhase> PhaseOf(const std::string& job_id) const;
  // Queued job ids in placement order (at most `limit`); for status and tests.
  std::vector<std::string> QueueOrder(size_t limit) const;
  size_t queued() const { return queue_.size(); }
  size_t running() const { return running_.size(); }
  std::vector<WorkerView> Workers() const;
  // Why a queued job cannot run on any registered worker even when all are idle ("needs 4
  // slots for its 4 CPU ranks; the largest worker has 2"), or empty when some worker could
  // hold it (or the job is not queued). For status reporting; O(workers).
  std::string Unplaceable(const std::string& job_id) const;

 private:
  struct Job {
    JobInit init;
    JobPhase phase = JobPhase::kQueued;
    std::string worker_id;
    int gpus_held = 0;
    int slots_held = 0;
    int64_t memory_held = 0;
    int64_t lease_expiry_ms = 0;
    int64_t last_progress_ms = 0;
    int64_t step = 0;
    int64_t resume_step = 0;
    bool awaiting_reattach = false;
  };
  struct Worker {
    std::string id;
    WorkerResources resources;
    std::set<std::string> running;
    int gpus_used = 0;
    int slots_used = 0;
    int64_t memory_used = 0;
    int64_t last_heartbeat_ms = 0;
    bool draining = false;
  };
  using QueueKey = std::pair<int64_t, int64_t>;  // (-priority, seq)

  static QueueKey KeyOf(const JobInit& job) { return {-int64_t{job.priority}, job.seq}; }
  // The GPUs and slots `job` takes on `worker` (whether or not they are free now).
  struct Share {
    int gpus = 0;
    int slots = 1;
  };
  static Share ShareOn(const WorkerResources& worker, const Requirements& need);
  // Whether `job` fits the worker's free resources now; *share is what it would take.
  bool Fits(const Worker& worker, const Job& job, Share* share) const;
  Transition Grant(Worker& worker, Job& job, Share share);
  Transition EndAttempt(Job& job, JobPhase state, JobPhase outcome, Failure failure,
                        const std::string& reason);
  Transition Fail(Job& job, Failure failure, const std::string& reason);
  Transition EndBy(Job& job, Outcome outcome, Failure failure, const std::string& reason);
  // Forgets the job of `t` if its attempt left it final; returns `t`. Every path that ends an
  // attempt goes through here last, so no reference to a forgotten job is ever used.
  Transition Retire(Transition t);
  void ReleaseFromWorker(Job& job);
  void ForgetSilentWorkers();

  const SchedulerOptions options_;
  const Clock* clock_;
  std::unordered_map<std::string, Job> jobs_;  // every non-final job
  std::map<QueueKey, std::string> queue_;      // queued job ids in placement order
  std::unordered_set<std::string> running_;
  std::unordered_map<std::string, Worker> workers_;
};

}  // namespace sparsescale::scheduler
