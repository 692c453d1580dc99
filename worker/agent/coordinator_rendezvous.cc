#include "worker/agent/coordinator_rendezvous.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
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
          "rendezvous: the coordinator did not deliver rank 0's address for job ", job_id,
          " attempt ", attempt, " within ", timeout.count(), " ms (", last.message(), ")"));
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

RendezvousExchange MakeCoordinatorExchange(RendezvousCall call, std::string job_id, int attempt,
                                           int rank, std::chrono::milliseconds timeout) {
  return [call = std::move(call), job_id = std::move(job_id), attempt, rank,
          timeout](const std::string& value) {
    return ExchangeThroughCoordinator(call, job_id, attempt, rank, value, timeout);
  };
}

std::vector<std::string> CoordinatorRendezvousFlags::ToArgs() const {
  if (!enabled()) {
    return {};
  }
  return {"--coordinator", coordinator, "--job-id", job_id, "--attempt", absl::StrCat(attempt)};
}

absl::StatusOr<CoordinatorRendezvousFlags> ParseCoordinatorRendezvousFlags(
    const std::string& coordinator, const std::string& job_id, const std::string& attempt) {
  CoordinatorRendezvousFlags flags;
  if (coordinator.empty()) {
    if (!job_id.empty() || !attempt.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--coordinator: required with ", job_id.empty() ? "--attempt" : "--job-id",
                       " (the address of the coordinator that carries the rendezvous)"));
    }
    return flags;
  }
  if (job_id.empty()) {
    return absl::InvalidArgumentError("--job-id: required with --coordinator");
  }
  if (attempt.empty()) {
    return absl::InvalidArgumentError("--attempt: required with --coordinator");
  }
  if (!absl::SimpleAtoi(attempt, &flags.attempt) || flags.attempt < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--attempt: must be a positive integer, got \"", attempt, "\""));
  }
  flags.coordinator = coordinator;
  flags.job_id = job_id;
  return flags;
}

}  // namespace sparsescale::agent
