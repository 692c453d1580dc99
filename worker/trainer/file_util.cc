#include "worker/trainer/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sparsescale::trainer {
namespace {

std::string ErrnoText() { return std::strerror(errno); }

absl::Status SyncDirectoryOf(const std::string& path) {
  // Built in one expression: assigning "." to the empty string trips GCC 12's -Wrestrict false
  // positive at -O3.
  const std::string parent = std::filesystem::path(path).parent_path().string();
  const std::string dir = parent.empty() ? std::string(".") : parent;
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) {
    return absl::InternalError("cannot open directory " + dir + ": " + ErrnoText());
  }
  ::fsync(fd);  // Best effort: some file systems refuse fsync on directories.
  ::close(fd);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(path + ": cannot open: " + ErrnoText());
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(path + ": read error");
  }
  return ss.str();
}

absl::Status WriteAll(int fd, const void* data, size_t bytes, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::write(fd, p, bytes);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return absl::InternalError(path + ": write failed: " + ErrnoText());
    }
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path,
                                 const std::function<absl::Status(int fd)>& write) {
  std::string tmp = path + ".tmp-XXXXXX";
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    return absl::InternalError(path + ": cannot create temporary file: " + ErrnoText());
  }
  absl::Status status = write(fd);
  if (status.ok() && ::fsync(fd) != 0) {
    status = absl::InternalError(path + ": fsync failed: " + ErrnoText());
  }
  if (::close(fd) != 0 && status.ok()) {
    status = absl::InternalError(path + ": close failed: " + ErrnoText());
  }
  if (status.ok() && ::chmod(tmp.c_str(), 0644) != 0) {
    status = absl::InternalError(path + ": chmod failed: " + ErrnoText());
  }
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = absl::InternalError(path + ": rename failed: " + ErrnoText());
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  return SyncDirectoryOf(path);
}

}  // namespace sparsescale::trainer
