// Carrying rank 0's rendezvous bytes (its TCP address, or NCCL's unique id) to the other ranks
// of a job through the coordinator's WorkerService.Rendezvous RPC, for gangs whose ranks do not
// share a file system or a parent process. Rank 0 publishes; the others long-poll until the
// bytes appear or their time is up. The RPC itself is passed in (WorkerRpc has no Rendezvous
// method yet; see docs/ARCHITECTURE.md, "Data parallelism"), so this is testable with a fake.
// Thread-safe if `call` is.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::agent {

using RendezvousCall = std::function<absl::StatusOr<sparsescale::v1::RendezvousResponse>(
    const sparsescale::v1::RendezvousRequest&)>;

// Rank 0 sends `value` and returns it; other ranks return rank 0's value. DeadlineExceeded
// when it has not appeared within `timeout` (UNAVAILABLE and the coordinator's own
// DEADLINE_EXCEEDED are retried until then); FAILED_PRECONDITION (a stale attempt) and ABORTED
// (the attempt ended) are returned at once.
absl::StatusOr<std::string> ExchangeThroughCoordinator(
    const RendezvousCall& call, const std::string& job_id, int attempt, int rank,
    const std::string& value, std::chrono::milliseconds timeout,
    std::chrono::milliseconds poll = std::chrono::seconds(10));

}  // namespace sparsescale::agent
