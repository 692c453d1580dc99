// Uploading a dataset (token shards) to the coordinator: every file is cut into chunks of
// kDatasetChunkBytes, each hashed (sha256) along with the whole file; the coordinator says
// which chunks it lacks (FindMissingChunks) and only those are sent (PutChunk, retried on
// UNAVAILABLE / RESOURCE_EXHAUSTED), so an interrupted upload resumes where it stopped and a
// dataset sharing chunks with a stored one sends only the new ones. CommitDataset then makes
// it ready; the coordinator checks every file's size and hash from the stored chunks.
// Thread-safety: UploadDataset is a plain function; the client may be shared.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/coordinator_client.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::client {

inline constexpr int64_t kDatasetChunkBytes = int64_t{4} << 20;

struct UploadProgress {
  int64_t bytes_total = 0;    // of every file
  int64_t bytes_hashed = 0;   // read and hashed so far
  int64_t bytes_present = 0;  // in chunks the coordinator already held
  int64_t bytes_sent = 0;     // in chunks sent by this upload
  int64_t chunks_total = 0;
  int64_t chunks_sent = 0;
  bool hashing = true;        // still hashing; then sending
};

struct UploadOptions {
  // Called after each hashed or sent chunk (and once at the end of each phase).
  std::function<void(const UploadProgress&)> progress;
  int max_tries_per_chunk = 5;  // UNAVAILABLE / RESOURCE_EXHAUSTED are retried with backoff
};

struct UploadResult {
  sparsescale::v1::Dataset dataset;  // as committed
  bool created = false;              // false: the same dataset was already stored
  UploadProgress progress;
};

// The files' manifest (name = the file's base name; chunk and file hashes), computed locally.
// InvalidArgument naming the file for a duplicate base name or a name the coordinator would
// refuse; NotFound / Internal for a file that cannot be read.
absl::StatusOr<std::vector<sparsescale::v1::DatasetFile>> HashFiles(
    const std::vector<std::string>& paths, UploadProgress* progress,
    const std::function<void(const UploadProgress&)>& on_progress);

// Uploads `paths` as dataset `name` (see the file comment).
absl::StatusOr<UploadResult> UploadDataset(CoordinatorClient& client, const std::string& name,
                                           const std::vector<std::string>& paths,
                                           const UploadOptions& options = {});

}  // namespace sparsescale::client
