#include "worker/agent/retry.h"

#include <algorithm>

namespace sparsescale::agent {

bool IsTransient(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnknown:    // gRPC's "Stream removed" when a server dies mid-call
    case absl::StatusCode::kCancelled:  // the same, seen from the client side
    case absl::StatusCode::kDataLoss:   // a transfer arrived damaged: send it again
      return true;
    default:
      return false;
  }
}

bool IsLeaseLost(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kPermissionDenied:
      return true;
    default:
      return false;
  }
}

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
    : initial_(initial),
      max_(max),
      current_(initial),
      rng_state_(
          static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) | 1) {}

std::chrono::milliseconds Backoff::Next() {
  // xorshift64: cheap jitter, no shared generator between threads.
  rng_state_ ^= rng_state_ << 13;
  rng_state_ ^= rng_state_ >> 7;
  rng_state_ ^= rng_state_ << 17;
  double scale = 0.5 + 0.5 * static_cast<double>(rng_state_ % 1000) / 1000.0;
  auto delay = std::chrono::milliseconds(static_cast<int64_t>(current_.count() * scale));
  current_ = std::min(current_ * 2, max_);
  return std::max(delay, std::chrono::milliseconds(1));
}

void Backoff::Reset() { current_ = initial_; }

}  // namespace sparsescale::agent
