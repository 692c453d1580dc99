// The optional content-addressed directory for checkpoint payloads (the coordinator's
// --checkpoint-dir): a payload lives at <dir>/<first 2 hex of sha256>/<sha256>, so one file
// serves every checkpoint row with that sha256. An upload is written to <dir>/tmp/upload-<id>
// first; Publish fsyncs it, renames it into place and fsyncs the directory, so a file under its
// final name is always whole. SQLite keeps the index (size, sha256, stored_in) and is committed
// only after Publish; files are removed only after the commit that dropped their last row.
//
// Errors name the path: Unavailable for I/O errors, DataLoss for a file that is missing or whose
// size or sha256 differs from the row's, InvalidArgument for a sha256 that is not 64 lowercase
// hex digits (never used as a file name).
// Thread-safety: a BlobDir holds only its path; its methods may run on any thread. Writing an
// upload's temporary file is the store writer's job (one thread); SyncTmp may run elsewhere
// once the writes are done.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sparsescale::store {

// An open payload file. Not copyable; ReadAt may run on any thread.
class BlobFile {
 public:
  BlobFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~BlobFile();
  BlobFile(const BlobFile&) = delete;
  BlobFile& operator=(const BlobFile&) = delete;
  const std::string& path() const { return path_; }
  // Up to `max_bytes` from `offset` (fewer only at the end; "" past it).
  absl::StatusOr<std::string> ReadAt(int64_t offset, int64_t max_bytes) const;

 private:
  int fd_;
  std::string path_;
};

class BlobDir {
 public:
  // Creates `dir` and `dir`/tmp when missing; Unavailable naming the path when it cannot.
  static absl::StatusOr<BlobDir> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  // <dir>/<sha256[0:2]>/<sha256>; InvalidArgument when sha256 is not 64 lowercase hex digits.
  absl::StatusOr<std::string> PathFor(std::string_view sha256) const;
  std::string TmpPath(int64_t upload_id) const;

  // Appends `data` to the upload's temporary file (chunk 0 truncates it first).
  absl::Status AppendTmp(int64_t upload_id, int chunk, std::string_view data) const;
  // fsync the upload's temporary file (absent is fine: an empty payload appends nothing). Run
  // off the writer thread before the commit, it leaves Publish's own fsync nothing to flush.
  absl::Status SyncTmp(int64_t upload_id) const;
  // fsync the temporary file, check its size, rename it to PathFor(sha256) (replacing a file of
  // the same sha256, which holds the same bytes or was damaged), fsync both directories.
  absl::Status Publish(int64_t upload_id, std::string_view sha256, int64_t size_bytes) const;
  // Removes the upload's temporary file (absent is fine).
  void RemoveTmp(int64_t upload_id) const;

  // The payload file, open, after checking it: DataLoss naming the path when it is missing, has
  // another size, or its bytes hash to another sha256 (reads the whole file once). The open file
  // stays readable even if a later commit removes its name.
  absl::StatusOr<std::unique_ptr<BlobFile>> OpenVerified(std::string_view sha256,
                                                         int64_t size_bytes) const;
  // Removes the payload file (absent is fine); Unavailable on other errors.
  absl::Status Remove(std::string_view sha256) const;

  // Removes every payload file whose sha256 is not in `referenced`, every file under tmp/ and
  // any other file in the layout's directories that is not a payload; returns how many.
  absl::StatusOr<int64_t> RemoveOrphans(const std::set<std::string>& referenced) const;

 private:
  explicit BlobDir(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace sparsescale::store
