// The protocol between the worker daemon and the job process it runs: the job process writes
// one v1::JobProcessEvent (proto/sparsescale/v1/job_process.proto) per line to stdout for
// every event (a loss point, a checkpoint written, progress, and finally done / stopped /
// error) in protobuf's JSON mapping; the daemon parses them. Doubles round-trip exactly, NaN
// included. Pure functions; thread-safe.
//
//   {"point":{"step":"12","tokens":"1536","train_loss":3.1,"eval_loss":3.2,...}}
//   {"checkpoint":{"step":"50","path":"/work/j/upload/ckpt-50.safetensors"}}
//   {"progress":{"step":"12","total_steps":"200","tokens":"1536","train_loss":3.1,...}}
//   {"done":{"steps":"200","final_train_loss":2.5,"final_eval_loss":2.6,...}}
//   {"stopped":{"step":"57"}}
//   {"error":{"code":3,"message":"model.width: must be > 0, got 0"}}
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sparsescale/v1/job_process.pb.h"

namespace sparsescale::agent {

// One line of JSON (no trailing newline).
std::string EncodeEvent(const sparsescale::v1::JobProcessEvent& event);
std::string EncodePoint(const sparsescale::v1::LossPoint& point);
std::string EncodeCheckpoint(int64_t step, const std::string& path);
std::string EncodeProgress(const sparsescale::v1::JobProgress& progress);
std::string EncodeDone(const sparsescale::v1::JobSummary& summary);
std::string EncodeStopped(int64_t step);
std::string EncodeError(const absl::Status& error);

// Parses one line into an event with one of its kinds set. InvalidArgument ("job event: ...")
// for anything else (not JSON, an unknown or mistyped field, no event); the daemon treats that
// as the job's own failure.
absl::StatusOr<sparsescale::v1::JobProcessEvent> ParseChildEvent(const std::string& line);

// The status an error event carries; never OK (a code outside absl's range reads as Unknown).
absl::Status EventError(const sparsescale::v1::JobError& error);

}  // namespace sparsescale::agent
