#include "coordinator/store/store_health.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <ctime>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sparsescale::store {
namespace {

int64_t FileBytes(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

std::string KindOf(const absl::Status& status) {
  if (absl::IsResourceExhausted(status)) {
    return "disk full";
  }
  return absl::StatusCodeToString(status.code());
}

}  // namespace

bool IsStorageError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kInternal:
      return true;
    default:
      return false;
  }
}

std::string BlockedReason(const StoreHealth& health) {
  if (health.writable()) {
    return "";
  }
  const std::time_t seconds = static_cast<std::time_t>(health.failing_since_unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char since[16];
  std::strftime(since, sizeof(since), "%H:%M:%S", &tm);
  return absl::StrCat("store: cannot write: ", health.failure_kind, " since ", since, " UTC");
}

StoreHealthMonitor::StoreHealthMonitor(std::string db_path) : db_path_(std::move(db_path)) {
  window_ms_.reserve(kCommitWindow);
}

void StoreHealthMonitor::RecordCommit(double elapsed_ms, const absl::Status& error,
                                      int64_t now_unix_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  health_.commits += 1;
  health_.last_commit_ms = elapsed_ms;
  health_.max_commit_ms = std::max(health_.max_commit_ms, elapsed_ms);
  if (window_ms_.size() < kCommitWindow) {
    window_ms_.push_back(elapsed_ms);
  } else {
    window_ms_[next_] = elapsed_ms;
  }
  next_ = (next_ + 1) % kCommitWindow;
  if (error.ok()) {
    health_.last_error.clear();
    health_.failure_kind.clear();
    health_.failing_since_unix_ms = 0;
    health_.failing_batches = 0;
    return;
  }
  health_.write_errors += 1;
  if (health_.last_error.empty()) {
    health_.failing_since_unix_ms = now_unix_ms;
  }
  health_.last_error = error.ToString();
  health_.failure_kind = KindOf(error);
  health_.failing_batches += 1;
}

StoreHealth StoreHealthMonitor::Snapshot() const {
  StoreHealth health;
  std::vector<double> window;
  {
    std::lock_guard<std::mutex> lock(mu_);
    health = health_;
    window = window_ms_;
  }
  if (!window.empty()) {
    const size_t rank = std::min(window.size() - 1, (window.size() * 99) / 100);
    std::nth_element(window.begin(), window.begin() + static_cast<std::ptrdiff_t>(rank),
                     window.end());
    health.p99_commit_ms = window[rank];
  }
  struct statvfs fs {};
  if (::statvfs(db_path_.c_str(), &fs) == 0) {
    health.disk_free_bytes = static_cast<int64_t>(fs.f_bavail) * static_cast<int64_t>(fs.f_frsize);
    health.disk_total_bytes = static_cast<int64_t>(fs.f_blocks) * static_cast<int64_t>(fs.f_frsize);
  }
  health.db_bytes = FileBytes(db_path_);
  health.wal_bytes = FileBytes(db_path_ + "-wal");
  return health;
}

}  // namespace sparsescale::store
