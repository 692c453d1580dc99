// The coordinator's single SQLite writer with group commit. Callers submit write operations
// from any thread; a dedicated thread takes every operation queued so far, runs each inside its
// own savepoint of one shared transaction, COMMITs once, and only then calls each operation's
// completion. So a caller that answers its client from the completion acknowledges only
// committed data, and concurrent requests share one commit instead of paying one each.
//
// Thread-safety: Submit() may be called from any thread; operations run on the writer thread
// (they must not block on anything that waits for the writer). Completions run on the writer
// thread and should be short (post elsewhere for real work).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "coordinator/store/store.h"
#include "coordinator/store/store_health.h"

namespace sparsescale::store {

struct StoreWriterOptions {
  // Bound on operations per transaction, so one commit never grows without limit.
  int max_ops_per_commit = 4096;
  // Past this WAL size the writer starts the WAL over (0: never). The Checkpointer copies WAL
  // frames into the database off the commit path, but under a steady stream of commits it never
  // catches up at the instant a transaction begins, which is when SQLite rewinds the WAL; so
  // the writer, between two batches, checkpoints the few frames left itself and the next BEGIN
  // rewinds. Writes wait only for that short catch-up, not for a whole RESTART checkpoint.
  int64_t wal_restart_bytes = int64_t{1} << 30;
  // Called on the writer thread after each COMMIT with its duration (BEGIN to COMMIT, seconds);
  // must be cheap. Empty: none.
  std::function<void(double seconds)> on_commit;
};

struct StoreWriterStats {
  int64_t commits = 0;
  int64_t ops = 0;
  int64_t wal_restarts = 0;  // catch-up checkpoints that let the WAL start over
  double longest_catch_up_ms = 0;
  double longest_commit_ms = 0;  // BEGIN to COMMIT of one batch (includes WAL checkpoints)
};

class StoreWriter {
 public:
  using Apply = std::function<absl::Status(Store&)>;
  using Done = std::function<void(absl::Status)>;

  StoreWriter(std::unique_ptr<Store> store, const StoreWriterOptions& options);
  // Runs every operation still queued, then stops the thread.
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // Queues `apply`; `done` gets OK after the commit that includes it, `apply`'s own error (its
  // writes rolled back, other operations unaffected), or the commit's error.
  void Submit(Apply apply, Done done);

  // Runs `apply` and waits for its commit (start-up and tests; never on the writer thread).
  absl::Status RunSync(Apply apply);

  StoreWriterStats stats() const;
  // The store's health: disk, file sizes, commit latency, failing writes (see store_health.h).
  // Any thread; cheap.
  StoreHealth health() const { return health_.Snapshot(); }
  // Transactions committed with at least one successful operation since the writer started:
  // the coordinator's state version (it grows on every committed change). Any thread.
  int64_t committed_changes() const { return committed_changes_.load(std::memory_order_acquire); }

 private:
  struct Op {
    Apply apply;
    Done done;
  };

  void Loop();
  void CommitBatch(std::deque<Op>& batch);
  void RestartWalIfLarge();
  // Feeds the health monitor with a batch's commit and the first storage error in it (and logs
  // that error, once per window).
  void RecordHealth(double elapsed_ms, const absl::Status& commit_status,
                    const std::vector<absl::Status>& results);

  std::unique_ptr<Store> store_;
  const StoreWriterOptions options_;
  StoreHealthMonitor health_;
  int64_t restart_frames_ = 0;  // wal_restart_bytes in pages of this database (0: never)
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Op> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  StoreWriterStats stats_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> committed_changes_{0};
  std::thread thread_;
};

}  // namespace sparsescale::store
