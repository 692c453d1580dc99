// The worker's cache of datasets stored in the coordinator (docs/DEPLOY.md, "Datasets"): a job
// whose spec names data.dataset (a hash, pinned at submission) runs on the dataset's files in
// this cache, downloaded once per worker and shared by every job that needs them.
//
// Layout: DIR/<hash>/files/<name> and DIR/<hash>/manifest.pb (the v1::Dataset, written last);
// a download goes to DIR/.staging-<hash>-<n>/ and is renamed into place when every chunk's and
// every file's sha256 matched. A chunk that arrives damaged fails its file, which is fetched
// again (max_tries in all, with backoff). The cache holds at most max_bytes of datasets:
// before a download, the least recently used datasets that no job is using are deleted (a
// dataset in use is never deleted, so the cap can be exceeded while every cached dataset is in
// use). Files are hashed in full when this process first uses a cached dataset (e.g. after a
// restart) and again whenever a file's size or mtime changed since; a damaged dataset is
// deleted and downloaded again.
//
// Thread-safety: thread-safe. Concurrent Acquire calls for the same dataset download it once
// (the others wait for that download).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "sparsescale/v1/coordinator.pb.h"
#include "worker/agent/worker_rpc.h"

namespace sparsescale::agent {

struct DatasetCacheOptions {
  std::string dir;
  int64_t max_bytes = int64_t{64} << 30;  // 0: no cap
  int max_tries = 3;                      // downloads of one file (damaged or interrupted)
  std::chrono::milliseconds retry_initial{200};
  // Fault injection (tests): the first `corrupt_chunks` chunks this cache receives get one byte
  // flipped before they are verified (`sparsescale-worker --dataset-fault-corrupt-chunks`).
  int corrupt_chunks = 0;
  std::function<std::string()> worker_id;  // sent with the calls (informational); may be empty
};

struct DatasetCacheStats {
  int64_t downloads = 0;          // datasets downloaded
  int64_t chunks_received = 0;
  int64_t bytes_received = 0;
  int64_t damaged_chunks = 0;     // refused: sha256 mismatch
  int64_t file_retries = 0;       // file downloads started again
  int64_t evictions = 0;
  int64_t reverified_files = 0;   // cached files hashed again before use
  int64_t damaged_in_cache = 0;   // cached datasets found damaged and fetched again
};

class DatasetCache {
 public:
  // A dataset held for a job: not evicted while the Pin lives.
  class Pin {
   public:
    ~Pin();
    Pin(const Pin&) = delete;
    Pin& operator=(const Pin&) = delete;
    const std::string& hash() const { return hash_; }
    // DIR/<hash>/files: the job's shard names resolve against it.
    const std::string& files_dir() const { return files_dir_; }

   private:
    friend class DatasetCache;
    Pin(DatasetCache* cache, std::string hash, std::string files_dir)
        : cache_(cache), hash_(std::move(hash)), files_dir_(std::move(files_dir)) {}
    DatasetCache* cache_;
    std::string hash_;
    std::string files_dir_;
  };

  // Creates DIR when needed and adopts the complete datasets already in it (staging leftovers
  // are deleted). `rpc` must outlive the cache.
  DatasetCache(WorkerRpc* rpc, DatasetCacheOptions options);
  DatasetCache(const DatasetCache&) = delete;
  DatasetCache& operator=(const DatasetCache&) = delete;

  // The dataset with `hash`, downloaded and verified first when it is not cached (or cached
  // damaged). Errors: the coordinator's (NOT_FOUND for an unknown dataset, UNAVAILABLE after
  // the retries), DataLoss when every try arrived damaged, Internal for local I/O.
  absl::StatusOr<std::shared_ptr<Pin>> Acquire(const std::string& hash);

  DatasetCacheStats stats() const;
  // Bytes of the datasets cached now.
  int64_t cached_bytes() const;

 private:
  enum class State { kAbsent, kLoading, kReady };
  struct Entry {
    State state = State::kAbsent;
    int pins = 0;
    int64_t bytes = 0;
    uint64_t last_used = 0;
    bool verified = false;  // hashed in full by this process
    std::map<std::string, std::pair<int64_t, int64_t>> seen;  // file -> (size, mtime ns)
  };

  void Release(const std::string& hash);
  // Downloads the dataset into the cache (no lock held).
  absl::Status Load(const std::string& hash, Entry* result);
  absl::Status DownloadFile(const std::string& hash, const sparsescale::v1::DatasetFile& file,
                            const std::string& path);
  // Checks the cached files against the manifest: sizes always, hashes when `full` or when a
  // file's size or mtime changed since `seen`. Updates `seen`.
  absl::Status Check(const std::string& hash, bool full,
                     std::map<std::string, std::pair<int64_t, int64_t>>* seen);
  // Deletes least recently used unpinned datasets until `incoming` more bytes fit.
  void MakeRoom(const std::string& hash, int64_t incoming);
  template <typename F>
  absl::Status WithRetries(const std::string& what, F attempt);

  WorkerRpc* rpc_;
  const DatasetCacheOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Entry> entries_;
  uint64_t clock_ = 0;
  int corrupt_left_ = 0;
  uint64_t staging_seq_ = 0;
  DatasetCacheStats stats_;
};

}  // namespace sparsescale::agent
