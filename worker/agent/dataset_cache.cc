#include "worker/agent/dataset_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/status.h"
#include "worker/agent/retry.h"

namespace sparsescale::agent {
namespace {

namespace fs = std::filesystem;
namespace v1 = sparsescale::v1;

constexpr const char* kManifest = "manifest.pb";
// A received chunk is hashed (twice: chunk and file) and written in pieces of this size, each
// piece while it is still in the core's L2 cache.
constexpr size_t kPassBytes = size_t{256} << 10;

bool IsHash(const std::string& text) {
  if (text.size() != 64) {
    return false;
  }
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<v1::Dataset> ReadManifest(const fs::path& dir) {
  std::ifstream in(dir / kManifest, std::ios::binary);
  v1::Dataset dataset;
  if (!in || !dataset.ParseFromIstream(&in)) {
    return absl::DataLossError(absl::StrCat("cannot read ", (dir / kManifest).string()));
  }
  return dataset;
}

// The file's (size, mtime in ns); (-1, -1) when it cannot be stat'ed.
std::pair<int64_t, int64_t> SizeAndMtime(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return {-1, -1};
  }
  return {static_cast<int64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

absl::StatusOr<std::string> HashFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::DataLossError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  Sha256 sha;
  std::string buffer(1 << 20, '\0');
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      ::close(fd);
      return absl::DataLossError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
    }
    if (n == 0) {
      break;
    }
    sha.Update(std::string_view(buffer.data(), static_cast<size_t>(n)));
  }
  ::close(fd);
  return Sha256::ToHex(sha.Finish());
}

}  // namespace

DatasetCache::Pin::~Pin() { cache_->Release(hash_); }

DatasetCache::DatasetCache(WorkerRpc* rpc, DatasetCacheOptions options)
    : rpc_(rpc), options_(std::move(options)), corrupt_left_(options_.corrupt_chunks) {
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) {
    LogWarning("dataset cache: cannot create %s: %s", options_.dir, ec.message());
    return;
  }
  for (const fs::directory_entry& e : fs::directory_iterator(options_.dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(".staging-", 0) == 0) {
      fs::remove_all(e.path(), ec);
      continue;
    }
    if (!IsHash(name)) {
      continue;
    }
    absl::StatusOr<v1::Dataset> manifest = ReadManifest(e.path());
    if (!manifest.ok() || manifest->hash() != name) {
      fs::remove_all(e.path(), ec);  // an incomplete or foreign directory: fetch again
      continue;
    }
    Entry& entry = entries_[name];
    entry.state = State::kReady;
    entry.bytes = manifest->total_bytes();
    // Older first in LRU order, by the manifest's age.
    entry.last_used = static_cast<uint64_t>(
        std::max<int64_t>(0, SizeAndMtime((e.path() / kManifest).string()).second / 1000000));
    clock_ = std::max(clock_, entry.last_used);
  }
}

absl::StatusOr<std::shared_ptr<DatasetCache::Pin>> DatasetCache::Acquire(const std::string& hash) {
  if (!IsHash(hash)) {
    return absl::InvalidArgumentError(absl::StrCat("data.dataset: \"", hash,
                                                   "\" is not a dataset hash"));
  }
  const fs::path dir = fs::path(options_.dir) / hash;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    Entry& entry = entries_[hash];
    if (entry.state == State::kLoading) {
      cv_.wait(lock);
      continue;
    }
    if (entry.state == State::kReady) {
      ++entry.pins;
      entry.last_used = ++clock_;
      const bool full = !entry.verified;
      auto seen = entry.seen;
      lock.unlock();
      absl::Status checked = Check(hash, full, &seen);
      lock.lock();
      Entry& again = entries_[hash];
      if (checked.ok()) {
        again.verified = true;
        again.seen = std::move(seen);
        return std::shared_ptr<Pin>(new Pin(this, hash, (dir / "files").string()));
      }
      --again.pins;
      LogWarning("dataset cache: %s is damaged (%s); fetching it again", hash, checked.ToString());
      ++stats_.damaged_in_cache;
      if (again.pins > 0) {
        return absl::DataLossError(absl::StrCat("cached dataset ", hash, " is damaged (",
                                                checked.message(),
                                                ") and in use by another job; retry later"));
      }
      again.state = State::kAbsent;
      std::error_code ec;
      fs::remove_all(dir, ec);
      continue;
    }
    entry.state = State::kLoading;
    lock.unlock();
    Entry loaded;
    absl::Status status = Load(hash, &loaded);
    lock.lock();
    Entry& done = entries_[hash];
    if (status.ok()) {
      done.state = State::kReady;
      done.bytes = loaded.bytes;
      done.verified = true;
      done.seen = std::move(loaded.seen);
      ++stats_.downloads;
    } else {
      done.state = State::kAbsent;
    }
    cv_.notify_all();
    if (!status.ok()) {
      return status;
    }
  }
}

