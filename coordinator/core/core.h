// CoordinatorCore: the coordinator's state machine behind the gRPC services. One Boost.Asio
// thread owns the Scheduler, the idempotency ledger, lease long-polls, rendezvous and timers;
// the StoreWriter thread commits (group commit) and only then are answers released; reads run
// on a small pool with their own SQLite connections. Services call the asynchronous methods
// below with a response pointer and a `done` callback, which runs exactly once, on any thread,
// after the response is filled (and, for anything acknowledged as stored, after COMMIT).
//
// Thread-safety: every public method is thread-safe. Request and response objects passed in
// must stay alive until `done` runs.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/core/asio.h"
#include "coordinator/core/job_rules.h"
#include "coordinator/core/request_ledger.h"
#include "coordinator/scheduler/clock.h"
#include "coordinator/scheduler/scheduler.h"
#include "coordinator/store/checkpointer.h"
#include "coordinator/store/reader_pool.h"
#include "coordinator/store/store_writer.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::coordinator {

struct CoordinatorOptions {
  std::string db_path;
  scheduler::SchedulerOptions scheduler;
  store::StoreOptions store;
  int default_max_attempts = 3;
  int64_t heartbeat_period_ms = 1000;  // told to workers; cancel reaches a job within ~this
  int64_t tick_period_ms = 100;        // lease / hang / grace checks
  int readers = 4;                     // read-only SQLite connections
  size_t remembered_requests = 100'000;
  // Operations per SQLite commit (group commit); 1 commits every request on its own.
  int writer_max_ops_per_commit = 4096;
};

// A page of a listing: rows after position `after` (0: from the start), at most `size` of them.
struct Page {
  int64_t after = 0;
  int size = 100;
};

// Something following a job (WatchJob): told, from any thread and without core locks held,
// that the job may have changed. Implementations must not block.
class JobWatcher {
 public:
  virtual ~JobWatcher() = default;
  virtual void OnJobChanged() = 0;
  virtual void OnShutdown() = 0;
};

class CoordinatorCore {
 public:
  using Done = std::function<void(absl::Status)>;

  // Opens (migrating) the database, reloads queued and running jobs and known workers, and
  // starts the threads. Running attempts get options.scheduler.restart_grace_ms to re-attach.
  static absl::StatusOr<std::unique_ptr<CoordinatorCore>> Start(const CoordinatorOptions& options);
  ~CoordinatorCore();

  // Answers pending long-polls and watches so the gRPC server can shut down promptly.
  void BeginShutdown();

  // Worker protocol.
  void RegisterWorker(const v1::RegisterWorkerRequest& request,
                      v1::RegisterWorkerResponse* response, Done done);
  void AcquireLease(const v1::AcquireLeaseRequest& request, v1::AcquireLeaseResponse* response,
                    std::function<bool()> cancelled, Done done);
  void Heartbeat(const v1::HeartbeatRequest& request, v1::HeartbeatResponse* response, Done done);
  void ReportPoints(const v1::ReportPointsRequest& request, std::vector<store::PointRow> points,
                    v1::ReportPointsResponse* response, Done done);
  void CompleteJob(const v1::CompleteJobRequest& request, v1::CompleteJobResponse* response,
                   Done done);
  void Rendezvous(const v1::RendezvousRequest& request, v1::RendezvousResponse* response,
                  Done done);
  // Checkpoint upload, driven by the upload stream: begin (fencing check, staged row), chunks,
  // then commit (fencing check again) or abort.
  void BeginUpload(const std::string& worker_id, const v1::CheckpointInfo& info,
                   std::function<void(absl::StatusOr<int64_t>)> done);
  void AppendUpload(int64_t upload_id, int chunk, std::string data, Done done);
  void CommitUpload(const std::string& worker_id, const v1::CheckpointInfo& info, int64_t upload_id,
                    Done done);
  void AbortUpload(int64_t upload_id);

  // Client API (mutating; idempotent by request id).
  void CreateSweep(const v1::CreateSweepRequest& request, std::vector<PreparedJob> cells,
                   v1::CreateSweepResponse* response, Done done);
  void SubmitJob(const v1::SubmitJobRequest& request, PreparedJob job,
                 v1::SubmitJobResponse* response, Done done);
  void CancelJob(const v1::CancelJobRequest& request, v1::Job* response, Done done);
  void FitLaw(const v1::FitLawRequest& request, v1::FitLawResponse* response, Done done);

