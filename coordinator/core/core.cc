// CoordinatorCore: start-up (reload from the store), the state thread, shutdown, the tick and
// watchers.
#include "coordinator/core/core.h"

#include <future>
#include <random>
#include <set>

#include "absl/strings/str_format.h"
#include "common/log.h"
#include "common/status.h"
#include "coordinator/core/proto_convert.h"

namespace sparsescale::coordinator {

std::string NewRandomId(const std::string& prefix) {
  thread_local std::mt19937_64 rng(
      std::random_device{}() ^
      static_cast<uint64_t>(std::hash<std::thread::id>()(std::this_thread::get_id())));
  return absl::StrFormat("%s%016x%016x", prefix, rng(), rng());
}

CoordinatorCore::CoordinatorCore(const CoordinatorOptions& options)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : &steady_clock_),
      wall_clock_(options.wall_clock != nullptr ? options.wall_clock : &system_clock_) {}

absl::StatusOr<std::unique_ptr<CoordinatorCore>> CoordinatorCore::Start(
    const CoordinatorOptions& options) {
  std::unique_ptr<CoordinatorCore> core(new CoordinatorCore(options));
  RETURN_IF_ERROR(core->Load());
  core->work_.emplace(core->io_.get_executor());
  core->tick_timer_ = std::make_unique<boost::asio::steady_timer>(core->io_);
  core->io_thread_ = std::thread([c = core.get()] { c->io_.run(); });
  core->Post([c = core.get()] { c->ScheduleTick(); });
  return core;
}

absl::Status CoordinatorCore::Load() {
  // The writer never checkpoints by itself; the Checkpointer thread does (store/checkpointer.h).
  store::StoreOptions writer_options = options_.store;
  writer_options.db.wal_autocheckpoint_pages = 0;
  ASSIGN_OR_RETURN(std::unique_ptr<store::Store> store,
                   store::Store::Open(options_.db_path, writer_options));
  // An upload interrupted by a crash never became a checkpoint; drop its staged rows.
  RETURN_IF_ERROR(store->DeleteIncompleteCheckpoints());
  // Files of a crash between a commit that dropped their last row and their removal, and the
  // temporary files of interrupted uploads.
  ASSIGN_OR_RETURN(const int64_t orphans, store->RemoveOrphanCheckpointFiles());
  if (store->checkpoint_blobs().has_value()) {
    LogInfo("checkpoint dir %s: removed %d orphaned file(s)",
            store->checkpoint_blobs()->dir(), orphans);
  }
  RETURN_IF_ERROR(Restore(*store));
  return OpenReaders(std::move(store));
}

absl::Status CoordinatorCore::Restore(store::Store& store) {
  ASSIGN_OR_RETURN(std::vector<store::JobRow> jobs, store.LoadActiveJobs());
  ASSIGN_OR_RETURN(std::vector<store::WorkerRow> workers, store.LoadWorkers());
  scheduler_ = std::make_unique<scheduler::Scheduler>(options_.scheduler, clock_);
  std::set<std::string> holding;
  for (const store::JobRow& job : jobs) {
    if (job.state == store::JobState::kRunning) {
      holding.insert(job.worker_id);
    }
  }
  const int64_t recent_unix_ms = NowUnixMs() - options_.scheduler.worker_forget_ms;
  for (const store::WorkerRow& w : workers) {
    if (holding.count(w.id) > 0 || w.last_heartbeat_unix_ms >= recent_unix_ms) {
      scheduler_->RestoreWorker(w.id, ResourcesFromRow(w));
    }
  }
  for (const store::JobRow& job : jobs) {
    if (job.state == store::JobState::kRunning) {
      scheduler_->RestoreRunningJob(JobInitFromRow(job), job.worker_id);
    } else {
      scheduler_->AddQueuedJob(JobInitFromRow(job));
    }
  }
  LogInfo("%s schema v%d, %d queued, %d running (grace %d ms)", options_.db_path,
          store.schema_version(), scheduler_->queued(), scheduler_->running(),
          options_.scheduler.restart_grace_ms);
  return absl::OkStatus();
}

absl::Status CoordinatorCore::OpenReaders(std::unique_ptr<store::Store> store) {
  // Readers share the OS page cache; their own caches stay small to bound memory.
  store::StoreOptions reader_options = options_.store;
  reader_options.migrate = false;
  reader_options.db.cache_size_kib = 8 * 1024;
  ASSIGN_OR_RETURN(ledger_reader_, store::Store::Open(options_.db_path, reader_options));
  ledger_ = std::make_unique<RequestLedger>(
      [this](const std::string& id) -> absl::StatusOr<std::optional<RequestLedger::Stored>> {
        ASSIGN_OR_RETURN(auto stored, ledger_reader_->FindRequest(id));
        if (!stored.has_value()) {
          return std::nullopt;
        }
        return RequestLedger::Stored{.fingerprint = stored->fingerprint,
                                     .response = stored->response};
      },
      options_.remembered_requests);
  store::StoreWriterOptions batching;
  batching.max_ops_per_commit = options_.writer_max_ops_per_commit;
  batching.on_commit = [histogram = &metrics_.commit_seconds](double seconds) {
    histogram->Observe(seconds);
  };
  writer_ = std::make_unique<store::StoreWriter>(std::move(store), batching);
  // The pool's connections read through a memory map (dataset chunks and checkpoint payloads
  // are long overflow chains: a memcpy per page instead of a pread); the ledger reader, the
  // checkpointer and the writer keep plain reads.
  store::StoreOptions pool_options = reader_options;
  pool_options.db.mmap_size_bytes = int64_t{64} << 30;
  readers_ = std::make_unique<store::ReaderPool>(options_.db_path, pool_options, options_.readers);
  ASSIGN_OR_RETURN(checkpointer_, store::Checkpointer::Start(options_.db_path, reader_options.db,
                                                             store::CheckpointerOptions{}));
  return absl::OkStatus();
}

