// RateLimiter: one token bucket per key (a token id), refilled at `per_second` up to `burst`.
// Time is passed in (milliseconds of a steady clock), so tests need no sleeps.
// Thread-safety: thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"

namespace sparsescale::auth {

struct RateLimit {
  double per_second = 100;  // sustained mutating calls per token; 0 turns the limit off
  double burst = 200;       // calls a token may make at once after being idle
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimit limit) : limit_(limit) {}

  // Takes one call from `key`'s bucket: false when it is empty (the call is refused).
  bool Allow(const std::string& key, int64_t now_ms);
  const RateLimit& limit() const { return limit_; }

 private:
  struct Bucket {
    double tokens = 0;
    int64_t updated_ms = 0;
  };

  const RateLimit limit_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sparsescale::auth