void DatasetCache::Release(const std::string& hash) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(hash);
  if (it != entries_.end() && it->second.pins > 0) {
    --it->second.pins;
    it->second.last_used = ++clock_;
  }
}

DatasetCacheStats DatasetCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

int64_t DatasetCache::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t bytes = 0;
  for (const auto& [hash, entry] : entries_) {
    bytes += entry.state == State::kReady ? entry.bytes : 0;
  }
  return bytes;
}

void DatasetCache::MakeRoom(const std::string& hash, int64_t incoming) {
  if (options_.max_bytes <= 0) {
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  while (true) {
    int64_t used = 0;
    std::string victim;
    uint64_t oldest = UINT64_MAX;
    for (const auto& [h, entry] : entries_) {
      if (entry.state != State::kAbsent) {
        used += entry.bytes;
      }
      if (h != hash && entry.state == State::kReady && entry.pins == 0 &&
          entry.last_used < oldest) {
        oldest = entry.last_used;
        victim = h;
      }
    }
    if (used + incoming <= options_.max_bytes) {
      return;
    }
    if (victim.empty()) {
      LogWarning("dataset cache: %d bytes over --dataset-cache-bytes %d, but every cached "
                 "dataset is in use",
                 used + incoming - options_.max_bytes, options_.max_bytes);
      return;
    }
    LogInfo("dataset cache: evicting %s (least recently used)", victim);
    std::error_code ec;
    fs::remove_all(fs::path(options_.dir) / victim, ec);
    entries_.erase(victim);
    ++stats_.evictions;
  }
}

template <typename F>
absl::Status DatasetCache::WithRetries(const std::string& what, F attempt) {
  Backoff backoff(options_.retry_initial, std::chrono::milliseconds(5000));
  absl::Status status;
  for (int i = 1; i <= options_.max_tries; ++i) {
    status = attempt();
    if (status.ok() || !(IsTransient(status) || absl::IsDataLoss(status)) ||
        i == options_.max_tries) {
      break;
    }
    LogWarning("dataset cache: %s failed (try %d of %d): %s; trying again", what, i,
               options_.max_tries, status.ToString());
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.file_retries;
    }
    std::this_thread::sleep_for(backoff.Next());
  }
  return status;
}

absl::Status DatasetCache::Load(const std::string& hash, Entry* result) {
  v1::GetDatasetRequest request;
  request.set_dataset(hash);
  if (options_.worker_id) {
    request.set_worker_id(options_.worker_id());
  }
  v1::Dataset manifest;
  RETURN_IF_ERROR(WithRetries("reading the dataset's manifest", [&]() -> absl::Status {
    ASSIGN_OR_RETURN(manifest, rpc_->GetDataset(request));
    return absl::OkStatus();
  }));
  if (manifest.hash() != hash) {
    return absl::DataLossError(absl::StrCat("asked for dataset ", hash, ", got ",
                                            manifest.hash()));
  }
  MakeRoom(hash, manifest.total_bytes());
  fs::path staging;
  {
    std::lock_guard<std::mutex> lock(mu_);
    staging = fs::path(options_.dir) /
              absl::StrCat(".staging-", hash, "-", ::getpid(), "-", ++staging_seq_);
  }
  std::error_code ec;
  fs::create_directories(staging / "files", ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create ", staging.string(), ": ",
                                            ec.message()));
  }
  LogInfo("dataset cache: downloading %s (%s, %d files, %d bytes)", hash, manifest.name(),
          manifest.files_size(), manifest.total_bytes());
  for (const v1::DatasetFile& file : manifest.files()) {
    const fs::path path = staging / "files" / file.name();
    fs::create_directories(path.parent_path(), ec);
    absl::Status s = WithRetries(absl::StrCat("downloading ", file.name()),
                                 [&] { return DownloadFile(hash, file, path.string()); });
    if (!s.ok()) {
      fs::remove_all(staging, ec);
      return s;
    }
    result->seen[file.name()] = SizeAndMtime(path.string());
  }
  {
    std::ofstream out(staging / kManifest, std::ios::binary | std::ios::trunc);
    if (!manifest.SerializeToOstream(&out) || !out.flush()) {
      fs::remove_all(staging, ec);
      return absl::InternalError(absl::StrCat("cannot write ", (staging / kManifest).string()));
    }
  }
  const fs::path dir = fs::path(options_.dir) / hash;
  fs::remove_all(dir, ec);
  fs::rename(staging, dir, ec);
  if (ec) {
    fs::remove_all(staging, ec);
    return absl::InternalError(absl::StrCat("cannot rename ", staging.string(), " to ",
                                            dir.string(), ": ", ec.message()));
  }
  result->bytes = manifest.total_bytes();
  LogInfo("dataset cache: %s ready (%d bytes)", hash, manifest.total_bytes());
  return absl::OkStatus();
}

