#include "coordinator/store/downsample.h"

#include <algorithm>
#include <cmath>

#include "common/status.h"

namespace sparsescale::store {

std::vector<size_t> Lttb(const std::vector<double>& x, const std::vector<double>& y,
                         size_t budget) {
  const size_t n = x.size();
  SS_CHECK(budget >= 2 && budget < n && y.size() == n);
  std::vector<size_t> chosen = {0};
  // Interior points 1..n-2 split into budget-2 buckets of (nearly) equal size.
  const double bucket_size = static_cast<double>(n - 2) / static_cast<double>(budget - 2);
  size_t previous = 0;
  for (size_t b = 0; b + 2 < budget; ++b) {
    const size_t begin = 1 + static_cast<size_t>(std::floor(b * bucket_size));
    const size_t end = 1 + static_cast<size_t>(std::floor((b + 1) * bucket_size));
    // Average of the next bucket (or the last point) as the triangle's third vertex.
    const size_t next_begin = end;
    const size_t next_end =
        std::min(n - 1, 1 + static_cast<size_t>(std::floor((b + 2) * bucket_size)));
    double ax = x[n - 1], ay = y[n - 1];
    if (b + 3 < budget && next_end > next_begin) {
      ax = ay = 0;
      for (size_t i = next_begin; i < next_end; ++i) {
        ax += x[i];
        ay += y[i];
      }
      ax /= static_cast<double>(next_end - next_begin);
      ay /= static_cast<double>(next_end - next_begin);
    }
    size_t best = begin;
    double best_area = -1;
    for (size_t i = begin; i < std::max(end, begin + 1) && i < n - 1; ++i) {
      const double area = std::abs((x[previous] - ax) * (y[i] - y[previous]) -
                                   (x[previous] - x[i]) * (ay - y[previous]));
      if (area > best_area) {
        best_area = area;
        best = i;
      }
    }
    chosen.push_back(best);
    previous = best;
  }
  chosen.push_back(n - 1);
  return chosen;
}

std::vector<size_t> DownsampleIndices(const std::vector<LossPoint>& points, size_t max_points) {
  const size_t n = points.size();
  std::vector<size_t> all(n);
  for (size_t i = 0; i < n; ++i) {
    all[i] = i;
  }
  if (max_points == 0 || n <= max_points) {
    return all;
  }
  SS_CHECK(max_points >= 2);
  std::vector<size_t> evals;
  for (size_t i = 0; i < n; ++i) {
    if (points[i].has_eval_loss()) {
      evals.push_back(i);
    }
  }
  if (evals.size() * 2 > max_points) {
    evals.clear();
  }
  std::vector<double> x(n), y(n);
  for (size_t i = 0; i < n; ++i) {
    x[i] = static_cast<double>(points[i].step());
    y[i] = points[i].train_loss();
  }
  const size_t budget = std::max<size_t>(2, max_points - evals.size());
  std::vector<size_t> chosen = Lttb(x, y, budget);
  chosen.insert(chosen.end(), evals.begin(), evals.end());
  std::sort(chosen.begin(), chosen.end());
  chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
  return chosen;
}

}  // namespace sparsescale::store
