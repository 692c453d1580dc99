#include "coordinator/store/store_writer.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <vector>

#include "common/log.h"
#include "common/log_repeat.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace sparsescale::store {

StoreWriter::StoreWriter(std::unique_ptr<Store> store, const StoreWriterOptions& options)
    : store_(std::move(store)), options_(options), health_(store_->db()->path()) {
  if (options_.wal_restart_bytes > 0) {
    int64_t page_size = 4096;
    if (auto q = store_->db()->Prepare("PRAGMA page_size"); q.ok()) {
      if (auto row = q->Step(); row.ok() && *row) {
        page_size = std::max<int64_t>(512, q->Int(0));
      }
    }
    restart_frames_ = std::max<int64_t>(1, options_.wal_restart_bytes / page_size);
    store_->db()->TrackWalFrames();
  }
  thread_ = std::thread([this] { Loop(); });
}

StoreWriter::~StoreWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void StoreWriter::Submit(Apply apply, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Op{.apply = std::move(apply), .done = std::move(done)});
  }
  cv_.notify_one();
}

absl::Status StoreWriter::RunSync(Apply apply) {
  std::promise<absl::Status> result;
  Submit(std::move(apply), [&result](absl::Status status) { result.set_value(status); });
  return result.get_future().get();
}

StoreWriterStats StoreWriter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void StoreWriter::Loop() {
  while (true) {
    std::deque<Op> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {
        return;  // stopping, and everything queued has been committed
      }
      const size_t take = std::min(queue_.size(), static_cast<size_t>(options_.max_ops_per_commit));
      batch.insert(batch.end(), std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + take));
      queue_.erase(queue_.begin(), queue_.begin() + take);
    }
    CommitBatch(batch);
    RestartWalIfLarge();
  }
}

void StoreWriter::RestartWalIfLarge() {
  Db& db = *store_->db();
  if (restart_frames_ == 0 || db.wal_frames() < restart_frames_) {
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  int frames = 0;
  int backfilled = 0;
  absl::Status status = db.Checkpoint(/*restart=*/false, &frames, &backfilled);
  if (!status.ok()) {
    LogRepeated(LogLevel::kWarning, "store-writer-catch-up",
                absl::StrCat("WAL catch-up checkpoint failed: ", status.ToString()));
    return;
  }
  if (frames <= 0 || backfilled < frames) {
    return;  // the Checkpointer was busy or a reader holds old frames: try after the next batch
  }
  const double elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::lock_guard<std::mutex> lock(mu_);
  stats_.wal_restarts += 1;
  stats_.longest_catch_up_ms = std::max(stats_.longest_catch_up_ms, elapsed_ms);
}

void StoreWriter::RecordHealth(double elapsed_ms, const absl::Status& commit_status,
                               const std::vector<absl::Status>& results) {
  absl::Status storage_error = commit_status;
  for (size_t i = 0; i < results.size() && storage_error.ok(); ++i) {
    if (IsStorageError(results[i])) {
      storage_error = results[i];
    }
  }
  const int64_t now_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  health_.RecordCommit(elapsed_ms, storage_error, now_unix_ms);
  if (!storage_error.ok()) {
    LogRepeated(LogLevel::kError, "store-writer",
                absl::StrCat("store write failed: ", storage_error.ToString()));
  }
}

void StoreWriter::CommitBatch(std::deque<Op>& batch) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<absl::Status> results(batch.size());
  absl::Status commit_status;
  {
    auto txn = Transaction::Begin(store_->db());
    if (!txn.ok()) {
      commit_status = txn.status();
    } else {
      bool rolled_back = false;
      for (size_t i = 0; i < batch.size(); ++i) {
        auto savepoint = Savepoint::Begin(store_->db());
        results[i] = savepoint.ok() ? batch[i].apply(*store_) : savepoint.status();
        if (results[i].ok() && savepoint.ok()) {
          results[i] = (*savepoint)->Release();
        }
        rolled_back |= !results[i].ok();
      }
      commit_status = (*txn)->Commit();
      if (rolled_back || !commit_status.ok()) {
        store_->InvalidateCaches();
      }
    }
    // Blob files whose last row this commit deleted go only now that the delete is durable.
    store_->RemoveUnreferencedCheckpointFiles(txn.ok() && commit_status.ok());
  }
  const double elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  RecordHealth(elapsed_ms, commit_status, results);
  if (commit_status.ok() &&
      std::any_of(results.begin(), results.end(), [](const absl::Status& s) { return s.ok(); })) {
    committed_changes_.fetch_add(1, std::memory_order_acq_rel);
  }
  if (options_.on_commit) {
    options_.on_commit(elapsed_ms / 1000.0);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.commits += 1;
    stats_.ops += static_cast<int64_t>(batch.size());
    stats_.longest_commit_ms = std::max(stats_.longest_commit_ms, elapsed_ms);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].done) {
      batch[i].done(commit_status.ok() ? results[i] : commit_status);
    }
  }
}

}  // namespace sparsescale::store
