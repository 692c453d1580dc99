// Plain rows the store reads and writes. No SQLite types. One protobuf type: a loss point is the
// protocol's sparsescale.v1.LossPoint everywhere (trainer, worker pipe, RPCs, store), so a new
// point field is the proto field plus its place in the packed payload (store_points.cc). Other
// rows are plain structs the core converts (specs travel as serialised JobSpec bytes).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::store {

// Numerically equal to sparsescale.v1.JobState.
enum class JobState : int {
  kQueued = 1,
  kRunning = 2,
  kSucceeded = 3,
  kFailed = 4,
  kCancelled = 5
};
// Numerically equal to sparsescale.v1.FailureClass.
enum class FailureClass : int { kNone = 0, kInfra = 1, kJob = 2 };

inline bool IsFinal(JobState state) {
  return state == JobState::kSucceeded || state == JobState::kFailed ||
         state == JobState::kCancelled;
}

// "queued", "running", "succeeded", "failed" or "cancelled".
inline const char* StateWord(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kSucceeded:
      return "succeeded";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

struct JobRow {
  int64_t seq = 0;  // FIFO order, assigned by the store
  std::string id;   // content address (canonical spec hash)
  std::string sweep_id;
  std::string spec;  // serialised, normalised JobSpec
  JobState state = JobState::kQueued;
  int priority = 0;
  int attempt = 0;
  int max_attempts = 3;
  int infra_failures = 0;
  int job_failures = 0;
  std::string worker_id;
  int64_t step = 0;
  int64_t total_steps = 0;
  double last_train_loss = 0;
  std::optional<double> last_eval_loss;
  std::optional<double> final_eval_loss;
  std::string error;
  FailureClass last_failure = FailureClass::kNone;
  int64_t checkpoint_step = 0;
  bool cancel_requested = false;
  std::string device;  // "cpu", "cuda" or "auto"
  int gpus = 0;
  int64_t memory_bytes = 0;  // estimated requirement
  int64_t created_unix_ms = 0;
  int64_t updated_unix_ms = 0;
};

using LossPoint = sparsescale::v1::LossPoint;

struct WorkerRow {
  std::string id;
  std::string name;
  std::string device_kind;
  int gpus = 0;
  int64_t memory_bytes = 0;
  int slots = 1;
  std::string version;
  bool draining = false;
  int64_t registered_unix_ms = 0;
  int64_t last_heartbeat_unix_ms = 0;
};

enum class CheckpointStorage { kSqlite = 0, kBlobDir = 1 };

struct CheckpointRow {
  int64_t id = 0;
  std::string job_id;
  int64_t step = 0;
  int attempt = 0;
  int64_t size_bytes = 0;
  std::string sha256;
  int chunks = 0;
  int64_t created_unix_ms = 0;
  // Where the payload is: checkpoint_chunks rows, or a file in the checkpoint blob directory
  // (sql/0007_checkpoint_blobs.sql).
  CheckpointStorage stored_in = CheckpointStorage::kSqlite;
};

// A stored piece of an attempt's log: `offset` is where `data` starts in the attempt's output.
struct LogChunkRow {
  int64_t offset = 0;
  std::string data;
};

// What is stored of an attempt's log: bytes [first, end) of its output, minus any gaps.
struct LogExtent {
  int64_t first = 0;          // offset of the oldest stored byte (= end when nothing is stored)
  int64_t end = 0;            // one past the newest stored byte
  int64_t stored_bytes = 0;
  int64_t dropped_bytes() const { return end - stored_bytes; }
};

struct SweepRow {
  std::string id;
  std::string name;
  std::string base;  // serialised JobSpec
  std::string axes;  // serialised SweepAxes
  int priority = 0;
  int max_attempts = 3;
  int64_t created_unix_ms = 0;
  int checkpoint_keep_last = 0;  // 0 = the coordinator's default
};

struct FitInputRow {
  std::string job_id;
  std::string config_hash;
  double sparsity = 0;
  double nonzeros = 0;
  double tokens = 0;
  double loss = 0;
};

struct FitRow {
  std::string id;
  std::string sweep_id;
  std::string options;  // serialised request options
  std::string result;   // serialised result
  int64_t created_unix_ms = 0;
  std::vector<FitInputRow> inputs;
};

// What a new lease writes.
struct GrantRecord {
  std::string job_id;
  int attempt = 0;
  std::string worker_id;
  int64_t resume_step = 0;
};

// What ending an attempt writes. A requeue (state kQueued) supersedes every clean point after
// `checkpoint_step`, so the next attempt's points replace them.
struct AttemptEndRecord {
  std::string job_id;
  int attempt = 0;
  JobState state = JobState::kQueued;    // the job's state after this attempt
  JobState outcome = JobState::kQueued;  // the attempt's own outcome
  FailureClass failure = FailureClass::kNone;
  std::string error;
  int infra_failures = 0;
  int job_failures = 0;
  int64_t checkpoint_step = 0;
  std::optional<double> final_train_loss;
  std::optional<double> final_eval_loss;
};

struct JobFilter {
  std::string sweep_id;          // empty: any
  std::vector<JobState> states;  // empty: any
};

using StateCounts = std::map<JobState, int64_t>;

// One attempt of a job (the dashboard's job page).
struct AttemptRow {
  int attempt = 0;
  std::string worker_id;
  int64_t started_unix_ms = 0;
  std::optional<int64_t> ended_unix_ms;  // unset while it runs
  JobState outcome = JobState::kQueued;  // meaningful once ended
  FailureClass failure = FailureClass::kNone;
  std::string error;
};

// One entry of the audit trail.
struct EventRow {
  int64_t unix_ms = 0;
  std::string kind;
  std::string detail;
};

// Steps done and planned over a sweep's jobs.
struct SweepProgressRow {
  int64_t steps_done = 0;
  int64_t steps_total = 0;
};

}  // namespace sparsescale::store
