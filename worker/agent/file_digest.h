// SHA-256 of files and byte streams (OpenSSL), for verifying checkpoint transfers end to end.
// Sha256 objects are owned by one thread; the free functions are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sparsescale::agent {

// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view data);
  // Lower-case hex of the digest; the object must not be updated afterwards.
  std::string HexDigest();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct FileDigest {
  int64_t size_bytes = 0;
  std::string sha256;  // lower-case hex
};

// Size and SHA-256 of a file. NotFound (naming the file) when it cannot be read.
absl::StatusOr<FileDigest> DigestFile(const std::string& path);

}  // namespace sparsescale::agent
