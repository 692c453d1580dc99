#include "coordinator/store/reader_pool.h"

#include "common/status.h"

namespace sparsescale::store {

ReaderPool::Lease::~Lease() {
  if (store_ != nullptr) {
    pool_->Return(std::move(store_));
  }
}

ReaderPool::ReaderPool(std::string path, StoreOptions options, int max_readers)
    : path_(std::move(path)), options_(options), max_readers_(max_readers) {}

absl::StatusOr<ReaderPool::Lease> ReaderPool::Acquire() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !idle_.empty() || open_ < max_readers_; });
    if (!idle_.empty()) {
      std::unique_ptr<Store> store = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(store));
    }
    ++open_;
  }
  StoreOptions options = options_;
  options.migrate = false;
  auto store = Store::Open(path_, options);
  if (!store.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    --open_;
    cv_.notify_one();
    return store.status();
  }
  return Lease(this, std::move(*store));
}

void ReaderPool::Return(std::unique_ptr<Store> store) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(std::move(store));
  }
  cv_.notify_one();
}

}  // namespace sparsescale::store
