#include "coordinator/store/checkpointer.h"

#include <chrono>
#include <cstdio>

#include "common/status.h"

namespace sparsescale::store {

absl::StatusOr<std::unique_ptr<Checkpointer>> Checkpointer::Start(
    const std::string& path, const DbOptions& db_options, const CheckpointerOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Db> db, Db::Open(path, db_options));
  ASSIGN_OR_RETURN(Query q, db->Prepare("PRAGMA page_size"));
  ASSIGN_OR_RETURN(const bool row, q.Step());
  const int page_size = row ? static_cast<int>(q.Int(0)) : 4096;
  return std::unique_ptr<Checkpointer>(new Checkpointer(std::move(db), options, page_size));
}

Checkpointer::Checkpointer(std::unique_ptr<Db> db, const CheckpointerOptions& options,
                           int page_size)
    : db_(std::move(db)), options_(options), page_size_(page_size) {
  thread_ = std::thread([this] { Loop(); });
}

Checkpointer::~Checkpointer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Checkpointer::Loop() {
  const int64_t restart_frames = options_.wal_restart_bytes / page_size_;
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(options_.period_ms),
                       [this] { return stopping_; })) {
    lock.unlock();
    int frames = 0;
    absl::Status status = db_->Checkpoint(/*restart=*/false, &frames);
    if (status.ok() && frames > restart_frames) {
      status = db_->Checkpoint(/*restart=*/true, nullptr);
    }
    if (!status.ok()) {
      std::fprintf(stderr, "coordinator: %s\n", status.ToString().c_str());
    }
    lock.lock();
  }
}

}  // namespace sparsescale::store
