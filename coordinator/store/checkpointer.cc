#include "coordinator/store/checkpointer.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/log_repeat.h"
#include "common/status.h"

namespace sparsescale::store {

absl::StatusOr<std::unique_ptr<Checkpointer>> Checkpointer::Start(
    const std::string& path, const DbOptions& db_options, const CheckpointerOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Db> db, Db::Open(path, db_options));
  return std::unique_ptr<Checkpointer>(new Checkpointer(std::move(db), options));
}

Checkpointer::Checkpointer(std::unique_ptr<Db> db, const CheckpointerOptions& options)
    : db_(std::move(db)), options_(options) {
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
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, options_.period,
                       [this] { return stopping_; })) {
    lock.unlock();
    absl::Status status = db_->Checkpoint(/*restart=*/false, nullptr);
    if (!status.ok()) {
      LogRepeated(LogLevel::kWarning, "store-checkpointer",
                  absl::StrCat("WAL checkpoint failed: ", status.ToString()));
    }
    lock.lock();
  }
}

}  // namespace sparsescale::store
