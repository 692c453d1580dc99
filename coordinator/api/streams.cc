// Streaming reactors: checkpoint upload (client stream), checkpoint download and job watch
// (server streams). Each keeps at most one read, write or store operation outstanding, so its
// callbacks never run concurrently, and finishes exactly once.
#include <mutex>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status.h"
#include "coordinator/api/convert.h"
#include "coordinator/api/job_follow_reactor.h"
#include "coordinator/api/services.h"
#include "coordinator/api/validate.h"
#include "coordinator/core/proto_convert.h"
#include "coordinator/store/checkpoint_reader.h"

namespace sparsescale::coordinator {
namespace {

// Receives info, then chunks; stages them, verifies size and SHA-256 at the end, and commits
// (fencing checked at both ends). Any failure aborts the staged rows: the previous checkpoint
// stays the latest.
class UploadReactor : public grpc::ServerReadReactor<v1::CheckpointUpload> {
 public:
  UploadReactor(CoordinatorCore* core, v1::UploadCheckpointResponse* response, UploadHooks hooks)
      : core_(core), response_(response), hooks_(std::move(hooks)) {
    StartRead(&message_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      EndOfStream();
    } else if (first_) {
      first_ = false;
      Start();
    } else if (message_.has_info() || !message_.worker_id().empty()) {
      Fail(absl::InvalidArgumentError("info: only the first message carries info and worker_id"));
    } else {
      absl::Status valid = ValidateChunk(message_.data(), "data");
      valid.ok() ? Consume() : Fail(valid);
    }
  }

  void OnDone() override { delete this; }

 private:
  void Start() {
    info_ = message_.info();
    // The token's right to act for the worker comes first, as for every other call.
    absl::Status valid = hooks_.admit_worker(message_.worker_id());
    if (valid.ok()) {
      valid = ValidateUploadStart(message_);
    }
    if (!valid.ok()) {
      Fail(valid);
      return;
    }
    worker_id_ = message_.worker_id();
    info_ = message_.info();
    core_->BeginUpload(worker_id_, info_, [this](absl::StatusOr<int64_t> id) {
      if (!id.ok()) {
        Fail(id.status());
        return;
      }
      upload_id_ = *id;
      Consume();
    });
  }

  // Stages the current message's data, then reads the next message.
  void Consume() {
    std::string data = std::move(*message_.mutable_data());
    if (data.empty()) {
      StartRead(&message_);
      return;
    }
    received_ += static_cast<int64_t>(data.size());
    if (received_ > info_.size_bytes()) {
      Fail(absl::InvalidArgumentError(
          absl::StrCat("data: more than info.size_bytes (", info_.size_bytes(), ") bytes sent")));
      return;
    }
    sha_.Update(data);
    core_->AppendUpload(upload_id_, chunks_++, std::move(data), [this](absl::Status status) {
      status.ok() ? StartRead(&message_) : Fail(status);
    });
  }

  void EndOfStream() {
    if (failed_) {
      return;
    }
    if (upload_id_ == 0) {
      Fail(absl::InvalidArgumentError("info: the upload ended before any message"));
      return;
    }
    if (received_ != info_.size_bytes()) {
      Fail(absl::DataLossError(absl::StrCat("checkpoint truncated: received ", received_, " of ",
                                            info_.size_bytes(), " bytes; nothing stored")));
      return;
    }
    const std::string actual = Sha256::ToHex(sha_.Finish());
    if (actual != info_.sha256()) {
      Fail(absl::DataLossError(absl::StrCat("checkpoint corrupt: sha256 of the received bytes is ",
                                            actual, ", info.sha256 says ", info_.sha256(),
                                            "; nothing stored")));
      return;
    }
    core_->CommitUpload(worker_id_, info_, upload_id_, [this](absl::Status status) {
      if (status.ok()) {
        *response_->mutable_info() = info_;
      }
      End(status);
    });
  }

  void Fail(const absl::Status& status) {
    failed_ = true;
    if (upload_id_ != 0) {
      core_->AbortUpload(upload_id_);
    }
    End(status);
  }

  void End(const absl::Status& status) {
    hooks_.finished(info_, status);
    Finish(ToGrpcStatus(status));
  }

