// The worker daemon: registers with the coordinator, pulls leases (long-poll) while it has free
// slots (and takes the next one with each finished job's CompleteJob, chained in the same
// slot), runs each leased attempt with a JobRunner on its own thread, heartbeats every period
// with every attempt's progress and carries out the coordinator's orders (cancel, abandon,
// re-register after a coordinator restart). Drain() stops taking work, asks every job to
// checkpoint and release its lease, and lets Run() return once they have.
//
// Thread-safe: Run() blocks the calling thread; Drain() may be called from any other thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "common/await_mutex.h"
#include "common/version.h"
#include "sparsescale/v1/coordinator.pb.h"
#include "worker/agent/gpu_pool.h"
#include "worker/agent/job_runner.h"
#include "worker/agent/worker_rpc.h"

namespace sparsescale::agent {

struct AgentOptions {
  std::string name;                 // shown in cluster status
  int slots = 1;                    // jobs at once
  std::string device_kind = "cpu";  // "cpu" or "cuda"
  // A cuda worker's GPUs (CUDA_VISIBLE_DEVICES entries, gpu_devices.h): a job that takes W
  // GPUs gets W of them no other running job holds, as its CUDA_VISIBLE_DEVICES; a job that
  // takes none gets an empty CUDA_VISIBLE_DEVICES. Ignored on a cpu worker.
  std::vector<std::string> gpu_ids;
  int64_t memory_bytes = 0;
  std::string version = kVersion;  // the release (common/version.h)
  int protocol_version = 0;  // 0: this build's (common/version.h); tests pretend others
  std::chrono::milliseconds lease_wait{2000};                // AcquireLease long-poll
  std::chrono::milliseconds default_heartbeat_period{1000};  // until the coordinator says
  std::chrono::milliseconds retry_initial{100};
  std::chrono::milliseconds retry_max{2000};
  JobRunnerOptions runner;
  // The dataset cache (dataset_cache.h); its dir empty: runner.work_dir/datasets.
  DatasetCacheOptions datasets;
};

// Counters for logs and tests.
struct AgentStats {
  int jobs_started = 0;
  int jobs_succeeded = 0;
  int jobs_released = 0;
  int jobs_other = 0;    // failed, cancelled, abandoned, lease lost
  int jobs_chained = 0;  // of jobs_started: leased with the previous job's completion
  int registrations = 0;
};

class Agent {
 public:
  Agent(AgentOptions options, std::unique_ptr<WorkerRpc> rpc);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Works until drained. OK after a clean drain; an error only when registration is refused
  // for good (INVALID_ARGUMENT; FAILED_PRECONDITION from a coordinator of another protocol
  // version, at the first registration or a later one, which drains the worker first).
  absl::Status Run();

  // Starts the drain (idempotent).
  void Drain();

  AgentStats stats() const;

 private:
  struct Slot;

  absl::Status Register();
  absl::Status RegisterOnce(const std::string& request_id);
  void Reregister();
  void HeartbeatLoop();
  void SendHeartbeat();
  void LeaseLoop();
  bool WaitForFreeSlot(int* free_slots);
  void StartJob(const sparsescale::v1::Lease& lease);
  void RunSlot(Slot* slot);
  void ReleaseLease(const sparsescale::v1::Lease& lease);
  int GpusFor(const sparsescale::v1::Lease& lease) const;
  JobRunnerOptions RunnerOptionsFor(const std::vector<std::string>& gpus) const;
  void ReapFinished();
  void DrainJobs();
  bool SleepUnlessDraining(std::chrono::milliseconds delay);
  std::string WorkerId() const;

  const AgentOptions options_;
  JobRunnerOptions runner_options_;  // options_.runner plus the chained-lease callback
  const std::unique_ptr<WorkerRpc> rpc_;
  std::unique_ptr<DatasetCache> datasets_;
  GpuPool gpus_;
  mutable AwaitMutex mu_;  // guards the fields below
  std::string worker_id_;
  std::chrono::milliseconds heartbeat_period_;
  bool draining_ = false;
  bool stop_heartbeat_ = false;
  bool heartbeat_now_ = false;
  int finished_unreaped_ = 0;
  std::list<std::unique_ptr<Slot>> slots_;
  AgentStats stats_;
  absl::Status refused_;  // a later registration refused for good
  std::thread heartbeat_thread_;
};

// A random request id ("w-" + 24 hex digits).
std::string NewRequestId();

}  // namespace sparsescale::agent
