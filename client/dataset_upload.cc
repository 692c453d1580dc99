#include "client/dataset_upload.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status.h"
#include "spec/job_spec.h"

namespace sparsescale::client {
namespace {

namespace v1 = sparsescale::v1;
namespace fs = std::filesystem;

constexpr int kHashesPerQuestion = 65536;

// Reads up to `size` bytes at `offset` of the open file `fd` into *out.
absl::Status ReadAt(int fd, const std::string& path, int64_t offset, int64_t size,
                    std::string* out) {
  out->resize(static_cast<size_t>(size));
  int64_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, out->data() + done, static_cast<size_t>(size - done),
                              static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return absl::InternalError(absl::StrCat("cannot read ", path, " at byte ", offset + done,
                                              ": ", n == 0 ? "file shrank" : std::strerror(errno)));
    }
    done += n;
  }
  return absl::OkStatus();
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::StatusOr<int> OpenFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string message = absl::StrCat("cannot open ", path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(message) : absl::InternalError(message);
  }
  return fd;
}

bool Retryable(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsResourceExhausted(s) || absl::IsDeadlineExceeded(s);
}

}  // namespace

absl::StatusOr<std::vector<v1::DatasetFile>> HashFiles(
    const std::vector<std::string>& paths, UploadProgress* progress,
    const std::function<void(const UploadProgress&)>& on_progress) {
  std::set<std::string> names;
  for (const std::string& path : paths) {
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec) {
      return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", ec.message()));
    }
    progress->bytes_total += static_cast<int64_t>(size);
    const std::string name = fs::path(path).filename().string();
    RETURN_IF_ERROR(spec::ValidateDatasetFileName(name, path));
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": a second file named ", name, " (files are stored by base name)"));
    }
  }
  std::vector<v1::DatasetFile> files;
  std::string buffer;
  for (const std::string& path : paths) {
    ASSIGN_OR_RETURN(const int raw, OpenFile(path));
    Fd fd(raw);
    v1::DatasetFile file;
    file.set_name(fs::path(path).filename().string());
    Sha256 whole;
    int64_t offset = 0;
    const auto size = static_cast<int64_t>(fs::file_size(path));
    while (offset < size) {
      const int64_t n = std::min(kDatasetChunkBytes, size - offset);
      RETURN_IF_ERROR(ReadAt(fd.get(), path, offset, n, &buffer));
      whole.Update(buffer);
      file.add_chunks(Sha256Hex(buffer));
      offset += n;
      progress->bytes_hashed += n;
      ++progress->chunks_total;
      if (on_progress) {
        on_progress(*progress);
      }
    }
    file.set_size_bytes(size);
    file.set_sha256(Sha256::ToHex(whole.Finish()));
    files.push_back(std::move(file));
  }
  progress->hashing = false;
  return files;
}

absl::StatusOr<UploadResult> UploadDataset(CoordinatorClient& client, const std::string& name,
                                           const std::vector<std::string>& paths,
                                           const UploadOptions& options) {
  RETURN_IF_ERROR(spec::ValidateDatasetName(name, "NAME"));
  if (paths.empty()) {
    return absl::InvalidArgumentError("FILES: at least one file is required");
  }
  UploadResult result;
  UploadProgress& progress = result.progress;
  ASSIGN_OR_RETURN(std::vector<v1::DatasetFile> files,
                   HashFiles(paths, &progress, options.progress));
  auto report = [&] {
    if (options.progress) {
      options.progress(progress);
    }
  };
  report();

  v1::CommitDatasetRequest commit;
  commit.set_name(name);
  for (const v1::DatasetFile& file : files) {
    *commit.add_files() = file;
  }
  // Twice at most: a chunk shared with a dataset deleted meanwhile is sent on the second round.
  for (int round = 0;; ++round) {
    std::vector<std::string> all;
    for (const v1::DatasetFile& file : files) {
      all.insert(all.end(), file.chunks().begin(), file.chunks().end());
    }
    std::unordered_set<std::string> missing;
    for (size_t at = 0; at < all.size(); at += kHashesPerQuestion) {
      v1::FindMissingChunksRequest question;
      question.set_dataset(name);
      for (size_t i = at; i < std::min(all.size(), at + kHashesPerQuestion); ++i) {
        question.add_chunks(all[i]);
      }
      ASSIGN_OR_RETURN(v1::FindMissingChunksResponse answer, client.FindMissingChunks(question));
      missing.insert(answer.missing().begin(), answer.missing().end());
    }
    std::string buffer;
    for (size_t f = 0; f < files.size(); ++f) {
      ASSIGN_OR_RETURN(const int raw, OpenFile(paths[f]));
      Fd fd(raw);
      for (int c = 0; c < files[f].chunks_size(); ++c) {
        const std::string& hash = files[f].chunks(c);
        const int64_t offset = kDatasetChunkBytes * c;
        const int64_t n = std::min(kDatasetChunkBytes, files[f].size_bytes() - offset);
        if (missing.erase(hash) == 0) {
          if (round == 0) {
            progress.bytes_present += n;
            report();
          }
          continue;
        }
        v1::PutChunkRequest put;
        put.set_dataset(name);
        put.set_sha256(hash);
        RETURN_IF_ERROR(ReadAt(fd.get(), paths[f], offset, n, put.mutable_data()));
        if (Sha256Hex(put.data()) != hash) {
          return absl::FailedPreconditionError(absl::StrCat(
              paths[f], " changed while it was being uploaded (chunk ", c, "); upload again"));
        }
        absl::Status sent;
        auto backoff = std::chrono::milliseconds(200);
        for (int attempt = 1;; ++attempt) {
          sent = client.PutChunk(put).status();
          if (sent.ok() || !Retryable(sent) || attempt >= options.max_tries_per_chunk) {
            break;
          }
          std::this_thread::sleep_for(backoff);
          backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
        }
        if (!sent.ok()) {
          return absl::Status(sent.code(), absl::StrCat("sending chunk ", c, " of ", paths[f],
                                                        ": ", sent.message(),
                                                        " (run the upload again to resume)"));
        }
        progress.bytes_sent += n;
        ++progress.chunks_sent;
        report();
      }
    }
    absl::StatusOr<v1::CommitDatasetResponse> committed = client.CommitDataset(commit);
    if (committed.ok()) {
      result.dataset = committed->dataset();
      result.created = committed->created();
      return result;
    }
    const bool lost_chunk = absl::IsInvalidArgument(committed.status()) &&
                            committed.status().message().find("is not stored") != std::string::npos;
    if (!lost_chunk || round >= 1) {
      return committed.status();
    }
  }
}

}  // namespace sparsescale::client
