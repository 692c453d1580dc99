// Carrying rank 0's rendezvous bytes (its TCP address, or NCCL's unique id) to the other ranks
// of a data-parallel job through the coordinator's WorkerService.Rendezvous RPC. Under the
// worker daemon every job process gets `--coordinator ADDR --job-id ID --attempt N`
// (CoordinatorRendezvousFlags); each rank of a multi-rank job then makes its own WorkerRpc and
// passes MakeCoordinatorExchange to the trainer: rank 0 publishes, the others long-poll until
// the bytes appear or their time is up. The RPC is injected, so this is testable with a fake.
// Thread-safe if `call` is.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/rendezvous.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::agent {

using RendezvousCall = std::function<absl::StatusOr<sparsescale::v1::RendezvousResponse>(
    const sparsescale::v1::RendezvousRequest&)>;

// Rank 0 sends `value` and returns it; other ranks return rank 0's value. DeadlineExceeded
// ("the coordinator did not deliver rank 0's address ...") when it has not appeared within
// `timeout` (UNAVAILABLE and the coordinator's own DEADLINE_EXCEEDED are retried until then);
// FAILED_PRECONDITION (a stale attempt) and ABORTED (the attempt ended) are returned at once.
absl::StatusOr<std::string> ExchangeThroughCoordinator(
    const RendezvousCall& call, const std::string& job_id, int attempt, int rank,
    const std::string& value, std::chrono::milliseconds timeout,
    std::chrono::milliseconds poll = std::chrono::seconds(10));

// ExchangeThroughCoordinator for one rank as the trainer's RendezvousExchange
// (common/rendezvous.h).
// Whatever `call` refers to (the job process's WorkerRpc) must outlive the result.
RendezvousExchange MakeCoordinatorExchange(RendezvousCall call, std::string job_id, int attempt,
                                           int rank, std::chrono::milliseconds timeout);

// The job process's coordinator flags (`run-job --coordinator ADDR --job-id ID --attempt N`).
// All empty/0: no coordinator (a standalone run), and the file/env rendezvous is used.
struct CoordinatorRendezvousFlags {
  std::string coordinator;
  std::string job_id;
  int attempt = 0;

  bool enabled() const { return !coordinator.empty(); }
  // The flags as arguments, for the daemon's and rank 0's child command lines (empty when
  // disabled).
  std::vector<std::string> ToArgs() const;
};

// Checks the three flags as given on the command line (`attempt` as text; empty when absent).
// All three or none: InvalidArgument naming the flag ("--attempt: must be a positive integer,
// got \"x\"", "--job-id: required with --coordinator", ...).
absl::StatusOr<CoordinatorRendezvousFlags> ParseCoordinatorRendezvousFlags(
    const std::string& coordinator, const std::string& job_id, const std::string& attempt);

}  // namespace sparsescale::agent
