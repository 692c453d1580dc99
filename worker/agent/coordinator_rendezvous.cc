#include "worker/agent/coordinator_rendezvous.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"

namespace sparsescale::agent {

absl::StatusOr<std::string> ExchangeThroughCoordinator(const RendezvousCall& call,
                                                       const std::string& job_id, int attempt,
                                                       int rank, const std::string& value,
                                                       std::chrono::milliseconds timeout,
                                                       std::chrono::milliseconds poll) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  absl::Status last = absl::DeadlineExceededError("no attempt made");
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return absl::DeadlineExceededError(absl::StrCat(
          "rendezvous: rank 0 of job ", job_id, " attempt ", attempt,
          " did not publish its address within ", timeout.count(), " ms (", last.message(), ")"));
    }
    sparsescale::v1::RendezvousRequest request;
    request.set_job_id(job_id);
    request.set_attempt(attempt);
    request.set_rank(rank);
    if (rank == 0) {
      request.set_unique_id(value);
    }
    request.set_wait_ms(std::max<int64_t>(1, std::min(poll, left).count()));
    absl::StatusOr<sparsescale::v1::RendezvousResponse> response = call(request);
    if (response.ok()) {
      if (rank == 0) {
        return value;
      }
      if (!response->unique_id().empty()) {
        return response->unique_id();
      }
      last = absl::DeadlineExceededError("empty answer");
      continue;
    }
    if (!absl::IsUnavailable(response.status()) && !absl::IsDeadlineExceeded(response.status())) {
      return response.status();
    }
    last = response.status();
    if (absl::IsUnavailable(response.status())) {
      // The coordinator is unreachable: do not spin.
      std::this_thread::sleep_for(std::min(std::chrono::milliseconds(100), left));
    }
  }
}

}  // namespace sparsescale::agent
