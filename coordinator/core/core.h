// CoordinatorCore: the coordinator's state machine behind the gRPC services. One Boost.Asio
// thread (the state thread) owns the Scheduler, the idempotency ledger, lease long-polls,
// rendezvous and timers; the StoreWriter thread is SQLite's only writer (group commit); reads
// run on a small pool with their own SQLite connections, and law fits on a thread of their own.
//
// Every mutating operation has one shape: decide on the state thread, write, commit, then
// answer. A handler posts a `Decide` function to the state thread; it checks the request against
// the in-memory state, updates that state and returns a Plan (the store write that makes the
// decision durable, and what follows the commit); Commit() hands the write to the StoreWriter,
// and the caller is answered only after the COMMIT that holds it. Idempotent requests go through
// RunOnce(), which stores the answer in the same commit. So handlers are flat: no callback
// chains across threads.
//
// Interface. The core takes the sparsescale.v1 request messages by value: it owns its copy for
// the whole operation, and nothing is captured by reference across a thread hop. It fills the
// caller's response message and then calls `done` exactly once, on any thread. It speaks the v1
// messages rather than domain types because its answers are protocol messages in any case: the
// idempotency ledger stores and replays the serialised answer, and a lease carries the stored
// JobSpec message. Translating to domain types and back would add code, not safety. So the
// conversions the core needs (store rows and scheduler types <-> v1 messages, and the one
// meeting point of the three job-state definitions) live in core/proto_convert.h, and the api
// layer does only what belongs to gRPC: request validation, turning ReportPoints' points into
// store rows, and absl::Status -> grpc::Status. No gRPC header is included anywhere in core/.
//
// Time comes from the clocks in CoordinatorOptions (a FakeClock in tests); Asio timers (tick
// period, long-poll and rendezvous waits) run on real time.
//
// Thread-safety: every public method is thread-safe. A response passed in must stay alive until
// `done` runs; the core does not touch it afterwards.
#pragma once

#include <atomic>
#include <chrono>
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
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/metrics.h"
#include "coordinator/core/asio.h"
#include "coordinator/core/core_metrics.h"
#include "coordinator/core/job_rules.h"
#include "coordinator/core/request_ledger.h"
#include "coordinator/scheduler/clock.h"
#include "coordinator/scheduler/scheduler.h"
#include "coordinator/store/checkpointer.h"
#include "coordinator/store/reader_pool.h"
#include "coordinator/store/store_writer.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::coordinator {

// The bound on an attempt's stored log when ReportLogs does not name one, and the most it may
// name (ReportLogsRequest.keep_bytes).
inline constexpr int64_t kDefaultLogKeepBytes = int64_t{1} << 20;
inline constexpr int64_t kMaxLogKeepBytes = int64_t{64} << 20;
// Job.log_tail: at most this many of the last lines, and bytes, of a failed job's log.
inline constexpr int kLogTailLines = 20;
inline constexpr int64_t kLogTailBytes = 4096;

struct CoordinatorOptions {
  std::string db_path;
  scheduler::SchedulerOptions scheduler;
  store::StoreOptions store;
  int default_max_attempts = 3;
  int64_t heartbeat_period_ms = 1000;  // told to workers; cancel reaches a job within ~this
  std::chrono::milliseconds tick_period{100};  // lease / hang / grace checks
  int readers = 4;                             // read-only SQLite connections
  size_t remembered_requests = 100'000;
  // Operations per SQLite commit (group commit); 1 commits every request on its own.
  int writer_max_ops_per_commit = 4096;
  // Time sources; nullptr: the steady and the system clock. Tests pass a FakeClock for both.
  // They must outlive the core.
  const scheduler::Clock* clock = nullptr;
  const scheduler::WallClock* wall_clock = nullptr;
};

// A page of a listing: rows after position `after` (0: from the start), at most `size` of them.
struct Page {
  int64_t after = 0;
  int size = 100;
};

