// Store: datasets (tables dataset_chunks, datasets, dataset_files, dataset_chunk_refs and the
// jobs.dataset column; sql/0006_datasets.sql). Token shards are stored content-addressed: each
// distinct chunk (at most kMaxDatasetChunkBytes, keyed by its sha256) once, however many
// datasets use it; a dataset is an ordered list of files, each an ordered list of chunks.
// Deleting a dataset deletes the chunks no other dataset refers to.
//
// An upload: PutDatasetChunk for each chunk the store lacks (MissingChunks says which) creates
// the dataset's row in state uploading and references the chunk from it; CommitDatasetFiles
// (after VerifyDatasetFiles has checked the files' hashes on a read connection, off the
// writer thread) checks that every chunk is stored and makes it ready.
//
// Free functions over a Store, like store_auth.h. Writes run on the writer's Store (the
// StoreWriter thread); reads on any Store the calling thread holds.
// Thread-safety: as the Store passed in (one thread at a time).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/store/store.h"

namespace sparsescale::store {

// The most bytes one chunk may hold; clients cut files into chunks of exactly this size (the
// last one of a file shorter).
inline constexpr int64_t kMaxDatasetChunkBytes = int64_t{4} << 20;
// The most files one dataset may have, and the most hashes one question may carry.
inline constexpr int kMaxDatasetFiles = 100000;
inline constexpr int kMaxChunksPerCall = 65536;

// Numerically equal to sparsescale.v1.DatasetState.
enum class DatasetState : int { kUploading = 1, kReady = 2 };

struct DatasetFileRow {
  std::string name;
  int64_t size_bytes = 0;
  std::string sha256;
  std::vector<std::string> chunks;  // sha256 of each chunk, in order
};

struct DatasetRow {
  int64_t id = 0;
  std::string name;
  std::string hash;  // "" while uploading
  DatasetState state = DatasetState::kUploading;
  int64_t total_bytes = 0;
  int file_count = 0;
  int64_t created_unix_ms = 0;
  int64_t chunks_stored = 0;          // chunk references (uploading: the chunks put so far)
  std::vector<DatasetFileRow> files;  // FindDataset(with_files = true) only
};

// The dataset hash: sha256 over "<name>\n<sha256>\n" of every file, in order.
std::string DatasetHash(const std::vector<DatasetFileRow>& files);

// The hashes of `chunks` that the store does not hold, in the order asked (duplicates once).
absl::StatusOr<std::vector<std::string>> MissingChunks(Store& store,
                                                       const std::vector<std::string>& chunks);
// Stores `data` (whose sha256 the caller has verified to be `sha256`) unless the store holds it,
// and references it from dataset `name`'s upload, creating that dataset in state uploading.
// AlreadyExists (naming `dataset`) when a ready dataset has that name. True when newly stored.
absl::StatusOr<bool> PutDatasetChunk(Store& store, const std::string& name, const std::string& sha256,
                                     std::string_view data, int64_t now_unix_ms);
// Reads every file's chunks and checks that they add up to the file's size and hash to its
// sha256 (a read connection; the bytes were verified chunk by chunk when they were put). Each
// chunk is hashed where SQLite holds it, one at a time: no copy, no whole file in memory.
// InvalidArgument naming files[i].chunks[j] (not stored), files[i].size_bytes or
// files[i].sha256.
absl::Status VerifyDatasetFiles(Store& store, const std::vector<DatasetFileRow>& files);
struct CommitOutcome {
  DatasetRow dataset;
  bool created = false;
};
// Makes dataset `name` ready with `files` (already verified): every chunk must be stored
// (InvalidArgument naming files[i].chunks[j] otherwise). The same files under the same ready
// name answer that dataset (created false); other files AlreadyExists naming `name`. The
// dataset's chunk references become exactly its files' chunks (chunks put but not used, and
// referenced by no one else, are deleted).
absl::StatusOr<CommitOutcome> CommitDatasetFiles(Store& store, const std::string& name,
                                                 const std::vector<DatasetFileRow>& files,
                                                 int64_t now_unix_ms);
// Every dataset, by name (without files).
absl::StatusOr<std::vector<DatasetRow>> ListDatasets(Store& store);
// A dataset by name, or by hash when `name_or_hash` is 64 hex digits (a ready one then; when
// several names hold the same bytes, the oldest). nullopt when none.
absl::StatusOr<std::optional<DatasetRow>> FindDataset(Store& store, const std::string& name_or_hash,
                                                      bool with_files);
struct DeleteOutcome {
  DatasetRow dataset;
  int64_t chunks_deleted = 0;
  int64_t bytes_freed = 0;
};
// Deletes a dataset and the chunks no other dataset uses. NotFound naming `dataset`;
// InvalidArgument when a hash names several datasets; FailedPrecondition naming the queued or
// running jobs that use its bytes (unless another ready dataset keeps the same bytes).
absl::StatusOr<DeleteOutcome> DeleteDataset(Store& store, const std::string& name_or_hash);
// One stored chunk's bytes; nullopt when the store lacks it.
absl::StatusOr<std::optional<std::string>> ReadDatasetChunk(Store& store, const std::string& sha256);
// The same into *out (replacing its contents, reusing its capacity: one copy out of SQLite's
// buffer, no allocation when *out already held a chunk as large). False when the store lacks
// the chunk (*out is then empty).
absl::StatusOr<bool> ReadDatasetChunkInto(Store& store, const std::string& sha256,
                                          std::string* out);
// Whether a ready dataset with `hash` references `chunk`.
absl::StatusOr<bool> DatasetHasChunk(Store& store, const std::string& hash, const std::string& chunk);
// Called for a job just inserted: records the dataset its spec names (jobs.dataset), which
// must be a ready dataset's hash (FailedPrecondition naming data.dataset otherwise: it was
// deleted after the submission resolved it). Specs without a dataset record nothing.
absl::Status RecordJobDataset(Store& store, int64_t job_seq, const std::string& spec_bytes);
// Called before a final job is queued again: the dataset its spec names (jobs.dataset) must
// still be a ready dataset's (FailedPrecondition naming data.dataset and the job otherwise: it
// was deleted once the job was final, and no worker could fetch it). Jobs reading paths pass.
absl::Status RequireJobDataset(Store& store, int64_t job_seq, const std::string& job_id);

}  // namespace sparsescale::store
