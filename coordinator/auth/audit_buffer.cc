#include "coordinator/auth/audit_buffer.h"

#include <algorithm>

namespace sparsescale::auth {

void AuditBuffer::Add(store::AuditRow row, bool summarised) {
  std::lock_guard<std::mutex> lock(mu_);
  Key key{row.actor_token_id, row.action, row.object_id, row.code};
  if (summarised) {
    auto it = summary_index_.find(key);
    if (it != summary_index_.end()) {
      store::AuditRow& waiting = rows_[it->second];
      waiting.calls += row.calls;
      waiting.time_unix_ms = std::max(waiting.time_unix_ms, row.time_unix_ms);
      return;
    }
  }
  if (rows_.size() >= max_rows_) {
    ++dropped_;
    return;
  }
  if (summarised) {
    summary_index_[key] = rows_.size();
  }
  rows_.push_back(std::move(row));
}

std::vector<store::AuditRow> AuditBuffer::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  summary_index_.clear();
  std::vector<store::AuditRow> rows;
  rows.swap(rows_);
  return rows;
}

size_t AuditBuffer::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

}  // namespace sparsescale::auth
