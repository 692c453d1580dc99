// Classification of RPC errors for the worker, and exponential backoff with jitter.
// Free functions are thread-safe; a Backoff object belongs to one thread.
#pragma once

#include <chrono>
#include <cstdint>

#include "absl/status/status.h"

namespace sparsescale::agent {

// Worth retrying later with the same request: the coordinator is unreachable, restarting or
// overloaded, a call timed out, or a transfer arrived damaged (requests are idempotent, so a
// repeat is safe).
bool IsTransient(const absl::Status& status);

// The coordinator no longer considers this attempt ours (stale attempt, job cancelled or
// reassigned, unknown job): stop the job and report nothing more for it.
bool IsLeaseLost(const absl::Status& status);

// Delays initial, 2x initial, ... capped at max, each scaled by a random factor in [0.5, 1]
// so that many workers do not retry in lockstep.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max);
  std::chrono::milliseconds Next();
  void Reset();

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds current_;
  uint64_t rng_state_;
};

}  // namespace sparsescale::agent
