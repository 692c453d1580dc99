// Server-side downsampling of a loss curve for plotting. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <vector>

#include "coordinator/store/records.h"

namespace sparsescale::store {

// At most `max_points` of `points` (sorted by step), as sorted indices: the first and last
// point always; every point that carries an eval loss while those are fewer than half the
// budget (eval points are rare and matter most); the rest chosen by Largest-Triangle-Three-
// Buckets over (step, train_loss), which keeps the visual shape (spikes survive). max_points
// of 0, or not fewer than the points, keeps everything. Requires max_points == 0 or >= 2.
std::vector<size_t> DownsampleIndices(const std::vector<LossPoint>& points, size_t max_points);

// Largest-Triangle-Three-Buckets on (x, y): `budget` indices (first and last included) of the
// n = x.size() points, sorted. Requires 2 <= budget < n.
std::vector<size_t> Lttb(const std::vector<double>& x, const std::vector<double>& y, size_t budget);

}  // namespace sparsescale::store