  // Client API (reads; run on the read pool).
  void GetSweep(const std::string& id, v1::Sweep* response, Done done);
  void ListSweeps(Page page, v1::ListSweepsResponse* response, Done done);
  void GetJob(const std::string& id, v1::Job* response, Done done);
  void ListJobs(store::JobFilter filter, Page page, v1::ListJobsResponse* response, Done done);
  void GetLossCurve(const v1::GetLossCurveRequest& request, v1::GetLossCurveResponse* response,
                    Done done);
  void ListCheckpoints(const std::string& job_id, v1::ListCheckpointsResponse* response, Done done);
  void GetClusterStatus(v1::GetClusterStatusResponse* response, Done done);
  void OptimalSparsity(const v1::OptimalSparsityRequest& request,
                       v1::OptimalSparsityResponse* response, Done done);

  // Runs `work` on the read pool with a borrowed read connection.
  void Read(std::function<absl::Status(store::Store&)> work, Done done);

  void AddWatcher(const std::string& job_id, std::shared_ptr<JobWatcher> watcher);
  void RemoveWatcher(const std::string& job_id, JobWatcher* watcher);

  const CoordinatorOptions& options() const { return options_; }
  store::StoreWriterStats writer_stats() const { return writer_->stats(); }

 private:
  struct LeaseWaiter {
    uint64_t id = 0;
    std::string worker_id;
    int free_slots = 0;
    v1::AcquireLeaseResponse* response = nullptr;
    std::function<bool()> cancelled;
    Done done;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  struct RendezvousWaiter {
    v1::RendezvousResponse* response = nullptr;
    Done done;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  struct RendezvousSlot {
    std::string unique_id;
    std::list<RendezvousWaiter> waiters;
  };
  using Finish = std::function<void(absl::StatusOr<std::string>)>;

  explicit CoordinatorCore(const CoordinatorOptions& options);
  absl::Status Load();
  void ScheduleTick();
  void Post(std::function<void()> fn);
  // Submits a write; `then` runs on the Asio thread after the commit.
  void Write(store::StoreWriter::Apply apply, Done then);
  // Runs a mutating request once per request id (Asio thread).
  void RunOnce(const std::string& request_id, const std::string& fingerprint,
               google::protobuf::Message* response, Done done, std::function<void(Finish)> execute);
  // Persists scheduler transitions; then serves long-polls and notifies watchers.
  void Persist(std::vector<scheduler::Transition> transitions, Done done);
  absl::Status ApplyTransition(store::Store& store, const scheduler::Transition& t,
                               int64_t now_unix_ms);
  void AfterTransitions(const std::vector<scheduler::Transition>& transitions);
  void TryServe(LeaseWaiter& waiter, bool* served);
  void ServeWaiters();
  void GrantLeases(std::vector<scheduler::Transition> grants, v1::AcquireLeaseResponse* response,
                   Done done);
  // Stores `grants` (writer thread) and appends their leases to `leases`.
  absl::Status RecordGrants(store::Store& store, const std::vector<scheduler::Transition>& grants,
                            google::protobuf::RepeatedPtrField<v1::Lease>* leases,
                            int64_t now_unix_ms);
  void AddJobs(const std::vector<PreparedJob>& jobs, const std::vector<bool>& created, int priority,
               int max_attempts, const std::vector<int64_t>& seqs);
  void NotifyWatchers(const std::string& job_id);
  std::vector<std::shared_ptr<JobWatcher>> WatchersOf(const std::string& job_id);
  void EndRendezvous(const std::string& job_id, int attempt);
  int64_t NowUnixMs() const;

  const CoordinatorOptions options_;
  scheduler::SteadyClock clock_;
  std::unique_ptr<store::StoreWriter> writer_;
  std::unique_ptr<store::ReaderPool> readers_;
  std::unique_ptr<store::Checkpointer> checkpointer_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  boost::asio::thread_pool read_pool_{2};
  boost::asio::thread_pool fit_pool_{1};
  std::thread io_thread_;

  // Owned by the Asio thread.
  std::unique_ptr<store::Store> ledger_reader_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<RequestLedger> ledger_;
  std::list<LeaseWaiter> waiters_;
  uint64_t next_waiter_id_ = 0;
  std::map<std::pair<std::string, int>, RendezvousSlot> rendezvous_;
  std::unique_ptr<boost::asio::steady_timer> tick_timer_;
  bool shutting_down_ = false;

  std::mutex watch_mu_;
  std::unordered_multimap<std::string, std::shared_ptr<JobWatcher>> watchers_
      ABSL_GUARDED_BY(watch_mu_);
};

// A new random identifier with `prefix` (128 bits of randomness, hex).
std::string NewRandomId(const std::string& prefix);

}  // namespace sparsescale::coordinator
