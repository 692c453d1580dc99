// Robust multi-start fitting of the sparse scaling law: minimises the HuberObjective with
// Ceres' BFGS line-search solver from many seeded random starts (uniform in [0,1) for each free
// normalised coefficient, as the paper did), in parallel, and keeps the best.
//
// Physical fits (the default): the solver works on unconstrained variables x and the law sees
// a, b, c, d, e, f = exp(x) (positive; c, the paper's c_S, may approach 0) and
// g = U / (1 + exp(-x)) with U the lowest measured loss, so 0 < g < U: every scale and exponent
// is positive and the irreducible loss lies below every run. A start outside that range is
// moved to its edge. Besides the best optimum, the distinct minima within `minima_tolerance` of
// the best objective are kept (FitResult::minima) for model selection (fit_analysis.h).
//
// Deterministic for a seed: start i's point depends only on (seed, i) and each start runs
// single-threaded, so the result does not depend on the thread count. FitLaw is thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "law/huber_objective.h"
#include "law/run_record.h"
#include "law/scaling_law.h"

namespace sparsescale::law {

struct FitOptions {
  ResidualKind residual = ResidualKind::kLog;
  double delta = 1e-3;  // Huber threshold on the residual
  int starts = 200;     // random starts
  uint64_t seed = 1;
  int threads = 0;            // 0: one per hardware thread
  int max_iterations = 1000;  // BFGS iterations per start
  // Normalised coefficients held at these values instead of fitted (per-structure refits).
  std::array<std::optional<double>, NormCoeffs::kCount> fixed{};
  // Extra starting points tried in addition to the random ones (e.g. a previous optimum).
  std::vector<NormCoeffs> extra_starts;
  std::vector<double> weights;  // per-run weights (bootstrap multiplicities); empty = 1
  // Keep a, b, c, d, e, f > 0 and 0 < g < the lowest measured loss (see the file comment).
  bool physical = true;
  // Minima whose objective is at most (1 + minima_tolerance) x the best are near-optimal; two
  // are distinct when some normalised coefficient differs by more than 1% (relative).
  double minima_tolerance = 0.05;
  int max_minima = 8;  // near-optimal distinct minima kept, best objective first
};

// One local minimum reached by some start.
struct FitMinimum {
  NormCoeffs norm;
  double objective = 0;
};

struct PointResidual {
  int index = 0;  // position in the input runs
  std::string label;
  double sparsity = 0, nonzeros = 0, data = 0;
  double measured = 0, predicted = 0;
  double relative_error = 0;  // (predicted - measured) / measured
};

struct FitResult {
  NormCoeffs norm;
  Normalisation scales;
  std::optional<PaperCoeffs> paper;      // absent when the optimum has e <= 0 (no paper form)
  double objective = 0;                  // the Huber objective at the optimum
  int starts = 0;                        // starts tried (random + extra)
  int starts_finished = 0;               // starts that ended at a finite objective
  int starts_within_1pct = 0;            // starts ending within 1% of the best objective
  std::vector<double> start_objectives;  // per start, sorted ascending (finite ones)
  double rmse = 0;                       // root mean square of predicted - measured loss
  double mean_relative_error = 0;        // mean |predicted - measured| / measured
  std::vector<PointResidual> residuals;
  // Distinct near-optimal minima, lowest objective first; minima[0] is the lowest-objective fit.
  std::vector<FitMinimum> minima;
  int chosen_minimum = 0;  // index in `minima` of `norm` (0 unless SelectMinimum chose another)
};

// Number of coefficients `options` leaves free.
int FreeCoefficientCount(const FitOptions& options);

// Fits the law to `runs`. Returns InvalidArgument for bad runs (naming row and field), fewer runs
// than free coefficients, bad options, or when no start reaches a finite objective.
absl::StatusOr<FitResult> FitLaw(const std::vector<RunRecord>& runs, const Normalisation& scales,
                                 const FitOptions& options);

// Fills residuals, RMSE and mean relative error of `norm` on `runs` (used by FitLaw).
void ScoreFit(const std::vector<RunRecord>& runs, FitResult& result);

// The range the physical reparametrisation keeps g in: (0, lowest measured loss).
double IrreducibleLossBound(const std::vector<RunRecord>& runs);

// Distinct near-optimal minima among start results sorted by objective (see FitOptions); used
// by FitLaw, exposed for tests.
std::vector<FitMinimum> DistinctMinima(std::vector<FitMinimum> ends, double tolerance, int limit);

// The i-th random start for a seed: seven values uniform in [0, 1).
std::array<double, NormCoeffs::kCount> RandomStart(uint64_t seed, int index);

}  // namespace sparsescale::law
