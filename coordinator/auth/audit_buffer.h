// AuditBuffer: audit rows waiting for the store's writer. Handlers add rows without touching
// SQLite; a flusher takes them in batches (one writer operation per batch, so auditing never
// adds a commit to a hot path). A summarised row (a worker hot-path call that succeeded, or any
// refused call) is merged into a waiting row of the same actor, action, object and code, its
// `calls` counting them: so a flood of refused calls, or of ReportPoints, adds at most one row
// per distinct (actor, action, object, code) per flush.
// Thread-safety: thread-safe.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "coordinator/store/store_auth.h"

namespace sparsescale::auth {

class AuditBuffer {
 public:
  // Rows beyond this many waiting are counted in dropped() instead (the writer is far behind).
  explicit AuditBuffer(size_t max_rows = 100'000) : max_rows_(max_rows) {}

  void Add(store::AuditRow row, bool summarised);
  // Every waiting row, in the order they were first added.
  std::vector<store::AuditRow> Take();
  size_t dropped() const;

 private:
  using Key = std::tuple<std::string, std::string, std::string, int>;

  const size_t max_rows_;
  mutable std::mutex mu_;
  std::vector<store::AuditRow> rows_ ABSL_GUARDED_BY(mu_);
  std::map<Key, size_t> summary_index_ ABSL_GUARDED_BY(mu_);  // into rows_
  size_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sparsescale::auth
