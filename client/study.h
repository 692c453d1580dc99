// `sparsescale study`: the whole pipeline on one machine. Prepares the corpus into shards,
// starts a local coordinator and workers, creates the study's sweep, shows progress with an ETA
// until every job is final, exports the curves and the per-job summary as CSV, fits the sparse
// scaling law (FitLaw RPC) and prints it with the optimal sparsity for the study's budgets.
// Re-running it on the same database resumes: finished cells are not trained again.
//
// RunStudy blocks the calling thread (which owns the child processes); `stop` may be set from
// another thread (signal handler thread) to drain and stop early.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::client {

class CoordinatorClient;

struct StudyOptions {
  std::string config_path;
  std::string work_dir;  // logs, worker dirs, database, CSV exports
  std::string db_path;   // default work_dir/coordinator.db
  bool fresh = false;    // delete the database first (no resume)
  int workers = 2;
  int threads = 1;  // CPU threads per job
  std::string device = "auto";
  // >= 0: the sweep's checkpoint_retention.keep_last (0 = the coordinator's default), over the
  // study file's; -1: as the file says.
  int checkpoint_keep_last = -1;
  std::chrono::milliseconds poll_interval{2000};
  std::FILE* out = stdout;
};

absl::Status RunStudy(const StudyOptions& options, const std::atomic<bool>& stop);

// Progress of a set of jobs, weighting each by its estimated cost (dense training FLOPs).
struct StudyProgress {
  int total = 0;
  int succeeded = 0;
  int failed = 0;  // FAILED or CANCELLED
  int running = 0;
  int queued = 0;
  double fraction = 0;  // cost-weighted share of the work done, in [0, 1]
  double eta_s = -1;    // remaining wall time at the rate so far; -1 when unknown
  bool finished() const { return total > 0 && succeeded + failed == total; }
};

// Approximate training FLOPs of a job (6 x matmul parameters x tokens, plus attention).
double EstimateJobFlops(const sparsescale::v1::JobSpec& spec);

// `baseline_fraction` is the share already done when the clock started (a resumed study), so
// the ETA follows this run's own rate.
StudyProgress ComputeProgress(const std::vector<sparsescale::v1::Job>& jobs, double elapsed_s,
                              double baseline_fraction = 0);

// How FollowSweep polls and shows progress.
struct FollowOptions {
  std::chrono::milliseconds poll_interval{2000};
  std::FILE* out = stdout;
  std::string interrupted = "interrupted";  // the Cancelled message when `stop` is set
};

// Polls a sweep's jobs (ListJobs) against any coordinator and prints its progress with an ETA
// (ComputeProgress's rate since `start`; on a terminal one line rewritten in place, otherwise
// a line when a job finishes or every 15 s) until every job is final, and returns them.
// Cancelled when `stop` is set; the last error after 30 failed polls in a row.
absl::StatusOr<std::vector<sparsescale::v1::Job>> FollowSweep(
    CoordinatorClient& client, const std::string& sweep_id, const FollowOptions& options,
    std::chrono::steady_clock::time_point start, const std::atomic<bool>& stop);

// One status line: "[2m10s] 7/24 done, 2 running: a1b2c3 d=64 S=0.5 120/400 ...; ETA 8m10s".
std::string FormatProgressLine(const StudyProgress& progress,
                               const std::vector<sparsescale::v1::Job>& jobs, double elapsed_s);

}  // namespace sparsescale::client