// A ReportPoints request with its points converted to store rows (by the api).
struct PointReport {
  std::string worker_id;
  std::string job_id;
  int attempt = 0;
  std::vector<v1::LossPoint> points;
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
  void RegisterWorker(v1::RegisterWorkerRequest request, v1::RegisterWorkerResponse* response,
                      Done done);
  void AcquireLease(v1::AcquireLeaseRequest request, v1::AcquireLeaseResponse* response,
                    std::function<bool()> cancelled, Done done);
  void Heartbeat(v1::HeartbeatRequest request, v1::HeartbeatResponse* response, Done done);
  void ReportPoints(PointReport report, v1::ReportPointsResponse* response, Done done);
  void CompleteJob(v1::CompleteJobRequest request, v1::CompleteJobResponse* response, Done done);
  // Asked, on the state thread, with the worker id holding the lease of a Rendezvous's attempt:
  // OK lets the call go on; an error is its answer (the worker-token binding, api/).
  using HolderCheck = std::function<absl::Status(const std::string& worker_id)>;
  // FailedPrecondition naming `attempt` when it is not the job's running attempt; then
  // `may_act_for` (empty: anyone) is asked before anything is kept.
  void Rendezvous(v1::RendezvousRequest request, v1::RendezvousResponse* response, Done done,
                  HolderCheck may_act_for = nullptr);
  // Stores a chunk of an attempt's log (core_logs.cc): fenced like ReportPoints, answered after
  // COMMIT, idempotent by offset.
  void ReportLogs(v1::ReportLogsRequest request, v1::ReportLogsResponse* response, Done done);
  // Checkpoint upload, driven by the upload stream: begin (fencing check, staged row), chunks,
  // then commit (fencing check again) or abort.
  void BeginUpload(std::string worker_id, v1::CheckpointInfo info,
                   std::function<void(absl::StatusOr<int64_t>)> done);
  void AppendUpload(int64_t upload_id, int chunk, std::string data, Done done);
  void CommitUpload(std::string worker_id, v1::CheckpointInfo info, int64_t upload_id, Done done);
  void AbortUpload(int64_t upload_id);

  // Client API (mutating; idempotent by request id).
  void CreateSweep(v1::CreateSweepRequest request, std::vector<PreparedJob> cells,
                   v1::CreateSweepResponse* response, Done done);
  void SubmitJob(v1::SubmitJobRequest request, PreparedJob job, v1::SubmitJobResponse* response,
                 Done done);
  void CancelJob(v1::CancelJobRequest request, v1::Job* response, Done done);
  void FitLaw(v1::FitLawRequest request, v1::FitLawResponse* response, Done done);
  // Lifecycle (core_lifecycle.cc; codes as documented on the RPCs in coordinator.proto).
  void RetryJob(v1::RetryJobRequest request, v1::Job* response, Done done);
  void SetJobPriority(v1::SetJobPriorityRequest request, v1::Job* response, Done done);
  void DeleteJob(v1::DeleteJobRequest request, v1::DeleteJobResponse* response, Done done);
  void CancelSweep(v1::CancelSweepRequest request, v1::CancelSweepResponse* response, Done done);
  void DeleteSweep(v1::DeleteSweepRequest request, v1::DeleteSweepResponse* response, Done done);

  // Client API (reads; run on the read pool).
  void GetSweep(std::string id, v1::Sweep* response, Done done);
  void ListSweeps(Page page, v1::ListSweepsResponse* response, Done done);
  void GetJob(std::string id, v1::Job* response, Done done);
  void ListJobs(store::JobFilter filter, Page page, v1::ListJobsResponse* response, Done done);
  void GetLossCurve(v1::GetLossCurveRequest request, v1::GetLossCurveResponse* response,
                    Done done);
  void ListCheckpoints(std::string job_id, v1::ListCheckpointsResponse* response, Done done);
  void GetClusterStatus(v1::GetClusterStatusResponse* response, Done done);
  void OptimalSparsity(v1::OptimalSparsityRequest request, v1::OptimalSparsityResponse* response,
                       Done done);

  // Runs `work` on the read pool with a borrowed read connection.
  void Read(std::function<absl::Status(store::Store&)> work, Done done);
  // Runs `apply` on the writer thread in the next group commit; `done` gets its status after
  // the COMMIT (on the writer thread: keep it short). For writes outside the job state machine
  // (tokens, the audit log), which need no decision on the state thread.
  void Write(store::StoreWriter::Apply apply, Done done);
  // The wall clock's time (CoordinatorOptions::wall_clock).
  int64_t now_unix_ms() const { return NowUnixMs(); }

  // Runs the periodic checks now (lease expiry, restart grace, hangs) and calls `done` once
  // their transitions, and every write decided before, are committed. The tick timer does the
  // same every tick_period; tests on a FakeClock call this after advancing it.
  void RunTick(Done done);

  void AddWatcher(const std::string& job_id, std::shared_ptr<JobWatcher> watcher);
  void RemoveWatcher(const std::string& job_id, JobWatcher* watcher);