absl::Status DatasetCache::DownloadFile(const std::string& hash, const v1::DatasetFile& file,
                                        const std::string& path) {
  const std::string part = path + ".part";
  const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot create ", part, ": ", std::strerror(errno)));
  }
  Sha256 whole;
  int64_t bytes = 0;
  int index = 0;
  v1::DownloadChunksRequest request;
  request.set_dataset(hash);
  if (options_.worker_id) {
    request.set_worker_id(options_.worker_id());
  }
  *request.mutable_chunks() = file.chunks();
  absl::Status status = absl::OkStatus();
  if (file.chunks_size() > 0) {
    status = rpc_->DownloadChunks(request, [&](v1::DatasetChunk& chunk) -> absl::Status {
      if (index >= file.chunks_size() || chunk.sha256() != file.chunks(index)) {
        return absl::DataLossError(absl::StrCat(file.name(), ": chunk ", index,
                                                " is not the one asked for"));
      }
      std::string* data = chunk.mutable_data();
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.chunks_received;
        stats_.bytes_received += static_cast<int64_t>(data->size());
        if (corrupt_left_ > 0 && !data->empty()) {
          --corrupt_left_;
          (*data)[data->size() / 2] ^= 0x5a;  // fault injection (tests)
        }
      }
      // One pass over the chunk, piece by piece while the piece is in cache: the chunk's hash,
      // the file's hash and the write. A damaged chunk leaves bytes in the .part file and in
      // `whole`, but fails the file, which is then deleted and fetched again from scratch.
      Sha256 piece_sha;
      for (size_t offset = 0; offset < data->size(); offset += kPassBytes) {
        const std::string_view piece =
            std::string_view(*data).substr(offset, std::min(kPassBytes, data->size() - offset));
        piece_sha.Update(piece);
        whole.Update(piece);
        size_t written = 0;
        while (written < piece.size()) {
          const ssize_t n = ::write(fd, piece.data() + written, piece.size() - written);
          if (n < 0 && errno == EINTR) {
            continue;
          }
          if (n < 0) {
            return absl::InternalError(absl::StrCat("cannot write ", part, ": ",
                                                    std::strerror(errno)));
          }
          written += static_cast<size_t>(n);
        }
      }
      const std::string digest = Sha256::ToHex(piece_sha.Finish());
      if (digest != file.chunks(index)) {
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.damaged_chunks;
        return absl::DataLossError(absl::StrCat(file.name(), ": chunk ", index,
                                                " arrived damaged (sha256 ", digest, ", expected ",
                                                file.chunks(index), ")"));
      }
      bytes += static_cast<int64_t>(data->size());
      ++index;
      return absl::OkStatus();
    });
  }
  const bool closed = ::close(fd) == 0;
  if (status.ok() && !closed) {
    status = absl::InternalError(absl::StrCat("cannot write ", part, ": ", std::strerror(errno)));
  }
  if (status.ok() && index != file.chunks_size()) {
    status = absl::DataLossError(absl::StrCat(file.name(), ": the stream ended after ", index,
                                              " of ", file.chunks_size(), " chunks"));
  }
  if (status.ok()) {
    const std::string digest = Sha256::ToHex(whole.Finish());
    if (bytes != file.size_bytes() || digest != file.sha256()) {
      status = absl::DataLossError(absl::StrCat(file.name(), ": ", bytes, " bytes with sha256 ",
                                                digest, ", expected ", file.size_bytes(),
                                                " bytes with sha256 ", file.sha256()));
    }
  }
  std::error_code ec;
  if (!status.ok()) {
    fs::remove(part, ec);
    return status;
  }
  fs::rename(part, path, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot rename ", part, ": ", ec.message()));
  }
  return absl::OkStatus();
}

absl::Status DatasetCache::Check(const std::string& hash, bool full,
                                 std::map<std::string, std::pair<int64_t, int64_t>>* seen) {
  const fs::path dir = fs::path(options_.dir) / hash;
  ASSIGN_OR_RETURN(v1::Dataset manifest, ReadManifest(dir));
  for (const v1::DatasetFile& file : manifest.files()) {
    const std::string path = (dir / "files" / file.name()).string();
    const std::pair<int64_t, int64_t> now = SizeAndMtime(path);
    if (now.first != file.size_bytes()) {
      return absl::DataLossError(absl::StrCat(path, " is ", now.first, " bytes, expected ",
                                              file.size_bytes()));
    }
    auto known = seen->find(file.name());
    if (!full && known != seen->end() && known->second == now) {
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.reverified_files;
    }
    ASSIGN_OR_RETURN(const std::string digest, HashFile(path));
    if (digest != file.sha256()) {
      return absl::DataLossError(absl::StrCat(path, " has sha256 ", digest, ", expected ",
                                              file.sha256()));
    }
    (*seen)[file.name()] = now;
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::agent
