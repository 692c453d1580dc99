// Size and SHA-256 of a file, for verifying checkpoint transfers end to end (the hash itself is
// common/sha256.h). Thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace sparsescale::agent {

struct FileDigest {
  int64_t size_bytes = 0;
  std::string sha256;  // lower-case hex
};

// Size and SHA-256 of a file. NotFound (naming the file) when it cannot be read.
absl::StatusOr<FileDigest> DigestFile(const std::string& path);

}  // namespace sparsescale::agent
