// CoordinatorCore: start-up (reload from the store), the Asio thread, persistence of
// scheduler transitions, the idempotency wrapper and lease long-polls.
#include "coordinator/core/core.h"

#include <chrono>
#include <cstdio>
#include <future>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "coordinator/core/proto_convert.h"

namespace sparsescale::coordinator {

std::string NewRandomId(const std::string& prefix) {
  thread_local std::mt19937_64 rng(
      std::random_device{}() ^
      static_cast<uint64_t>(std::hash<std::thread::id>()(std::this_thread::get_id())));
  return absl::StrFormat("%s%016x%016x", prefix, rng(), rng());
}

CoordinatorCore::CoordinatorCore(const CoordinatorOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<CoordinatorCore>> CoordinatorCore::Start(
    const CoordinatorOptions& options) {
  std::unique_ptr<CoordinatorCore> core(new CoordinatorCore(options));
  RETURN_IF_ERROR(core->Load());
  core->work_.emplace(core->io_.get_executor());
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
  ASSIGN_OR_RETURN(std::vector<store::JobRow> jobs, store->LoadActiveJobs());
  ASSIGN_OR_RETURN(std::vector<store::WorkerRow> workers, store->LoadWorkers());
  scheduler_ = std::make_unique<scheduler::Scheduler>(options_.scheduler, &clock_);
  std::set<std::string> holding;
  for (const store::JobRow& job : jobs) {
    if (job.state == store::JobState::kRunning) {
      holding.insert(job.worker_id);
    }
  }
  const int64_t recent_unix_ms = NowUnixMs() - options_.scheduler.worker_forget_ms;
  for (const store::WorkerRow& w : workers) {
    if (holding.count(w.id) > 0 || w.last_heartbeat_unix_ms >= recent_unix_ms) {
      scheduler_->RestoreWorker(w.id, {w.device_kind, w.gpus, w.memory_bytes, w.slots});
    }
  }
  int running = 0;
  for (const store::JobRow& job : jobs) {
    if (job.state == store::JobState::kRunning) {
      scheduler_->RestoreRunningJob(JobInitFromRow(job), job.worker_id);
      ++running;
    } else {
      scheduler_->AddQueuedJob(JobInitFromRow(job));
    }
  }
  std::fprintf(stderr, "coordinator: %s schema v%d, %zu queued, %d running (grace %lld ms)\n",
               options_.db_path.c_str(), store->schema_version(), jobs.size() - running, running,
               static_cast<long long>(options_.scheduler.restart_grace_ms));
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
        return RequestLedger::Stored{stored->fingerprint, stored->response};
      },
      options_.remembered_requests);
  store::StoreWriterOptions batching;
  batching.max_ops_per_commit = options_.writer_max_ops_per_commit;
  writer_ = std::make_unique<store::StoreWriter>(std::move(store), batching);
  readers_ =
      std::make_unique<store::ReaderPool>(options_.db_path, reader_options, options_.readers);
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
    std::fprintf(stderr,
                 "coordinator: %lld writes in %lld commits, longest commit %.1f ms; %lld WAL "
                 "restarts, longest catch-up %.1f ms\n",
                 static_cast<long long>(stats.ops), static_cast<long long>(stats.commits),
                 stats.longest_commit_ms, static_cast<long long>(stats.wal_restarts),
                 stats.longest_catch_up_ms);
  }
  writer_.reset();  // commits whatever is still queued
  checkpointer_.reset();
}

void CoordinatorCore::BeginShutdown() {
  if (io_thread_.joinable()) {
    std::promise<void> drained;
    Post([this, &drained] {
      shutting_down_ = true;
      tick_timer_.reset();
      for (LeaseWaiter& waiter : waiters_) {
        waiter.timer->cancel();
        waiter.done(absl::OkStatus());
      }
      waiters_.clear();
      for (auto& [key, slot] : rendezvous_) {
        for (RendezvousWaiter& w : slot.waiters) {
          w.timer->cancel();
          w.done(absl::UnavailableError("coordinator shutting down"));
        }
      }
      rendezvous_.clear();
      drained.set_value();
    });
    drained.get_future().wait();
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

int64_t CoordinatorCore::NowUnixMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void CoordinatorCore::Post(std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); }

void CoordinatorCore::ScheduleTick() {
  if (shutting_down_) {
    return;
  }
  if (tick_timer_ == nullptr) {
    tick_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
  }
  tick_timer_->expires_after(std::chrono::milliseconds(options_.tick_period_ms));
  tick_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || shutting_down_) {
      return;
    }
    std::vector<scheduler::Transition> transitions = scheduler_->Tick();
    for (const scheduler::Transition& t : transitions) {
      std::fprintf(stderr, "coordinator: job %s attempt %d ended: %s\n", t.job_id.c_str(),
                   t.attempt, t.reason.c_str());
    }
    if (!transitions.empty()) {
      Persist(std::move(transitions), nullptr);
    }
    ScheduleTick();
  });
}

