#include "coordinator/core/core_metrics.h"

namespace sparsescale::coordinator {

CoreMetrics::CoreMetrics(metrics::Registry& registry)
    : leases_granted(registry
                         .AddCounter("sparsescale_leases_granted_total",
                                     "Leases granted to workers (one per job attempt).")
                         .With()),
      leases_expired(registry
                         .AddCounter("sparsescale_leases_expired_total",
                                     "Leases that expired because their worker went silent.")
                         .With()),
      retries(registry.AddCounter("sparsescale_retries_total",
                                  "Failed attempts that put their job back in the queue, by "
                                  "failure class.")),
      points_ingested(registry
                          .AddCounter("sparsescale_points_ingested_total",
                                      "Loss points committed from ReportPoints.")
                          .With()),
      checkpoint_bytes(registry
                           .AddCounter("sparsescale_checkpoint_bytes_total",
                                       "Bytes of checkpoints committed from uploads.")
                           .With()),
      commit_seconds(registry
                         .AddHistogram("sparsescale_sqlite_commit_seconds",
                                       "SQLite group commits, BEGIN to COMMIT.",
                                       metrics::LatencyBucketsSeconds())
                         .With()),
      rpc_seconds(registry.AddHistogram("sparsescale_rpc_seconds",
                                        "gRPC calls from the first byte to the status, by "
                                        "method (streams: their whole life).",
                                        metrics::LatencyBucketsSeconds())) {}

void RateMeter::Sample(int64_t total, std::chrono::steady_clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  samples_.emplace_back(now, total);
  while (samples_.size() > 2 && now - samples_[1].first >= window_) {
    samples_.pop_front();
  }
}

double RateMeter::PerSecond() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (samples_.size() < 2) {
    return 0;
  }
  const double seconds =
      std::chrono::duration<double>(samples_.back().first - samples_.front().first).count();
  return seconds > 0
             ? static_cast<double>(samples_.back().second - samples_.front().second) / seconds
             : 0;
}

}  // namespace sparsescale::coordinator
