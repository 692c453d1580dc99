#include "coordinator/store/checkpoint_reader.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace sparsescale::store {

absl::StatusOr<CheckpointReader> CheckpointReader::Open(Store& store, CheckpointRow meta,
                                                        int64_t offset) {
  std::unique_ptr<BlobFile> file;
  if (meta.stored_in == CheckpointStorage::kBlobDir) {
    ASSIGN_OR_RETURN(file, store.OpenCheckpointFile(meta));
  }
  return CheckpointReader(std::move(meta), std::move(file), offset);
}

absl::StatusOr<std::string> CheckpointReader::Next(Store& store) {
  if (file_ != nullptr) {
    ASSIGN_OR_RETURN(std::string data, file_->ReadAt(position_, kFilePieceBytes));
    if (data.empty() && position_ < meta_.size_bytes) {
      return absl::DataLossError(
          absl::StrCat("checkpoint file ", file_->path(), " ended early at byte ", position_));
    }
    position_ += static_cast<int64_t>(data.size());
    return data;
  }
  while (next_chunk_ < meta_.chunks) {
    ASSIGN_OR_RETURN(std::optional<std::string> data,
                     store.ReadCheckpointChunk(meta_.id, next_chunk_++));
    if (!data.has_value()) {
      return absl::AbortedError("the checkpoint was replaced during the download; retry");
    }
    const int64_t chunk_end = chunk_start_ + static_cast<int64_t>(data->size());
    if (chunk_end <= position_) {  // before the offset of a resumed download
      chunk_start_ = chunk_end;
      continue;
    }
    data->erase(0, static_cast<size_t>(position_ - chunk_start_));
    chunk_start_ = position_ = chunk_end;
    return std::move(*data);
  }
  return std::string();
}

}  // namespace sparsescale::store
