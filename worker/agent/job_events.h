// The protocol between the worker daemon and the job process it runs: the job process writes
// one JSON object per line to stdout for every event (a loss point, a checkpoint written,
// progress, and finally done / stopped / error); the daemon parses them. Doubles round-trip
// exactly (17 significant digits). Pure functions; thread-safe.
//
//   {"event":"point","step":12,"tokens":1536,"train_loss":3.1,"eval_loss":3.2,...}
//   {"event":"checkpoint","step":50,"path":"/work/j/upload/ckpt-50.safetensors"}
//   {"event":"progress","step":12,"total_steps":200,"tokens":1536,"train_loss":3.1,...}
//   {"event":"done","steps":200,"final_train_loss":2.5,"final_eval_loss":2.6,...}
//   {"event":"stopped","step":57}
//   {"event":"error","code":3,"message":"model.width: must be > 0, got 0"}
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::agent {

struct JobProgress {
  int64_t step = 0;
  int64_t total_steps = 0;
  int64_t tokens = 0;
  double train_loss = 0;
  double tokens_per_s = 0;
  double eta_s = 0;
};

struct JobSummary {
  int64_t steps = 0;
  double final_train_loss = 0;
  std::optional<double> final_eval_loss;
  double final_sparsity = 0;
  int64_t nonzeros_paper = 0;
  int64_t nonzeros_exact = 0;
  double wall_s = 0;
};

struct ChildEvent {
  enum class Kind { kPoint, kCheckpoint, kProgress, kDone, kStopped, kError };
  Kind kind = Kind::kPoint;
  sparsescale::v1::LossPoint point;  // kPoint
  int64_t step = 0;                  // kCheckpoint, kStopped
  std::string path;                  // kCheckpoint: a file the daemon may upload and delete
  JobProgress progress;              // kProgress
  JobSummary summary;                // kDone
  absl::Status error;                // kError (never OK)
};

// One line of JSON (no trailing newline).
std::string EncodePoint(const sparsescale::v1::LossPoint& point);
std::string EncodeCheckpoint(int64_t step, const std::string& path);
std::string EncodeProgress(const JobProgress& progress);
std::string EncodeDone(const JobSummary& summary);
std::string EncodeStopped(int64_t step);
std::string EncodeError(const absl::Status& error);

// Parses one line. InvalidArgument naming the problem (not JSON, unknown event, a missing or
// mistyped field) for anything else; the daemon treats that as the job's own failure.
absl::StatusOr<ChildEvent> ParseChildEvent(const std::string& line);

}  // namespace sparsescale::agent
