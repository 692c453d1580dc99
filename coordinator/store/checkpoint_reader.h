// Reads one stored checkpoint's payload in order, a piece at a time, from a byte offset: the
// SQLite chunks (a piece per stored chunk, the first one cut at the offset) or the blob-dir file
// (1 MiB pieces, from the file opened and verified once at Open). Shared by the gRPC
// DownloadCheckpoint stream and the dashboard's checkpoint download, so a download holds one
// piece in memory whatever the checkpoint's size.
// Errors: Open passes on FindCheckpoint/OpenCheckpointFile's (DataLoss names a damaged file).
// Next: DataLoss when the file ends before size_bytes, Aborted when a chunk is gone (the
// checkpoint was replaced or deleted during the download; retry).
// Thread-safety: one reader is used by one operation at a time (each Next on the read pool,
// handed on in order); it holds no lock.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "coordinator/store/store.h"

namespace sparsescale::store {

class CheckpointReader {
 public:
  // `meta` as FindCheckpoint returned it; `offset` at most meta.size_bytes (the caller checks).
  static absl::StatusOr<CheckpointReader> Open(Store& store, CheckpointRow meta, int64_t offset);

  // The next piece; empty once the payload is all read.
  absl::StatusOr<std::string> Next(Store& store);

  bool done() const { return position_ >= meta_.size_bytes; }
  const CheckpointRow& meta() const { return meta_; }

  // Bytes per piece read from a blob-dir file (well under gRPC's default 4 MiB message limit).
  static constexpr int64_t kFilePieceBytes = int64_t{1} << 20;

 private:
  CheckpointReader(CheckpointRow meta, std::unique_ptr<BlobFile> file, int64_t offset)
      : meta_(std::move(meta)), file_(std::move(file)), position_(offset) {}

  CheckpointRow meta_;
  std::unique_ptr<BlobFile> file_;  // the verified payload, when in the blob directory
  int64_t position_;                // the payload offset of the next byte to return
  int next_chunk_ = 0;              // SQLite: the next chunk to read
  int64_t chunk_start_ = 0;         // SQLite: the payload offset where next_chunk_ starts
};

}  // namespace sparsescale::store
