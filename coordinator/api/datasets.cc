#include "coordinator/api/datasets.h"

#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "coordinator/api/convert.h"

namespace sparsescale::coordinator {
namespace {

absl::Status Invalid(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// Sends the asked chunks in order, double-buffered: while one message is being sent, the next
// chunk is read on the read pool into the other one (copied once, out of SQLite's buffer into
// the message's bytes, whose capacity is reused from chunk to chunk). At most one read and one
// write are in flight. State is guarded by mu_; StartWrite, Finish and the read pool are called
// without it (gRPC may run a reaction on the calling thread). A read in flight when gRPC is
// done with the call deletes the reactor when it completes.
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
    Action action;
    {
      std::lock_guard<std::mutex> lock(mu_);
      action = NextActionLocked();  // the first read: the dataset's check, then chunk 0
    }
    Run(this, action);
  }

  void OnWriteDone(bool ok) override {
    Action action;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      if (!ok) {
        finished_ = true;
        action.finish = grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped reading");
      } else {
        action = NextActionLocked();
      }
    }
    Run(this, action);
  }

  void OnDone() override {
    bool remove = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
      remove = !reading_;
    }
    if (remove) {
      delete this;
    }
  }

 private:
  // What to do once mu_ is released: at most one write, one read and one Finish.
  struct Action {
    v1::DatasetChunk* write = nullptr;
    int read_slot = -1;
    std::optional<grpc::Status> finish;
  };

  // Decides the next steps from the state (mu_ held) and marks them as started.
  Action NextActionLocked() {
    Action action;
    if (finished_) {
      return action;
    }
    if (!writing_ && filled_) {
      action.write = &messages_[fill_];
      writing_ = true;
      filled_ = false;
      fill_ = 1 - fill_;
    }
    if (!writing_ && !reading_ && (!error_.ok() || (checked_ && next_ == chunks_.size()))) {
      finished_ = true;
      action.finish = ToGrpcStatus(error_);
      return action;
    }
    if (error_.ok() && !reading_ && !filled_ && (!checked_ || next_ < chunks_.size())) {
      reading_ = true;
      action.read_slot = fill_;
    }
    return action;
  }

  // Static: it touches the reactor only for an action that keeps it alive (a write or a read
  // in flight, or a Finish not yet called).
  static void Run(ChunkDownloadReactor* self, const Action& action) {
    if (action.write != nullptr) {
      self->StartWrite(action.write);
    }
    if (action.read_slot >= 0) {
      v1::DatasetChunk* message = &self->messages_[action.read_slot];
      self->core_->Read(
          [self, message](store::Store& store) { return self->Load(store, message); },
          [self](absl::Status status) { self->OnRead(std::move(status)); });
    }
    if (action.finish) {
      self->Finish(*action.finish);  // last: OnDone may delete the reactor from here on
    }
  }

  // On the read pool, without mu_: the reading flag gives this thread the message and next_.
  absl::Status Load(store::Store& store, v1::DatasetChunk* message) {
    loaded_ = false;
    if (!checked_) {
      ASSIGN_OR_RETURN(std::optional<store::DatasetRow> found,
                       store::FindDataset(store, hash_, /*with_files=*/false));
      if (!found || found->state != store::DatasetState::kReady) {
        return absl::NotFoundError(absl::StrCat("dataset: no ready dataset with hash ", hash_));
      }
      checked_ = true;
      if (chunks_.empty()) {
        return absl::OkStatus();
      }
    }
    const std::string& chunk = chunks_[next_];
    ASSIGN_OR_RETURN(const bool member, store::DatasetHasChunk(store, hash_, chunk));
    if (!member) {
      return Invalid(absl::StrCat("chunks[", next_, "]"),
                     absl::StrCat("chunk ", chunk, " is not part of dataset ", hash_));
    }
    ASSIGN_OR_RETURN(const bool found,
                     store::ReadDatasetChunkInto(store, chunk, message->mutable_data()));
    if (!found) {
      return absl::NotFoundError(
          absl::StrCat("chunks[", next_, "]: chunk ", chunk, " vanished (dataset deleted?)"));
    }
    message->set_sha256(chunk);
    ++next_;
    loaded_ = true;
    return absl::OkStatus();
  }

  void OnRead(absl::Status status) {
    Action action;
    bool remove = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      reading_ = false;
      if (!status.ok()) {
        error_ = std::move(status);
      } else if (loaded_) {
        filled_ = true;
      }
      if (done_) {
        remove = true;  // gRPC finished the call while this read ran
      } else {
        action = NextActionLocked();
      }
    }
    if (remove) {
      delete this;
      return;
    }
    Run(this, action);  // with nothing to do, Run touches nothing (OnDone may have run)
  }

  CoordinatorCore* core_;
  const std::string hash_;
  const std::vector<std::string> chunks_;
  // Touched only by the thread that holds the reading flag.
  bool checked_ = false;  // the dataset was found ready
  size_t next_ = 0;       // the next chunk to read
  bool loaded_ = false;   // the last read filled its message (not so for the check alone)
  v1::DatasetChunk messages_[2];
  std::mutex mu_;
  int fill_ ABSL_GUARDED_BY(mu_) = 0;         // the message the next read fills (not in a write)
  bool filled_ ABSL_GUARDED_BY(mu_) = false;  // messages_[fill_] holds a chunk to send
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
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