  // The state version: grows on every committed change (ETag and change events of the
  // dashboard). Any thread; starts at 0 when the process starts.
  int64_t state_version() const { return writer_->committed_changes(); }
  // Wall-clock now (the options' clock), unix milliseconds. Any thread.
  int64_t wall_now_ms() const { return NowUnixMs(); }
  // Loss points committed per second over the last ten seconds. Any thread.
  double points_per_second() const { return points_rate_.PerSecond(); }
  // The instruments /metrics renders. Any thread.
  metrics::Registry& metrics_registry() { return metrics_registry_; }
  CoreMetrics& metrics() { return metrics_; }

  const CoordinatorOptions& options() const { return options_; }
  store::StoreWriterStats writer_stats() const { return writer_->stats(); }
  // The store's health now (disk free, file sizes, commit latency, failing writes). Any thread;
  // cheap enough for every status request and metrics scrape.
  store::StoreHealth store_health() const { return writer_->health(); }
  // AcquireLease polls parked now, waiting for a job. Any thread (tests wait on it).
  size_t parked_lease_polls() const { return parked_lease_polls_.load(); }

 private:
  // When the caller of a Plan is answered.
  enum class Answer {
    kAfterThen,  // after the commit and `then` (the default)
    kAtCommit,   // from the writer thread right after the COMMIT, before `then`: one thread hop
                 // less on the hot paths (leases, points, completions)
    kAtOnce,     // once decided, without waiting for the write (informational writes only)
  };
  // What a mutating request decided on the state thread.
  struct Plan {
    // Runs on the fit pool before the write: work too long for the state or writer thread (a
    // law fit). Empty: none.
    std::function<absl::Status()> compute = nullptr;
    // Runs on the writer thread inside one commit; may fill the response. Empty: nothing to
    // write.
    store::StoreWriter::Apply write = nullptr;
    // Runs on the state thread after the commit (or after `compute` failed) with its status.
    std::function<void(const absl::Status&)> then = nullptr;
    Answer answer = Answer::kAfterThen;
  };
  using Decide = std::function<absl::StatusOr<Plan>()>;
  // An idempotent request: its id, what makes a retry the same request, and its answer.
  struct Once {
    std::string request_id;
    std::string fingerprint;
    google::protobuf::Message* response = nullptr;
  };
  // Jobs to insert (a sweep's cells or one submitted job) and what the insert found.
  struct NewJobs {
    std::shared_ptr<const std::vector<PreparedJob>> jobs;
    std::string sweep_id;  // empty for a submitted job
    int priority = 0;
    int max_attempts = 3;
    int64_t now_unix_ms = 0;
    std::vector<bool> created;   // filled by the write
    std::vector<int64_t> seqs;   // filled by the write
  };
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
  using RendezvousKey = std::pair<std::string, int>;  // (job id, attempt)

  explicit CoordinatorCore(const CoordinatorOptions& options);
  absl::Status Load();
  absl::Status Restore(store::Store& store);
  absl::Status OpenReaders(std::unique_ptr<store::Store> store);
  void DrainWaiters();
  void Post(std::function<void()> fn);
  int64_t NowUnixMs() const;

  // The write-then-answer helper (core_ops.cc). Run: decides on the state thread, then
  // commits. RunOnce: the same once per request id (a retry gets the stored answer).
  void Run(Decide decide, Done done);
  void RunOnce(Once once, Decide decide, Done done);
  void DecideOnce(Once once, Decide decide, Done done);
  // `plan` with the request's answer stored in the same commit and remembered by the ledger.
  Plan Remembered(Once once, Plan plan);
  // Commits `plan` and answers `done` as it says. Any thread; state is touched only by `then`.
  void Commit(Plan plan, Done done);
  void ComputeThenCommit(Plan plan, Done done);

  // Scheduler transitions: the plan that stores them, then serves long-polls and watchers.
  static absl::Status ApplyTransitions(store::Store& store,
                                       const std::vector<scheduler::Transition>& transitions,
                                       int64_t now_unix_ms);
  Plan PersistPlan(std::vector<scheduler::Transition> transitions);
  void AfterTransitions(const std::vector<scheduler::Transition>& transitions);
  void Tick(Done done);
  void ScheduleTick();

  // Leases (core_leases.cc).
  bool TryServe(LeaseWaiter& waiter);
  void Park(LeaseWaiter waiter, std::chrono::milliseconds wait);
  void ExpireWaiter(uint64_t id);
  void ServeWaiters();
  // Stores `grants` and adds their leases to the answer; answers at the commit.
  Plan GrantPlan(std::vector<scheduler::Transition> grants,
                 google::protobuf::RepeatedPtrField<v1::Lease>* leases);
  std::vector<scheduler::Transition> NextLeases(const std::string& worker_id, int slots);
  // Stores `grants` (writer thread) and appends their leases to `leases`.
  absl::Status RecordGrants(store::Store& store, const std::vector<scheduler::Transition>& grants,
                            google::protobuf::RepeatedPtrField<v1::Lease>* leases,
                            int64_t now_unix_ms);

