#include "worker/agent/point_buffer.h"

#include <algorithm>

#include "common/status.h"

namespace sparsescale::agent {

PointBuffer::PointBuffer(size_t batch_max, std::chrono::milliseconds max_delay)
    : batch_max_(batch_max), max_delay_(max_delay) {
  SS_CHECK(batch_max_ > 0);
}

void PointBuffer::Add(const sparsescale::v1::LossPoint& point, TimePoint now) {
  points_.push_back(Entry{point, now});
}

std::vector<sparsescale::v1::LossPoint> PointBuffer::NextBatch() const {
  size_t n = std::min(points_.size(), batch_max_);
  std::vector<sparsescale::v1::LossPoint> batch;
  batch.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    batch.push_back(points_[i].point);
  }
  return batch;
}

void PointBuffer::Ack(size_t count) {
  SS_CHECK(count <= points_.size());
  points_.erase(points_.begin(), points_.begin() + static_cast<std::ptrdiff_t>(count));
}

bool PointBuffer::Due(TimePoint now) const {
  if (points_.empty()) {
    return false;
  }
  return points_.size() >= batch_max_ || now - points_.front().added >= max_delay_;
}

}  // namespace sparsescale::agent