CoordinatorCore::~CoordinatorCore() {
  BeginShutdown();
  work_.reset();
  io_.stop();
  if (io_thread_.joinable()) {
    io_thread_.join();
  }
  read_pool_.join();
  fit_pool_.join();
  if (writer_ != nullptr) {
    const store::StoreWriterStats stats = writer_->stats();
    LogInfo(
        "%d writes in %d commits, longest commit %.1f ms; %d WAL restarts, longest catch-up "
        "%.1f ms",
        stats.ops, stats.commits, stats.longest_commit_ms, stats.wal_restarts,
        stats.longest_catch_up_ms);
  }
  writer_.reset();  // commits whatever is still queued
  checkpointer_.reset();
}

void CoordinatorCore::BeginShutdown() {
  if (io_thread_.joinable()) {
    auto drained = std::make_shared<std::promise<void>>();
    Post([this, drained] {
      DrainWaiters();
      drained->set_value();
    });
    drained->get_future().wait();
  }
  std::vector<std::shared_ptr<JobWatcher>> all;
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    for (auto& [job_id, watcher] : watchers_) {
      all.push_back(watcher);
    }
  }
  for (auto& watcher : all) {
    watcher->OnShutdown();
  }
}

void CoordinatorCore::DrainWaiters() {
  shutting_down_ = true;
  tick_timer_->cancel();
  for (LeaseWaiter& waiter : waiters_) {
    waiter.timer->cancel();
    waiter.done(absl::OkStatus());
  }
  waiters_.clear();
  parked_lease_polls_ = 0;
  for (auto& [key, slot] : rendezvous_) {
    for (RendezvousWaiter& w : slot.waiters) {
      w.timer->cancel();
      w.done(absl::UnavailableError("coordinator shutting down"));
    }
  }
  rendezvous_.clear();
}

int64_t CoordinatorCore::NowUnixMs() const { return wall_clock_->NowUnixMs(); }

void CoordinatorCore::Post(std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); }

void CoordinatorCore::ScheduleTick() {
  if (shutting_down_) {
    return;
  }
  tick_timer_->expires_after(options_.tick_period);
  tick_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || shutting_down_) {
      return;
    }
    if (++ticks_since_rate_sample_ * options_.tick_period >= std::chrono::seconds(1)) {
      ticks_since_rate_sample_ = 0;
      points_rate_.Sample(metrics_.points_ingested.value(), std::chrono::steady_clock::now());
    }
    Tick(nullptr);
    ScheduleTick();
  });
}

void CoordinatorCore::RunTick(Done done) {
  Post([this, done = std::move(done)] { Tick(done); });
}

void CoordinatorCore::Tick(Done done) {
  std::vector<scheduler::Transition> transitions = scheduler_->Tick();
  for (const scheduler::Transition& t : transitions) {
    LogInfo("job %s attempt %d ended: %s", t.job_id, t.attempt, t.reason);
  }
  // An empty periodic tick writes nothing; an explicit one commits (even nothing) so that its
  // caller sees every write decided before it.
  if (!transitions.empty() || done) {
    Commit(PersistPlan(std::move(transitions)), std::move(done));
  }
}

void CoordinatorCore::Read(std::function<absl::Status(store::Store&)> work, Done done) {
  boost::asio::post(read_pool_, [this, work = std::move(work), done = std::move(done)] {
    auto reader = readers_->Acquire();
    done(reader.ok() ? work(**reader) : reader.status());
  });
}

void CoordinatorCore::Write(store::StoreWriter::Apply apply, Done done) {
  writer_->Submit(std::move(apply), std::move(done));
}

std::vector<std::shared_ptr<JobWatcher>> CoordinatorCore::WatchersOf(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(watch_mu_);
  std::vector<std::shared_ptr<JobWatcher>> found;
  auto [begin, end] = watchers_.equal_range(job_id);
  for (auto it = begin; it != end; ++it) {
    found.push_back(it->second);
  }
  return found;
}

void CoordinatorCore::NotifyWatchers(const std::string& job_id) {
  for (auto& watcher : WatchersOf(job_id)) {
    watcher->OnJobChanged();
  }
}

void CoordinatorCore::AddWatcher(const std::string& job_id, std::shared_ptr<JobWatcher> watcher) {
  std::lock_guard<std::mutex> lock(watch_mu_);
  watchers_.emplace(job_id, std::move(watcher));
}

void CoordinatorCore::RemoveWatcher(const std::string& job_id, JobWatcher* watcher) {
  std::lock_guard<std::mutex> lock(watch_mu_);
  auto [begin, end] = watchers_.equal_range(job_id);
  for (auto it = begin; it != end; ++it) {
    if (it->second.get() == watcher) {
      watchers_.erase(it);
      return;
    }
  }
}

}  // namespace sparsescale::coordinator
