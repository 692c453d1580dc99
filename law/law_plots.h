// The two figures of the law tools, built on SvgPlot: measured against predicted loss of a fit,
// and the compute-optimal sparsity contours of a law. Stateless; thread-safe.
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

// For each level in `levels`, the line of (C, N) where S_opt(N, C) first reaches it, for N from
// `nonzeros_low` to `nonzeros_high`; plus the dense compute-optimal frontier. Fails when a
// level is out of [0, 1) or N bounds are not positive.
absl::StatusOr<std::string> ContourPlotSvg(const PaperCoeffs& law, const CostOptions& options,
                                           const std::vector<double>& levels, double nonzeros_low,
                                           double nonzeros_high, const std::string& title);

}  // namespace sparsescale::law
