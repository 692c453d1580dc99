// Plain types of the scheduler's interface: what jobs need, what workers offer, and the state
// transitions the scheduler decides (which its owner persists before answering anyone).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sparsescale::scheduler {

// Numerically equal to store::JobState and sparsescale.v1.JobState.
enum class JobPhase : int {
  kQueued = 1,
  kRunning = 2,
  kSucceeded = 3,
  kFailed = 4,
  kCancelled = 5
};
// Numerically equal to store::FailureClass and sparsescale.v1.FailureClass.
enum class Failure : int { kNone = 0, kInfra = 1, kJob = 2 };
// How a worker ends an attempt (CompleteJob).
enum class Outcome { kSucceeded, kFailed, kCancelled, kReleased };
enum class OrderKind { kCancel, kAbandon };

// What a job needs from a worker. device "cuda" needs a cuda worker; "cpu" runs on any
// worker without taking GPUs; "auto" runs on any worker and takes `gpus` GPUs on a cuda one.
// A job of several data-parallel ranks runs them on one worker when one has room: ranks on GPUs
// take one GPU each (and one slot for the job); ranks without a GPU take one slot each, since
// each is a process with its own threads, so a 4-rank CPU job needs a worker with 4 free slots.
// When no single worker has room it is a multi-node gang: placed all-or-nothing across
// workers of one kind, each member worker taking a contiguous range of ranks (scheduler.h).
struct Requirements {
  std::string device = "auto";
  int gpus = 1;              // GPUs when placed on a cuda worker (a gang: all on one worker)
  int64_t memory_bytes = 0;  // estimated; 0 = unknown (fits anywhere)
  int ranks = 1;             // data-parallel processes (spec::DataParallelRanks)
};

struct WorkerResources {
  std::string device_kind = "cpu";  // "cpu" or "cuda"
  int gpus = 0;
  int64_t memory_bytes = 0;  // 0 = not reported (no memory check)
  int slots = 1;             // jobs at once
};

// A job as the scheduler learns it (new, or reloaded from the store after a restart).
struct JobInit {
  std::string id;
  int64_t seq = 0;  // FIFO position within a priority
  int priority = 0;
  Requirements requirements;
  int max_attempts = 3;
  int attempt = 0;  // last attempt granted (fencing token)
  int infra_failures = 0;
  int job_failures = 0;
  int64_t checkpoint_step = 0;
  bool cancel_requested = false;
};

struct Transition {
  // kGranted: an attempt starts (persisted). kMemberLease: a lease for one member of a
  // multi-node gang whose attempt was granted earlier (not persisted: the attempt row exists).
  // kMemberEnded: a member other than rank 0's finished its ranks (not persisted).
  enum class Kind { kGranted, kAttemptEnded, kCancelRequested, kMemberLease, kMemberEnded };
  Kind kind = Kind::kGranted;
  std::string job_id;
  int attempt = 0;  // 0 for a job cancelled while queued (no attempt ended)
  std::string worker_id;
  // kGranted: the checkpoint step the attempt resumes from. kAttemptEnded: the checkpoint step
  // kept; on a requeue, points after it are superseded.
  int64_t step = 0;
  JobPhase state = JobPhase::kQueued;    // kAttemptEnded: the job's state afterwards
  JobPhase outcome = JobPhase::kQueued;  // kAttemptEnded: the attempt's own outcome
  Failure failure = Failure::kNone;
  std::string reason;
  int infra_failures = 0;
  int job_failures = 0;
  // kGranted / kMemberLease: the ranks the lease runs. world_size is the job's rank count;
  // first_rank and rank_count the worker's contiguous share (0 and world_size on one worker).
  int first_rank = 0;
  int rank_count = 1;
  int world_size = 1;
  // kGranted: whether `worker_id` (the rank-0 member) gets its lease with this transition; false
  // when another worker's request placed the gang, so the lease waits for its next Acquire.
  bool deliver = true;
};

struct Order {
  std::string job_id;
  int attempt = 0;
  OrderKind kind = OrderKind::kCancel;
};

struct LeaseProgress {
  std::string job_id;
  int attempt = 0;
  int64_t step = 0;
};

struct HeartbeatResult {
  bool known = true;  // false: the worker must register again
  std::vector<Order> orders;
};

// A lease that passed the fencing check.
struct LeaseView {
  int attempt = 0;
  int64_t resume_step = 0;
  int64_t checkpoint_step = 0;
};

struct WorkerView {
  std::string id;
  WorkerResources resources;
  bool alive = false;
  bool draining = false;
  std::vector<std::string> running_job_ids;
  int64_t last_heartbeat_ms = 0;
};

}  // namespace sparsescale::scheduler
