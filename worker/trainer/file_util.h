// Small file helpers for the trainer: whole-file reads and atomic writes (temporary file in the
// same directory, fsync, rename, fsync of the directory). Free functions; thread-safe.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sparsescale::trainer {

// Reads a whole file. NotFound when it cannot be opened (message names the file).
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Calls `write(fd)` on a temporary file next to `path`, then fsyncs and renames it over `path`
// so readers see either the old file or the complete new one. On any error the temporary
// file is removed. `write` returns an error status to abort.
absl::Status WriteFileAtomically(const std::string& path,
                                 const std::function<absl::Status(int fd)>& write);

// write(2) of all `bytes`, retrying short writes and EINTR. Errors name `path`.
absl::Status WriteAll(int fd, const void* data, size_t bytes, const std::string& path);

}  // namespace sparsescale::trainer