void CoordinatorCore::Write(store::StoreWriter::Apply apply, Done then) {
  writer_->Submit(std::move(apply), [this, then = std::move(then)](absl::Status status) {
    Post([then, status] { then(status); });
  });
}

void CoordinatorCore::Read(std::function<absl::Status(store::Store&)> work, Done done) {
  boost::asio::post(read_pool_, [this, work = std::move(work), done = std::move(done)] {
    auto reader = readers_->Acquire();
    done(reader.ok() ? work(**reader) : reader.status());
  });
}

void CoordinatorCore::RunOnce(const std::string& request_id, const std::string& fingerprint,
                              google::protobuf::Message* response, Done done,
                              std::function<void(Finish)> execute) {
  auto decision = ledger_->Begin(request_id, fingerprint);
  if (!decision.ok()) {
    done(decision.status());
    return;
  }
  switch (decision->verdict) {
    case RequestLedger::Verdict::kReplay:
      if (response != nullptr && !response->ParseFromString(decision->response)) {
        done(absl::DataLossError("stored answer of request_id " + request_id + " is corrupt"));
        return;
      }
      done(absl::OkStatus());
      return;
    case RequestLedger::Verdict::kConflict:
      done(absl::AlreadyExistsError(
          absl::StrCat("request_id: ", request_id, " was already used for a different request")));
      return;
    case RequestLedger::Verdict::kInFlight:
      ledger_->Wait(request_id,
                    [=, this] { RunOnce(request_id, fingerprint, response, done, execute); });
      return;
    case RequestLedger::Verdict::kNew:
      execute([this, request_id, done](absl::StatusOr<std::string> result) {
        ledger_->Finish(request_id, result);
        done(result.status());
      });
      return;
  }
}

absl::Status CoordinatorCore::ApplyTransition(store::Store& store, const scheduler::Transition& t,
                                              int64_t now_unix_ms) {
  switch (t.kind) {
    case scheduler::Transition::Kind::kGranted:
      return store.RecordGrant(GrantFromTransition(t), now_unix_ms);
    case scheduler::Transition::Kind::kAttemptEnded:
      return store.RecordAttemptEnd(AttemptEndFromTransition(t), now_unix_ms);
    case scheduler::Transition::Kind::kCancelRequested:
      return store.SetCancelRequested(t.job_id, now_unix_ms);
  }
  return absl::InternalError("unknown transition");
}

void CoordinatorCore::Persist(std::vector<scheduler::Transition> transitions, Done done) {
  const int64_t now = NowUnixMs();
  Write(
      [this, transitions, now](store::Store& store) -> absl::Status {
        for (const scheduler::Transition& t : transitions) {
          RETURN_IF_ERROR(ApplyTransition(store, t, now));
        }
        return absl::OkStatus();
      },
      [this, transitions, done = std::move(done)](absl::Status status) {
        if (!status.ok()) {
          std::fprintf(stderr, "coordinator: persisting transitions failed: %s\n",
                       status.ToString().c_str());
        }
        AfterTransitions(transitions);
        if (done) {
          done(status);
        }
      });
}

void CoordinatorCore::AfterTransitions(const std::vector<scheduler::Transition>& transitions) {
  for (const scheduler::Transition& t : transitions) {
    if (t.kind == scheduler::Transition::Kind::kAttemptEnded && t.attempt > 0) {
      EndRendezvous(t.job_id, t.attempt);
    }
    NotifyWatchers(t.job_id);
  }
  ServeWaiters();
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
