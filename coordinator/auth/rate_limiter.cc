#include "coordinator/auth/rate_limiter.h"

#include <algorithm>

namespace sparsescale::auth {

bool RateLimiter::Allow(const std::string& key, int64_t now_ms) {
  if (limit_.per_second <= 0) {
    return true;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = buckets_.try_emplace(key, Bucket{limit_.burst, now_ms});
  Bucket& bucket = it->second;
  const int64_t elapsed_ms = std::max<int64_t>(0, now_ms - bucket.updated_ms);
  bucket.tokens = std::min(limit_.burst, bucket.tokens + elapsed_ms * limit_.per_second / 1000.0);
  bucket.updated_ms = now_ms;
  if (bucket.tokens < 1) {
    return false;
  }
  bucket.tokens -= 1;
  return true;
}

}  // namespace sparsescale::auth
