// Loss points a job has produced but the coordinator has not yet acknowledged. The daemon sends
// the oldest batch, and drops those points only after the coordinator answers that they are
// committed; on a failed send the same points are sent again. Also decides when a batch is due
// (full, or its oldest point waited long enough). Time is passed in, so tests need no clock.
//
// Not thread-safe: owned by one job's runner thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <vector>

#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::agent {

class PointBuffer {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // batch_max: points per ReportPoints call (> 0); max_delay: how long the oldest unsent point
  // may wait before a partial batch is due.
  PointBuffer(size_t batch_max, std::chrono::milliseconds max_delay);

  // Appends a point produced at `now`.
  void Add(const sparsescale::v1::LossPoint& point, TimePoint now);

  // The oldest min(size(), batch_max) points, in order. The buffer is unchanged.
  std::vector<sparsescale::v1::LossPoint> NextBatch() const;

  // Drops the oldest `count` points (count <= size()), after the coordinator acknowledged them.
  void Ack(size_t count);

  // True when a batch should be sent at `now`: a full batch is waiting, or the oldest point
  // has waited max_delay.
  bool Due(TimePoint now) const;

  size_t size() const { return points_.size(); }
  bool empty() const { return points_.empty(); }

 private:
  struct Entry {
    sparsescale::v1::LossPoint point;
    TimePoint added;
  };
  size_t batch_max_;
  std::chrono::milliseconds max_delay_;
  std::deque<Entry> points_;
};

}  // namespace sparsescale::agent
