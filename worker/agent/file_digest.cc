#include "worker/agent/file_digest.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace sparsescale::agent {

absl::StatusOr<FileDigest> DigestFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", strerror(errno)));
  }
  Sha256 sha;
  FileDigest digest;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::streamsize n = in.gcount();
    sha.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    digest.size_bytes += n;
  }
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat("error reading ", path));
  }
  digest.sha256 = Sha256::ToHex(sha.Finish());
  return digest;
}

}  // namespace sparsescale::agent