  CoordinatorCore* core_;
  v1::UploadCheckpointResponse* response_;
  UploadHooks hooks_;
  v1::CheckpointUpload message_;
  bool first_ = true;
  bool failed_ = false;
  std::string worker_id_;
  v1::CheckpointInfo info_;
  int64_t upload_id_ = 0;
  int64_t received_ = 0;
  int chunks_ = 0;
  Sha256 sha_;
};

// Sends the info, then each stored chunk in order; a checkpoint in the blob directory is opened
// and verified (size, sha256) before anything is sent, then read in blocks from that open file.
class DownloadReactor : public grpc::ServerWriteReactor<v1::CheckpointChunk> {
 public:
  DownloadReactor(CoordinatorCore* core, const v1::DownloadCheckpointRequest* request)
      : core_(core), offset_(request->offset()) {
    absl::Status valid = ValidateDownload(*request);
    if (!valid.ok()) {
      Finish(ToGrpcStatus(valid));
      return;
    }
    core_->Read(
        [this, job = request->job_id(), step = request->step()](store::Store& store) {
          auto meta = store.FindCheckpoint(job, step);
          if (absl::IsNotFound(meta.status()) || (meta.ok() && !meta->has_value())) {
            return absl::NotFoundError(
                absl::StrCat("job_id: no checkpoint of job ", job,
                             step == 0 ? std::string() : absl::StrCat(" at step ", step)));
          }
          RETURN_IF_ERROR(meta.status());
          if (offset_ > (*meta)->size_bytes) {
            return absl::OutOfRangeError(absl::StrCat("offset: ", offset_,
                                                      " is past the end of the ",
                                                      (*meta)->size_bytes, "-byte checkpoint"));
          }
          ASSIGN_OR_RETURN(store::CheckpointReader reader,
                           store::CheckpointReader::Open(store, **meta, offset_));
          reader_.emplace(std::move(reader));
          return absl::OkStatus();
        },
        [this](absl::Status status) {
          if (!status.ok()) {
            Finish(ToGrpcStatus(status));
            return;
          }
          *message_.mutable_info() = CheckpointToProto(reader_->meta());
          StartWrite(&message_);
        });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped reading"));
      return;
    }
    if (reader_->done()) {
      Finish(grpc::Status::OK);
      return;
    }
    message_.Clear();
    core_->Read(
        [this](store::Store& store) -> absl::Status {
          ASSIGN_OR_RETURN(*message_.mutable_data(), reader_->Next(store));
          return absl::OkStatus();
        },
        [this](absl::Status status) {
          if (!status.ok()) {
            Finish(ToGrpcStatus(status));
          } else if (message_.data().empty()) {
            Finish(grpc::Status::OK);  // nothing more stored
          } else {
            StartWrite(&message_);
          }
        });
  }

  void OnDone() override { delete this; }

 private:
  CoordinatorCore* core_;
  const int64_t offset_;  // where the client resumes (bytes it already has)
  std::optional<store::CheckpointReader> reader_;  // set by the first read
  v1::CheckpointChunk message_;
};

// Streams job events: the job on every state change, plus points committed since the last
// event (at most kMaxPointsPerEvent each). After a requeue, points after the resume step are
// sent again (they replace the superseded ones). Ends when the job is final and all is sent.
class WatchReactor : public JobFollowReactor<v1::JobEvent> {
 public:
  static constexpr int kMaxPointsPerEvent = 5000;

  WatchReactor(CoordinatorCore* core, const v1::WatchJobRequest* request)
      : JobFollowReactor(core, request->id()) {
    Begin(ValidateId(request->id(), "id"), /*watch=*/true);
  }

 private:
  // Reads the job and the points since the last event.
  absl::StatusOr<FollowStep> Read(store::Store& store, v1::JobEvent* event) override {
    ASSIGN_OR_RETURN(std::optional<store::JobRow> job, store.FindJob(job_id()));
    if (!job.has_value()) {
      return absl::NotFoundError(absl::StrCat("id: job ", job_id(), " does not exist"));
    }
    if (job->attempt != last_attempt_) {
      last_step_ = std::min(last_step_, job->checkpoint_step);
      last_attempt_ = job->attempt;
    }
    ASSIGN_OR_RETURN(std::vector<v1::LossPoint> points,
                     store.ReadCurve(job_id(), last_step_, kMaxPointsPerEvent));
    const bool full_page = static_cast<int>(points.size()) == kMaxPointsPerEvent;
    for (v1::LossPoint& p : points) {
      last_step_ = p.step();
      *event->add_points() = std::move(p);
    }
    const FollowStep step{.send = first_ || job->state != last_state_ || !points.empty(),
                          .more = full_page,
                          .done = store::IsFinal(job->state) && !full_page};
    first_ = false;
    last_state_ = job->state;
    ASSIGN_OR_RETURN(*event->mutable_job(), JobToProto(*job));
    return step;
  }

  bool first_ = true;
  int64_t last_step_ = -1;
  int last_attempt_ = -1;
  store::JobState last_state_ = store::JobState::kQueued;
};

}  // namespace

grpc::ServerReadReactor<v1::CheckpointUpload>* NewUploadReactor(
    CoordinatorCore* core, v1::UploadCheckpointResponse* response, UploadHooks hooks) {
  return new UploadReactor(core, response, std::move(hooks));
}

grpc::ServerWriteReactor<v1::CheckpointChunk>* NewDownloadReactor(
    CoordinatorCore* core, const v1::DownloadCheckpointRequest* request) {
  return new DownloadReactor(core, request);
}

grpc::ServerWriteReactor<v1::JobEvent>* NewWatchReactor(CoordinatorCore* core,
                                                        const v1::WatchJobRequest* request) {
  return new WatchReactor(core, request);
}

}  // namespace sparsescale::coordinator
