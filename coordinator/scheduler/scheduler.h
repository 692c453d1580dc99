// The job scheduler: queue (priority, then FIFO), placement on workers that fit, leases with a
// TTL and an attempt number as fencing token, hang detection, bounded and classified retries,
// cancellation, and the restart grace for re-attaching running attempts. Pure logic: no I/O,
// no gRPC or SQLite; time comes from a Clock. Every decision is returned as a Transition that
// the owner persists before acknowledging anything that depends on it.
//
// Placement rules: a job goes only to a worker with enough free slots (one per job, or one per
// rank for a data-parallel job whose ranks run on CPU), the right device (see Requirements)
// and enough free memory; a multi-GPU job takes all its GPUs on one worker, and so does a
// multi-process CPU job, when one worker has room for all its ranks.
//
// Multi-node gangs. A job of several ranks that no single live worker has room for now is
// placed all-or-nothing across live workers of one kind (all cuda for ranks on GPUs, all
// taking slots for CPU ranks): the asking worker first, then the others by most free room,
// each member taking a contiguous range of ranks (rank 0 on the first). One attempt covers all
// members; the rank-0 member is the job's worker (its lease is the stored one; only it reports
// points and checkpoints); the other members' leases wait for their workers' next Acquire
// (kMemberLease). Every member's lease has its own TTL, renewed by its worker's heartbeats; a
// member that fails, releases, or whose lease expires (or was never taken) ends the attempt on
// all members, counted once: the other members get ABANDON at their next heartbeat. A member
// other than rank 0's that ends SUCCEEDED/CANCELLED only gives back its share.
//
// Reservation. The first queued multi-rank job (in placement order) that cannot be placed now,
// but could be on the live workers once they are idle, holds the room that is free now on the
// workers it would use (up to its rank count); jobs behind it in the queue may not take held
// room, so as running jobs end its room only grows and it is not starved by a stream of small
// jobs. Jobs ahead of it (higher priority) are unaffected. The scan is bounded by
// SchedulerOptions::max_scan. A job no registered workers could ever hold (more ranks than all
// of them together) stays queued and is named by Unplaceable().
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
  // The workers holding `attempt` of the job (rank 0's first; more than one for a multi-node
  // gang) when it is the current running attempt, else empty.
  std::vector<std::string> HoldersOf(const std::string& job_id, int attempt) const;
  // The job reserved against starvation (see above), or "" when none; for status and tests.
  std::string ReservedJob();
  // Whether some member lease of a running gang waits for its worker's next Acquire.
  bool HasUndeliveredLeases() const;
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
  // A member of a multi-node gang other than the rank-0 one (whose share is Job's own fields).
  struct Member {
    std::string worker_id;
    int first_rank = 0;
    int rank_count = 0;
    int gpus_held = 0;
    int slots_held = 0;
    int64_t memory_held = 0;
    int64_t lease_expiry_ms = 0;
    bool delivered = false;
    bool done = false;  // ended SUCCEEDED/CANCELLED; its share is given back
  };
  struct Job {
    JobInit init;
    JobPhase phase = JobPhase::kQueued;
    std::string worker_id;  // rank 0's
    int lead_ranks = 0;     // ranks on worker_id (0: all, a job on one worker)
    bool lead_delivered = true;
    std::vector<Member> members;  // the other members of a multi-node gang
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
  // Every change of queue_ goes through these, which keep multi_queue_ in step.
  void Enqueue(const Job& job);
  void Dequeue(const Job& job);
  // The GPUs and slots `job` takes on `worker` (whether or not they are free now).
  struct Share {
    int gpus = 0;
    int slots = 1;
  };
  static Share ShareOn(const WorkerResources& worker, const Requirements& need);
  // The share of `ranks` ranks of `need` on `worker` as one gang member.
  static Share MemberShare(const WorkerResources& worker, const Requirements& need, int ranks);
  // Whether `job` fits the worker's free resources now, less what is held for the reserved
  // job when `job` is behind it; *share is what it would take.
  bool Fits(const Worker& worker, const Job& job, Share* share) const;
  // How many of `job`'s ranks `worker` could run as a gang member now (`idle`: if it were idle),
  // on its `kind` ("cuda": one GPU per rank; "cpu": one slot per rank), less held room.
  int RoomFor(const Worker& worker, const Job& job, const std::string& kind, bool idle) const;
  // Whether room held for the reserved job applies to `job` (it is queued behind it).
  bool BehindReserved(const Job& job) const;
  Transition Grant(Worker& worker, Job& job, Share share);
  // Places `job` across live workers, `asking` first; empty when the gang does not fit now.
  std::vector<Transition> PlaceGang(Worker& asking, Job& job);
  // Live (heard from within the lease TTL) non-draining workers, most recently heard first.
  std::vector<Worker*> LiveWorkers();
  // Recomputes reserved_ and held_ (see "Reservation" above).
  void Reserve();
  // The member leases of running gangs that wait for `worker`.
  std::vector<Transition> TakeUndelivered(const std::string& worker_id);
  // Ends a running gang attempt whose non-rank-0 member on `worker_id` reported `outcome`.
  Transition EndMember(Job& job, const std::string& worker_id, Outcome outcome, Failure failure,
                       const std::string& reason);
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
  std::map<QueueKey, std::string> multi_queue_;  // the queued jobs of more than one rank
  std::set<std::string> gangs_;  // running jobs with members on several workers
  std::string reserved_;        // see "Reservation"; "" when none
  std::unordered_map<std::string, Share> held_;  // worker id -> room held for reserved_
};

}  // namespace sparsescale::scheduler
