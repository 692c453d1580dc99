#include "coordinator/api/datasets.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "coordinator/api/convert.h"

namespace sparsescale::coordinator {
namespace {

absl::Status Invalid(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// Sends the asked chunks one after another, each read on the read pool.
class ChunkDownloadReactor : public grpc::ServerWriteReactor<v1::DatasetChunk> {
 public:
  ChunkDownloadReactor(CoordinatorCore* core, const v1::DownloadChunksRequest* request)
      : core_(core), hash_(request->dataset()), chunks_(request->chunks().begin(),
                                                        request->chunks().end()) {
    absl::Status valid = ValidateDownloadChunks(*request);
    if (!valid.ok()) {
      Finish(ToGrpcStatus(valid));
      return;
    }
    core_->Read(
        [this](store::Store& store) -> absl::Status {
          ASSIGN_OR_RETURN(std::optional<store::DatasetRow> found,
                           store::FindDataset(store, hash_, /*with_files=*/false));
          if (!found || found->state != store::DatasetState::kReady) {
            return absl::NotFoundError(absl::StrCat("dataset: no ready dataset with hash ", hash_));
          }
          return Next(store);
        },
        [this](absl::Status status) { Send(status); });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped reading"));
      return;
    }
    if (next_ == chunks_.size()) {
      Finish(grpc::Status::OK);
      return;
    }
    core_->Read([this](store::Store& store) { return Next(store); },
                [this](absl::Status status) { Send(status); });
  }

  void OnDone() override { delete this; }

 private:
  absl::Status Next(store::Store& store) {
    message_.Clear();
    if (next_ == chunks_.size()) {
      return absl::OkStatus();
    }
    const std::string& chunk = chunks_[next_];
    ASSIGN_OR_RETURN(const bool member, store::DatasetHasChunk(store, hash_, chunk));
    if (!member) {
      return Invalid(absl::StrCat("chunks[", next_, "]"),
                     absl::StrCat("chunk ", chunk, " is not part of dataset ", hash_));
    }
    ASSIGN_OR_RETURN(std::optional<std::string> data, store::ReadDatasetChunk(store, chunk));
    if (!data) {
      return absl::NotFoundError(
          absl::StrCat("chunks[", next_, "]: chunk ", chunk, " vanished (dataset deleted?)"));
    }
    message_.set_sha256(chunk);
    *message_.mutable_data() = std::move(*data);
    ++next_;
    return absl::OkStatus();
  }

  void Send(const absl::Status& status) {
    if (!status.ok()) {
      Finish(ToGrpcStatus(status));
    } else if (message_.sha256().empty()) {
      Finish(grpc::Status::OK);  // nothing asked
    } else {
      StartWrite(&message_);
    }
  }

  CoordinatorCore* core_;
  const std::string hash_;
  const std::vector<std::string> chunks_;
  size_t next_ = 0;
  v1::DatasetChunk message_;
};

}  // namespace

std::vector<store::DatasetFileRow> FilesFromProto(const v1::CommitDatasetRequest& r) {
  std::vector<store::DatasetFileRow> files;
  files.reserve(static_cast<size_t>(r.files_size()));
  for (const v1::DatasetFile& f : r.files()) {
    files.push_back(store::DatasetFileRow{.name = f.name(),
                                          .size_bytes = f.size_bytes(),
                                          .sha256 = f.sha256(),
                                          .chunks = {f.chunks().begin(), f.chunks().end()}});
  }
  return files;
}

void DatasetToProto(const store::DatasetRow& row, v1::Dataset* out) {
  out->set_name(row.name);
  out->set_hash(row.hash);
  out->set_state(static_cast<v1::DatasetState>(row.state));
  out->set_total_bytes(row.total_bytes);
  out->set_file_count(row.file_count);
  out->set_created_unix_ms(row.created_unix_ms);
  out->set_chunks_stored(row.chunks_stored);
  for (const store::DatasetFileRow& f : row.files) {
    v1::DatasetFile* file = out->add_files();
    file->set_name(f.name);
    file->set_size_bytes(f.size_bytes);
    file->set_sha256(f.sha256);
    for (const std::string& chunk : f.chunks) {
      file->add_chunks(chunk);
    }
  }
}

void ResolveDataset(CoordinatorCore* core, v1::JobSpec* spec, std::string field,
                    CoordinatorCore::Done done) {
  const std::string name = spec->data().dataset();
  if (name.empty()) {
    done(absl::OkStatus());
    return;
  }
  auto hash = std::make_shared<std::string>();
  core->Read(
      [name, field, hash](store::Store& store) -> absl::Status {
        ASSIGN_OR_RETURN(std::optional<store::DatasetRow> found,
                         store::FindDataset(store, name, /*with_files=*/false));
        if (!found) {
          return Invalid(field, absl::StrCat("no dataset ", name,
                                             " (`sparsescale dataset list` shows them)"));
        }
        if (found->state != store::DatasetState::kReady) {
          return Invalid(field, absl::StrCat("dataset ", name,
                                             " is still uploading (finish the upload first)"));
        }
        *hash = found->hash;
        return absl::OkStatus();
      },
      [spec, hash, done = std::move(done)](absl::Status status) {
        if (status.ok()) {
          spec->mutable_data()->set_dataset(*hash);
        }
        done(status);
      });
}

grpc::ServerWriteReactor<v1::DatasetChunk>* NewChunkDownloadReactor(
    CoordinatorCore* core, const v1::DownloadChunksRequest* request) {
  return new ChunkDownloadReactor(core, request);
}

}  // namespace sparsescale::coordinator
