// StoreHealth: what an operator needs to see about the coordinator's SQLite file: free space on
// its filesystem, database and WAL sizes, how long commits take, and whether writes are failing
// (since when, how often, with what error). StoreHealthMonitor collects it: the StoreWriter
// records every commit and every storage error; anyone reads a Snapshot.
//
// Thread-safety: StoreHealthMonitor is thread-safe (one mutex, held for a few field copies).
// Snapshot() also stats the files and the filesystem (three system calls, no SQLite), so it is
// cheap enough to call on every status request or metrics scrape.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"

namespace sparsescale::store {

struct StoreHealth {
  // Filesystem of the database file; -1 when statvfs failed.
  int64_t disk_free_bytes = -1;   // available to the coordinator (f_bavail)
  int64_t disk_total_bytes = -1;
  int64_t db_bytes = 0;   // the database file
  int64_t wal_bytes = 0;  // its -wal file (0 when absent)
  // Commits (BEGIN to COMMIT of one writer batch), successful or not, since start.
  int64_t commits = 0;
  double last_commit_ms = 0;
  double p99_commit_ms = 0;  // over the last kCommitWindow commits
  double max_commit_ms = 0;  // since start
  // Storage errors (disk full, I/O error, read-only file...) since start; a batch that failed
  // counts once.
  int64_t write_errors = 0;
  // Set while writes fail: the newest error's text, when the first error of this run of
  // failures happened, and how many failed batches the run has had. Cleared by the first
  // successful commit after it.
  std::string last_error;
  int64_t failing_since_unix_ms = 0;
  int64_t failing_batches = 0;
  // "disk full" for a full filesystem, else the error's code name; "" while healthy.
  std::string failure_kind;

  bool writable() const { return last_error.empty(); }
};

// Whether `status` is the store failing to write (as opposed to a request's own error such as
// NotFound or FailedPrecondition): ResourceExhausted, Unavailable, DataLoss or Internal.
bool IsStorageError(const absl::Status& status);

// "store: cannot write: disk full since 15:02:11" (UTC) while `health` is not writable; "".
std::string BlockedReason(const StoreHealth& health);

class StoreHealthMonitor {
 public:
  static constexpr size_t kCommitWindow = 1024;

  // `db_path`: the database file (its WAL is `db_path` + "-wal").
  explicit StoreHealthMonitor(std::string db_path);

  // A batch committed (`error` OK) or failed with a storage error.
  void RecordCommit(double elapsed_ms, const absl::Status& error, int64_t now_unix_ms);

  StoreHealth Snapshot() const;

 private:
  const std::string db_path_;
  mutable std::mutex mu_;
  StoreHealth health_ ABSL_GUARDED_BY(mu_);  // file and disk fields filled by Snapshot
  std::vector<double> window_ms_ ABSL_GUARDED_BY(mu_);  // ring of the last commits
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sparsescale::store
