// Analyses beyond the paper's single fit: bootstrap confidence intervals over runs (on the
// coefficients and on S_opt), leave-largest-out extrapolation, model selection among
// near-optimal minima, and per-structure refits of the sparsity term for n:m runs.
// Stateless functions; thread-safe (each runs its own fits).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "law/fitter.h"
#include "law/optimal_sparsity.h"

namespace sparsescale::law {

// Names of the paper-form coefficients, in PaperCoeffs order.
inline constexpr std::array<const char*, 7> kPaperNames = {"a_S", "b_S", "c_S", "b_N",
                                                           "a_D", "b_D", "c"};
std::array<double, 7> PaperArray(const PaperCoeffs& paper);

struct BootstrapOptions {
  int resamples = 100;
  int starts = 16;  // random starts per resample, besides the full fit's optimum
  uint64_t seed = 1;
  double level = 0.95;  // central interval
  int threads = 0;      // 0: one per hardware thread
};

// A bound is +-infinity when the resamples do not bound the coefficient (a_D overflows when
// b_D goes to 0), and NaN when no resample had a value for it.
struct CoefficientInterval {
  double estimate = 0, low = 0, high = 0;
};

struct BootstrapResult {
  int resamples = 0;
  int usable = 0;  // resamples whose fit succeeded
  double level = 0.95;
  std::array<CoefficientInterval, 7> paper;  // in kPaperNames order
  // Paper-form coefficients of each usable resample that has a paper form, in resample order:
  // the samples behind intervals on derived quantities (OptimalSparsityInterval).
  std::vector<PaperCoeffs> samples;
};

// Refits `base` (the full fit, which must have a paper form) on runs resampled with replacement
// and returns percentile intervals of the paper-form coefficients. Resample b depends only on
// (seed, b). Fails if options are out of range or no resample fits.
absl::StatusOr<BootstrapResult> BootstrapIntervals(const std::vector<RunRecord>& runs,
                                                   const Normalisation& scales,
                                                   const FitOptions& fit_options,
                                                   const FitResult& base,
                                                   const BootstrapOptions& options);

// Central `level` interval of S_opt(N, C) over bootstrap samples of the law, with the estimate
// from `estimate`. Samples whose S_opt cannot be found are left out; InvalidArgument when N or C
// is not positive or no sample gives a value.
absl::StatusOr<CoefficientInterval> OptimalSparsityInterval(const PaperCoeffs& estimate,
                                                            const std::vector<PaperCoeffs>& samples,
                                                            double nonzeros, double compute,
                                                            const CostOptions& cost, double level);

// Runs whose N are within this ratio of each other are one model size: a sweep's cells of one
// size differ in their counted non-zeros across sparsities by up to about 20% (the width is
// rounded to a multiple of the heads: 3,456 and 2,904 for a target of 3,072), while the sizes
// of a study are usually 2x apart.
inline constexpr double kSameSizeRatio = 1.4;

// Number of distinct model sizes among `runs`: going down from the largest N, a new size starts
// at each N below the current size's largest / kSameSizeRatio.
int DistinctSizes(const std::vector<RunRecord>& runs);

// The runs below the largest model size and the runs of it (N >= largest N / kSameSizeRatio).
std::pair<std::vector<RunRecord>, std::vector<RunRecord>> SplitLargest(
    const std::vector<RunRecord>& runs);

// Model selection among a fit's near-optimal minima (FitResult::minima). The rule: each minimum
// is refitted by one local BFGS run started from it on the runs below the largest N, and
// scored by the mean |relative error| of that refit on the runs at the largest N; the lowest
// score wins, ties (scores within 0.01 percentage points) going to the lower objective. Deterministic: the minima follow from the
// seed and the refits have no random starts. It needs at least 3 distinct N (2 to refit on);
// otherwise, or with a single minimum, the fit stays the lowest-objective one.
struct MinimumSelection {
  bool applied = false;
  std::string skipped;                    // why no selection was made, when not applied
  std::vector<double> validation_errors;  // per minimum; NaN where its refit failed
  int chosen = 0;
};

// Applies the rule to `fit` (a FitLaw result on `runs` with `options`): on a choice, fit.norm,
// paper, objective, residuals and chosen_minimum become the chosen minimum's.
MinimumSelection SelectMinimum(const std::vector<RunRecord>& runs, const Normalisation& scales,
                               const FitOptions& options, FitResult& fit);

struct ExtrapolationResult {
  double held_out_nonzeros = 0;  // the largest N, whose runs were left out
  int fitted_runs = 0;
  FitResult fit;                        // the fit without them (after selection)
  MinimumSelection selection;           // among that fit's minima, on its own largest N
  std::vector<PointResidual> held_out;  // predictions for the held-out runs
  double mean_abs_relative_error = 0;
  double max_abs_relative_error = 0;
  // The same errors for the lowest-objective minimum (equal to the above when it was chosen).
  double lowest_objective_mean_abs_relative_error = 0;
  double lowest_objective_max_abs_relative_error = 0;
  // Spread over the near-optimal minima of the fit: each minimum's mean |relative error| on the
  // held-out runs, the range of predicted loss per held-out run, and the range of each
  // paper-form coefficient (over minima that have a paper form).
  std::vector<double> minima_mean_abs_relative_error;
  std::vector<std::pair<double, double>> held_out_prediction_range;
  std::array<std::pair<double, double>, 7> coefficient_range{};
};

// Fits without the runs at the largest N (choosing among minima by SelectMinimum when `select`)
// and predicts them. Fails when fewer runs than free coefficients remain.
absl::StatusOr<ExtrapolationResult> LeaveLargestOut(const std::vector<RunRecord>& runs,
                                                    const Normalisation& scales,
                                                    const FitOptions& options, bool select = true);

struct PatternEquivalent {
  std::string pattern;  // "2:4"
  double sparsity = 0;  // 1 - n/m
  // Unstructured sparsity with the same capacity factor; absent when no S in [0, 1) matches.
  std::optional<double> equivalent_unstructured;
};

struct StructureFit {
  int m = 0;                // the family n:m for this m
  int runs = 0;             // structured runs plus the dense runs they share
  bool b_s_shared = false;  // true when only one pattern was run, so b_S stays unstructured's
  NormCoeffs norm;          // a, b, c refitted; d..g shared with the unstructured fit
  std::optional<PaperCoeffs> paper;
  double objective = 0;
  std::vector<PatternEquivalent> patterns;
};

// For each family of n:m runs with the same m: refits a_S, b_S, c_S on that family's runs plus
// the dense runs, holding b_N, a_D, b_D, c at `unstructured`'s values, and converts each pattern
// to its equivalent unstructured sparsity. Returns an empty list when no run is n:m.
absl::StatusOr<std::vector<StructureFit>> FitStructures(const std::vector<RunRecord>& runs,
                                                        const Normalisation& scales,
                                                        const FitOptions& options,
                                                        const FitResult& unstructured);

// The unstructured sparsity whose capacity factor a (1-S)^b + c equals `factor`, if any.
std::optional<double> EquivalentUnstructuredSparsity(const NormCoeffs& unstructured, double factor);

}  // namespace sparsescale::law
