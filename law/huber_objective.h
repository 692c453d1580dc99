// The fit objective: the Huber loss of the law's residuals averaged over runs (optionally
// weighted), with its analytic gradient in the normalised parameters a..g.
//
// Residuals are log f - log y ("log", as the paper's T5 fit and Chinchilla) or f - y ("abs", as
// the ViT fit). Each point adds r^2/2 when |r| <= delta, else delta (|r| - delta/2).
//
// Speed: S, N' and D' take few distinct values in a sweep grid, so the powers (1-S)^b, N'^-d
// and D'^-f are computed once per distinct value per evaluation, not once per run.
// Not thread-safe (Evaluate writes scratch buffers); give each thread its own copy.
#pragma once

#include <array>
#include <vector>

#include "law/run_record.h"
#include "law/scaling_law.h"

namespace sparsescale::law {

enum class ResidualKind { kLog, kAbs };

class HuberObjective {
 public:
  // `weights` (empty = all 1) multiply each run's Huber term; the objective divides by their sum.
  // Runs must have passed ValidateRuns.
  HuberObjective(const std::vector<RunRecord>& runs, const Normalisation& scales,
                 ResidualKind residual, double delta, std::vector<double> weights = {});

  // Objective at normalised parameters p[0..6] and, when `gradient` is not null, its gradient.
  // Returns false when a prediction is not finite, or not positive under log residuals.
  bool Evaluate(const double* p, double* value, double* gradient) const;

  int num_points() const { return static_cast<int>(loss_.size()); }

 private:
  // Distinct values of log(1-S), log N' and log D', and each point's index into them.
  std::vector<double> log_density_, log_n_, log_d_;
  std::vector<int> density_index_, n_index_, d_index_;
  std::vector<double> loss_, log_loss_, weight_;
  double weight_sum_ = 0;
  ResidualKind residual_;
  double delta_;
  mutable std::vector<double> pow_density_, pow_n_, pow_d_;
};

// Huber term of one residual (shared with reporting code).
double HuberLoss(double residual, double delta);

}  // namespace sparsescale::law
