#include "coordinator/store/blob_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status.h"

namespace sparsescale::store {
namespace {

constexpr int64_t kReadBlock = 1 << 20;

absl::Status Errno(std::string_view what, const std::string& path) {
  return absl::UnavailableError(absl::StrCat(std::string(what), " ", path, ": ", strerror(errno)));
}

bool IsSha256(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// Closes the descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

absl::Status FsyncDir(const std::string& dir) {
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd < 0) {
    return Errno("open directory", dir);
  }
  if (::fsync(d.fd) != 0) {
    return Errno("fsync directory", dir);
  }
  return absl::OkStatus();
}

absl::Status MakeDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Errno("mkdir", dir);
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Errno("write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Reads up to `max_bytes` at `offset`; fewer only at the end of the file.
absl::StatusOr<std::string> PRead(int fd, int64_t offset, int64_t max_bytes,
                                  const std::string& path) {
  std::string out(static_cast<size_t>(max_bytes), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + got, out.size() - got,
                              static_cast<off_t>(offset + static_cast<int64_t>(got)));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Errno("read", path);
    }
    if (n == 0) {
      break;
    }
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

}  // namespace

absl::StatusOr<BlobDir> BlobDir::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("--checkpoint-dir: cannot create ", dir, ": ", ec.message()));
  }
  RETURN_IF_ERROR(MakeDir(dir + "/tmp"));
  return BlobDir(dir);
}

absl::StatusOr<std::string> BlobDir::PathFor(std::string_view sha256) const {
  if (!IsSha256(sha256)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sha256: \"", std::string(sha256), "\" is not 64 lowercase hex digits"));
  }
  return absl::StrCat(dir_, "/", std::string(sha256.substr(0, 2)), "/", std::string(sha256));
}

std::string BlobDir::TmpPath(int64_t upload_id) const {
  return absl::StrCat(dir_, "/tmp/upload-", upload_id);
}

absl::Status BlobDir::AppendTmp(int64_t upload_id, int chunk, std::string_view data) const {
  const std::string path = TmpPath(upload_id);
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (chunk == 0 ? O_TRUNC : O_APPEND);
  Fd f{::open(path.c_str(), flags, 0644)};
  if (f.fd < 0) {
    return Errno("open", path);
  }
  return WriteAll(f.fd, data, path);
}

absl::Status BlobDir::SyncTmp(int64_t upload_id) const {
  const std::string path = TmpPath(upload_id);
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) {
    return errno == ENOENT ? absl::OkStatus() : Errno("open", path);
  }
  if (::fsync(f.fd) != 0) {
    return Errno("fsync", path);
  }
  return absl::OkStatus();
}

absl::Status BlobDir::Publish(int64_t upload_id, std::string_view sha256,
                              int64_t size_bytes) const {
  ASSIGN_OR_RETURN(const std::string final_path, PathFor(sha256));
  const std::string tmp = TmpPath(upload_id);
  {
    // An upload of an empty payload appends nothing: create the file anyway.
    Fd f{::open(tmp.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)};
    if (f.fd < 0) {
      return Errno("open", tmp);
    }
    struct stat st {};
    if (::fstat(f.fd, &st) != 0) {
      return Errno("stat", tmp);
    }
    if (st.st_size != size_bytes) {
      return absl::DataLossError(absl::StrCat("checkpoint file ", tmp, " holds ", st.st_size,
                                              " bytes, the upload ", size_bytes));
    }
    if (::fsync(f.fd) != 0) {
      return Errno("fsync", tmp);
    }
  }
  const std::string shard = absl::StrCat(dir_, "/", std::string(sha256.substr(0, 2)));
  RETURN_IF_ERROR(MakeDir(shard));
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    return Errno(absl::StrCat("rename ", tmp, " to"), final_path);
  }
  RETURN_IF_ERROR(FsyncDir(shard));
  RETURN_IF_ERROR(FsyncDir(dir_ + "/tmp"));
  return FsyncDir(dir_);  // the shard directory's own entry
}

void BlobDir::RemoveTmp(int64_t upload_id) const { ::unlink(TmpPath(upload_id).c_str()); }

BlobFile::~BlobFile() { ::close(fd_); }

absl::StatusOr<std::string> BlobFile::ReadAt(int64_t offset, int64_t max_bytes) const {
  return PRead(fd_, offset, max_bytes, path_);
}

absl::StatusOr<std::unique_ptr<BlobFile>> BlobDir::OpenVerified(std::string_view sha256,
                                                                int64_t size_bytes) const {
  ASSIGN_OR_RETURN(const std::string path, PathFor(sha256));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return absl::DataLossError(absl::StrCat("checkpoint file ", path, " is missing"));
    }
    return Errno("open", path);
  }
  auto file = std::make_unique<BlobFile>(fd, path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return Errno("stat", path);
  }
  if (st.st_size != size_bytes) {
    return absl::DataLossError(absl::StrCat("checkpoint file ", path, " holds ", st.st_size,
                                            " bytes, its row says ", size_bytes));
  }
  Sha256 sha;
  for (int64_t offset = 0; offset < size_bytes; offset += kReadBlock) {
    ASSIGN_OR_RETURN(const std::string block, file->ReadAt(offset, kReadBlock));
    if (block.empty()) {
      break;
    }
    sha.Update(block);
  }
  const std::string actual = Sha256::ToHex(sha.Finish());
  if (actual != sha256) {
    return absl::DataLossError(
        absl::StrCat("checkpoint file ", path, " is corrupt: its bytes hash to ", actual));
  }
  return file;
}

absl::Status BlobDir::Remove(std::string_view sha256) const {
  ASSIGN_OR_RETURN(const std::string path, PathFor(sha256));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Errno("unlink", path);
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> BlobDir::RemoveOrphans(const std::set<std::string>& referenced) const {
  int64_t removed = 0;
  std::error_code ec;
  std::vector<std::filesystem::path> doomed;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory()) {
      continue;  // files beside the layout are not ours
    }
    const bool tmp = name == "tmp";
    if (!tmp && (name.size() != 2 || !IsSha256(name + std::string(62, '0')))) {
      continue;
    }
    for (const auto& file : std::filesystem::directory_iterator(entry.path(), ec)) {
      const std::string file_name = file.path().filename().string();
      if (tmp || !IsSha256(file_name) || file_name.substr(0, 2) != name ||
          referenced.count(file_name) == 0) {
        doomed.push_back(file.path());
      }
    }
    if (ec) {
      break;
    }
  }
  if (ec) {
    return absl::UnavailableError(absl::StrCat("list ", dir_, ": ", ec.message()));
  }
  for (const auto& path : doomed) {
    if (std::filesystem::remove(path, ec)) {
      ++removed;
    }
  }
  return removed;
}

}  // namespace sparsescale::store
