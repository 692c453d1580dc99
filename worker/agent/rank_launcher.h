// Data-parallel jobs inside the job process: a lease for a job of W ranks starts ONE job process
// (`sparsescale-worker run-job`, as for any job), which becomes rank 0 and starts ranks
// 1..W-1 as its own children with this launcher. The children run the same command with
// SPARSESCALE_RANK / SPARSESCALE_WORLD_SIZE, SPARSESCALE_RENDEZVOUS (a file:PATH rendezvous
// that rank 0 writes) unless the command carries the coordinator flags (then every rank meets
// through the coordinator: coordinator_rendezvous.h) and, for GPU jobs, CUDA_VISIBLE_DEVICES
// narrowed to their own device.
// They die with the job process (SIGKILL on parent death), and a dead child makes rank 0's
// next collective fail, so a broken gang never hangs. Only rank 0 talks to the daemon.
//
// Not thread-safe: the job process's main thread owns a RankGroup.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/agent/subprocess.h"

namespace sparsescale::agent {

// The device each rank may use: the entries of `visible` (CUDA_VISIBLE_DEVICES of the job
// process; null or empty means devices 0..W-1). InvalidArgument naming "gpus" when there are
// fewer than `world_size`.
absl::StatusOr<std::vector<std::string>> GpusForRanks(int world_size, const char* visible);

struct RankLaunchOptions {
  std::vector<std::string> argv;  // the job process's own command (argv[0]: executable)
  int world_size = 1;
  // The ranks this job process runs: first_rank (itself) to first_rank + rank_count - 1; the
  // launcher starts the others. rank_count 0: all world_size ranks (first_rank 0). A member of
  // a multi-node gang runs a range (its lease's rank and rank_count).
  int first_rank = 0;
  int rank_count = 0;
  std::string rendezvous_path;    // file rank 0 writes its address to; empty: none (coordinator)
  std::string log_dir;            // rank<r>.log: each child's stdout and stderr
  std::vector<std::string> gpus;  // per local rank (GpusForRanks); empty for CPU jobs
};

class RankGroup {
 public:
  // Starts ranks first_rank+1 .. first_rank+rank_count-1. Internal/NotFound when a child cannot be started (the ones
  // already started are killed).
  static absl::StatusOr<RankGroup> Launch(const RankLaunchOptions& options);

  // Waits up to `grace` for every child to exit, kills the rest, and describes each rank that
  // did not exit 0 ("rank 1: exit code 1 (last log line)"); empty when all succeeded.
  std::string Finish(std::chrono::milliseconds grace);

  size_t size() const { return ranks_.size(); }

 private:
  int first_rank_ = 0;
  std::vector<Subprocess> ranks_;
  std::vector<std::string> logs_;
};

}  // namespace sparsescale::agent
