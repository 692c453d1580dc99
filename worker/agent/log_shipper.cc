#include "worker/agent/log_shipper.h"

#include <algorithm>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sparsescale::agent {

LogShipper::LogShipper(std::string path, int64_t max_pending_bytes, size_t chunk_bytes)
    : path_(std::move(path)),
      max_pending_bytes_(std::max<int64_t>(1, max_pending_bytes)),
      chunk_bytes_(std::max<size_t>(1, chunk_bytes)) {}

absl::Status LogShipper::Poll() {
  std::error_code ec;
  const auto size = static_cast<int64_t>(std::filesystem::file_size(path_, ec));
  if (ec || size <= read_offset_) {
    return absl::OkStatus();  // not there yet, or nothing new
  }
  if (!in_.is_open()) {
    in_.open(path_, std::ios::binary);
    if (!in_) {
      return absl::InternalError(absl::StrCat("cannot read the job log ", path_));
    }
  }
  // Bytes that would be dropped at once are skipped without reading them.
  const int64_t skip = std::max<int64_t>(0, size - read_offset_ - max_pending_bytes_);
  if (skip > 0) {
    DropOldest(static_cast<int64_t>(pending_.size()));
    dropped_bytes_ += skip;
    read_offset_ += skip;
    pending_offset_ = read_offset_;
  }
  const int64_t want = size - read_offset_;
  std::string data(static_cast<size_t>(want), '\0');
  in_.clear();
  in_.seekg(read_offset_);
  in_.read(data.data(), want);
  data.resize(static_cast<size_t>(in_.gcount()));
  if (pending_.empty()) {
    pending_offset_ = read_offset_;
  }
  read_offset_ += static_cast<int64_t>(data.size());
  pending_ += data;
  DropOldest(static_cast<int64_t>(pending_.size()) - max_pending_bytes_);
  return absl::OkStatus();
}

void LogShipper::DropOldest(int64_t bytes) {
  if (bytes <= 0) {
    return;
  }
  pending_.erase(0, static_cast<size_t>(bytes));
  pending_offset_ += bytes;
  dropped_bytes_ += bytes;
}

std::string_view LogShipper::next_chunk() const {
  return std::string_view(pending_).substr(0, chunk_bytes_);
}

void LogShipper::Ack(int64_t stored_through) {
  const int64_t acked =
      std::min<int64_t>(stored_through - pending_offset_, static_cast<int64_t>(pending_.size()));
  if (acked > 0) {
    pending_.erase(0, static_cast<size_t>(acked));
    pending_offset_ += acked;
  }
}

}  // namespace sparsescale::agent
