// The coordinator's instruments (counters and histograms moved on the hot paths), registered
// in one metrics::Registry that /metrics renders. Values known only at scrape time (jobs by
// state, workers alive) are not here: the dashboard's /metrics handler reads them then.
// Thread-safety: as metrics.h (every instrument is atomic).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "common/metrics.h"

namespace sparsescale::coordinator {

struct CoreMetrics {
  explicit CoreMetrics(metrics::Registry& registry);

  metrics::Counter& leases_granted;
  metrics::Counter& leases_expired;
  metrics::Family<metrics::Counter>& retries;  // label failure_class: INFRA, JOB, NONE
  metrics::Counter& points_ingested;
  metrics::Counter& checkpoint_bytes;
  metrics::Histogram& commit_seconds;
  metrics::Family<metrics::Histogram>& rpc_seconds;  // label method: /package.Service/Method
};

// Points per second over the last `window` of samples of a running total.
// Thread-safety: thread-safe.
class RateMeter {
 public:
  explicit RateMeter(std::chrono::milliseconds window = std::chrono::milliseconds(10'000))
      : window_(window) {}
  void Sample(int64_t total, std::chrono::steady_clock::time_point now);
  // 0 until two samples span some time.
  double PerSecond() const;

 private:
  const std::chrono::milliseconds window_;
  mutable std::mutex mu_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, int64_t>> samples_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace sparsescale::coordinator
