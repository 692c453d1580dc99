// Runs one leased job attempt on this worker: fetches the checkpoint to resume from, starts the
// job process (`sparsescale-worker run-job`), turns its JSON-lines events into ReportPoints /
// UploadCheckpoint calls, sends its log (stderr) in ReportLogs chunks, and ends the attempt
// with CompleteJob after the last log chunk is acknowledged. Points are dropped only once
// the coordinator acknowledged them, and every point up to a checkpoint's step is acknowledged
// before that checkpoint is uploaded, so a resume from it never leaves a gap in the curve.
//
// Run() blocks on the calling thread (one runner thread per job); Order() and Progress() are
// thread-safe and are called by the agent's heartbeat and lease threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "sparsescale/v1/coordinator.pb.h"
#include "worker/agent/dataset_cache.h"
#include "worker/agent/job_events.h"
#include "worker/agent/worker_rpc.h"

namespace sparsescale::agent {

struct JobRunnerOptions {
  std::string worker_exe;  // the sparsescale-worker binary, started in run-job mode
  std::string work_dir;    // attempts run in work_dir/jobs/<job_id>/a<attempt>
  std::string device = "auto";
  int threads = 0;  // CPU threads per job; 0 = the spec's
  // The coordinator's address, passed to every job process (`--coordinator ADDR --job-id ID
  // --attempt N`) so the ranks of a multi-rank job meet through its Rendezvous RPC; empty: not
  // passed (the job process then uses a rendezvous file).
  std::string coordinator;
  // The IPv4 address the job's ranks publish for the TCP ring (`--advertise-address`,
  // advertise_address.h); empty: not passed (127.0.0.1).
  std::string advertise_address;
  // "NAME=value" entries for the job process's environment: the agent sets
  // CUDA_VISIBLE_DEVICES to the GPUs it gave the job (gpu_pool.h).
  std::vector<std::string> env;
  // The job process's log (its stderr, job.log) is sent to the coordinator (ReportLogs): at most
  // this many of each attempt's latest bytes are kept, here while unsent and there once stored.
  int64_t log_max_bytes = int64_t{1} << 20;
  size_t log_chunk_bytes = 256 << 10;  // per ReportLogs call
  size_t points_batch_max = 256;
  std::chrono::milliseconds points_max_delay{500};
  std::chrono::milliseconds retry_initial{100};
  std::chrono::milliseconds retry_max{2000};
  // How long the end of an attempt keeps retrying a coordinator that cannot be reached;
  // shorter when the worker is draining.
  std::chrono::milliseconds finish_budget{600000};
  std::chrono::milliseconds drain_budget{30000};
  std::chrono::milliseconds poll_interval{100};  // how often orders are checked
  bool keep_files = false;  // keep checkpoints on disk after the attempt (debugging)
  // Where a job naming data.dataset gets its files (held for the attempt; dataset_cache.h).
  // nullptr: such jobs fail their set-up.
  DatasetCache* datasets = nullptr;
  // Called as a finished attempt (not a released one) reports its end: how many new leases to
  // ask for in the same CompleteJob call (CompleteJobRequest.next_free_slots; 0 or unset: none).
  std::function<int()> next_free_slots;
};

// What the agent tells a running attempt.
enum class JobOrder {
  kNone = 0,
  kDrain,    // stop with a checkpoint, upload it, release the lease (worker shutting down)
  kCancel,   // the user cancelled the job: kill it, report CANCELLED
  kAbandon,  // the lease is no longer ours: kill it, report nothing
};

// How an attempt ended, from this worker's side.
enum class JobEnd {
  kSucceeded,
  kFailed,     // reported FAILED (the job's own error or an infrastructure failure)
  kCancelled,  // reported CANCELLED
  kReleased,   // drained: checkpoint uploaded and the lease released (outcome QUEUED)
  kAbandoned,  // killed on the coordinator's order; nothing reported
  kLeaseLost,  // the coordinator rejected this attempt, or could not be reached in time
};

const char* JobEndName(JobEnd end);

// The request id of the CompleteJob call that ends (`kind` "complete") or gives back ("release")
// the lease's attempt. Every member worker of a multi-node gang ends its own share of one
// attempt, so a member whose ranks start after 0 gets its own id ("...-r<first rank>"); rank 0's
// is the id of a one-worker job.
std::string AttemptEndRequestId(const char* kind, const sparsescale::v1::Lease& lease);

class JobRunner {
 public:
  // `worker_id` returns the current worker id (it changes when the worker re-registers).
  JobRunner(sparsescale::v1::Lease lease, JobRunnerOptions options, WorkerRpc* rpc,
            std::function<std::string()> worker_id);

  // Runs the attempt to its end.
  JobEnd Run();

  // Stronger orders replace weaker ones (abandon > cancel > drain).
  void Order(JobOrder order);

  // The latest step and tokens, for heartbeats.
  sparsescale::v1::LeaseProgress Progress() const;

  // Leases the coordinator granted with this attempt's completion (next_free_slots), once;
  // the caller must start or release them.
  std::vector<sparsescale::v1::Lease> TakeNextLeases();

  const std::string& job_id() const { return lease_.job_id(); }
  int attempt() const { return lease_.attempt(); }

 private:
  struct PendingCheckpoint;
  class Session;

  sparsescale::v1::Lease lease_;
  JobRunnerOptions options_;
  WorkerRpc* rpc_;
  std::function<std::string()> worker_id_;
  std::atomic<int> order_{static_cast<int>(JobOrder::kNone)};
  mutable std::mutex mu_;  // guards the fields below
  int64_t step_ = 0;
  int64_t tokens_ = 0;
  std::vector<sparsescale::v1::Lease> next_leases_;
};

}  // namespace sparsescale::agent
