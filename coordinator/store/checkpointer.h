// Moves WAL frames into the database file on a thread of its own, so the fsyncs of a checkpoint
// never stall the writer's commits (the writer runs with automatic checkpoints off). Every
// period it runs a PASSIVE checkpoint, which copies what it can without blocking anyone. Keeping
// the WAL bounded under a writer that never pauses is the writer's job (StoreWriterOptions::
// wal_restart_bytes): it only has to catch up the frames this thread has not copied yet.
// Thread-safety: the constructor starts the thread, the destructor stops it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "coordinator/store/sqlite.h"

namespace sparsescale::store {

struct CheckpointerOptions {
  std::chrono::milliseconds period{100};
};

class Checkpointer {
 public:
  // Opens its own connection to `path`; errors when it cannot.
  static absl::StatusOr<std::unique_ptr<Checkpointer>> Start(const std::string& path,
                                                             const DbOptions& db_options,
                                                             const CheckpointerOptions& options);
  ~Checkpointer();

 private:
  Checkpointer(std::unique_ptr<Db> db, const CheckpointerOptions& options);
  void Loop();

  std::unique_ptr<Db> db_;
  const CheckpointerOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace sparsescale::store
