// A bounded pool of read-only Store connections for the request threads: WAL lets each reader
// see the last committed state while the single writer works. Acquire() hands a connection to
// one thread at a time and blocks while all max_readers are in use.
// Thread-safety: thread-safe.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "coordinator/store/store.h"

namespace sparsescale::store {

class ReaderPool {
 public:
  // A borrowed connection, returned to the pool when destroyed.
  class Lease {
   public:
    Lease(ReaderPool* pool, std::unique_ptr<Store> store) : pool_(pool), store_(std::move(store)) {}
    Lease(Lease&&) = default;
    ~Lease();
    Store* operator->() { return store_.get(); }
    Store& operator*() { return *store_; }

   private:
    ReaderPool* pool_;
    std::unique_ptr<Store> store_;
  };

  ReaderPool(std::string path, StoreOptions options, int max_readers);

  // A free connection (opened on first need). Errors when the database cannot be opened.
  absl::StatusOr<Lease> Acquire();

 private:
  void Return(std::unique_ptr<Store> store);

  const std::string path_;
  const StoreOptions options_;
  const int max_readers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Store>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sparsescale::store