  // CommitUpload once a --checkpoint-dir payload's file is flushed: the fencing check, then the
  // commit on the writer.
  void CommitSyncedUpload(std::string worker_id, v1::CheckpointInfo info, int64_t upload_id,
                          Done done);

  // Rendezvous.
  void Publish(RendezvousSlot& slot, const std::string& unique_id);
  void AwaitUniqueId(const RendezvousKey& key, v1::RendezvousResponse* response, Done done,
                     std::chrono::milliseconds wait);
  void ExpireRendezvousWaiter(const RendezvousKey& key, const boost::asio::steady_timer* timer);
  void EndRendezvous(const std::string& job_id, int attempt);

  // New jobs (core_client.cc).
  std::shared_ptr<NewJobs> NewBatch(std::shared_ptr<const std::vector<PreparedJob>> jobs,
                                    int priority, int requested_max_attempts);
  static absl::Status InsertJobs(store::Store& store, NewJobs& batch);
  void AddJobs(const NewJobs& batch);
  // The `then` of a write that inserted `batch`: AddJobs once the insert committed.
  std::function<void(const absl::Status&)> AddJobsIfCommitted(std::shared_ptr<NewJobs> batch);

  // For a FAILED job, its last attempt's last log lines into job->log_tail (core_logs.cc).
  static absl::Status FillLogTail(store::Store& store, v1::Job* job);

  // Lifecycle helpers (state thread). FailedPrecondition naming the job's phase when the
  // scheduler holds it (queued or running), with `allowed` saying what would be accepted.
  absl::Status RefuseActive(const std::string& job_id, const std::string& allowed) const;
  // The job ids of a committed sweep; NotFound naming the id when there is none.
  absl::StatusOr<std::vector<std::string>> SweepJobsNow(const std::string& sweep_id);
  // Fills `sweep` with the stored sweep `id` and its job counts (NotFound naming the id).
  static absl::Status FillSweepOf(store::Store& store, const std::string& id, v1::Sweep* sweep);

  // FitLaw's computation (fit pool): reads the runs, fits, fills `response` and `*fit`.
  absl::Status ComputeFit(const v1::FitLawRequest& request, v1::FitLawResponse* response,
                          store::FitRow* fit);

  // Moves the lease and retry counters for transitions that were committed.
  void CountTransitions(const std::vector<scheduler::Transition>& transitions);

  void NotifyWatchers(const std::string& job_id);
  std::vector<std::shared_ptr<JobWatcher>> WatchersOf(const std::string& job_id);

  const CoordinatorOptions options_;
  metrics::Registry metrics_registry_;
  CoreMetrics metrics_{metrics_registry_};
  RateMeter points_rate_;
  int ticks_since_rate_sample_ = 0;  // state thread
  scheduler::SteadyClock steady_clock_;
  scheduler::SystemClock system_clock_;
  const scheduler::Clock* const clock_;
  const scheduler::WallClock* const wall_clock_;
  std::unique_ptr<store::StoreWriter> writer_;
  std::unique_ptr<store::ReaderPool> readers_;
  std::unique_ptr<store::Checkpointer> checkpointer_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  boost::asio::thread_pool read_pool_{2};
  boost::asio::thread_pool fit_pool_{1};
  std::thread io_thread_;

  // Owned by the state thread.
  std::unique_ptr<store::Store> ledger_reader_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<RequestLedger> ledger_;
  std::list<LeaseWaiter> waiters_;
  std::atomic<size_t> parked_lease_polls_{0};  // waiters_.size(), for readers on other threads
  uint64_t next_waiter_id_ = 0;
  std::map<RendezvousKey, RendezvousSlot> rendezvous_;
  std::unique_ptr<boost::asio::steady_timer> tick_timer_;
  bool shutting_down_ = false;

  std::mutex watch_mu_;
  std::unordered_multimap<std::string, std::shared_ptr<JobWatcher>> watchers_
      ABSL_GUARDED_BY(watch_mu_);
};

// A new random identifier with `prefix` (128 bits of randomness, hex).
std::string NewRandomId(const std::string& prefix);

}  // namespace sparsescale::coordinator
