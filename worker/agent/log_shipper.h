// Follows one job attempt's log file (the job process's stderr, which the trainer writes its
// log to) and hands out its bytes as offset-addressed chunks for WorkerService.ReportLogs. An
// offset counts bytes of the attempt's whole output, so a chunk sent twice is stored once, and
// bytes this worker had to drop leave a gap the coordinator counts as dropped.
//
// Bounded: at most `max_pending_bytes` unsent bytes are held; past that the oldest are dropped
// (the tail is kept), and a file that grew by more than that between two polls is read only
// from its last `max_pending_bytes`.
//
// Thread-safety: not thread-safe; one attempt's runner thread owns it.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace sparsescale::agent {

class LogShipper {
 public:
  LogShipper(std::string path, int64_t max_pending_bytes, size_t chunk_bytes);

  // Reads what the file gained since the last call. A file that does not exist yet is not an
  // error (the job process has not started); Internal when it cannot be read.
  absl::Status Poll();

  bool empty() const { return pending_.empty(); }
  size_t pending_bytes() const { return pending_.size(); }
  // Where the next chunk starts in the attempt's output, and its bytes (at most chunk_bytes;
  // empty when nothing is pending).
  int64_t next_offset() const { return pending_offset_; }
  std::string_view next_chunk() const;
  // The coordinator stored the output up to `stored_through`: forget pending bytes before it.
  void Ack(int64_t stored_through);
  // Bytes dropped here because of the bound.
  int64_t dropped_bytes() const { return dropped_bytes_; }

 private:
  void DropOldest(int64_t bytes);

  const std::string path_;
  const int64_t max_pending_bytes_;
  const size_t chunk_bytes_;
  std::ifstream in_;
  int64_t read_offset_ = 0;  // bytes of the file consumed (read or skipped)
  std::string pending_;      // unsent bytes, starting at pending_offset_
  int64_t pending_offset_ = 0;
  int64_t dropped_bytes_ = 0;
};

}  // namespace sparsescale::agent
