// The figures of the law tools, built on SvgPlot: measured against predicted loss of a fit,
// loss against non-zeros with the law and the held-out runs, and the compute-optimal sparsity
// contours of a law with their bootstrap band. Stateless; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "law/fitter.h"
#include "law/optimal_sparsity.h"

namespace sparsescale::law {

// Log-log scatter of measured (x) against predicted (y) final loss, one colour per sparsity,
// with the line y = x.
std::string FitPlotSvg(const FitResult& fit, const std::string& title);

// Log-log loss against non-zeros N, one colour per sparsity: the runs as markers and the law
// as a line per sparsity and data budget (dashed below the largest budget). When
// `held_out_nonzeros` (the largest N) is positive, the runs of that size (N >= it /
// kSameSizeRatio) are drawn as black markers: the leave-largest-out check.
std::string LossVsNonzerosSvg(const NormCoeffs& law, const Normalisation& scales,
                              const std::vector<RunRecord>& runs, double held_out_nonzeros,
                              const std::string& title);

// For each level in `levels`, the line of (C, N) where S_opt(N, C) first reaches it, for N from
// `nonzeros_low` to `nonzeros_high`; plus the dense compute-optimal frontier. With bootstrap
// `samples`, each line gets a dashed band: at each of 9 N values, the 10% and 90% quantiles of
// that compute over at most 24 samples (evenly spread over the list). Fails when a level is
// out of [0, 1) or N bounds are not positive.
absl::StatusOr<std::string> ContourPlotSvg(const PaperCoeffs& law, const CostOptions& options,
                                           const std::vector<double>& levels, double nonzeros_low,
                                           double nonzeros_high, const std::string& title,
                                           const std::vector<PaperCoeffs>& samples = {});

}  // namespace sparsescale::law
