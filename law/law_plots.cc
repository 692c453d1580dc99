#include "law/law_plots.h"

#include <algorithm>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "law/svg_plot.h"

namespace sparsescale::law {

std::string FitPlotSvg(const FitResult& fit, const std::string& title) {
  SvgPlot plot(title, {"measured final loss", true}, {"predicted loss", true});
  std::map<double, std::vector<std::pair<double, double>>> by_sparsity;
  double low = std::numeric_limits<double>::infinity(), high = 0;
  for (const PointResidual& p : fit.residuals) {
    by_sparsity[p.sparsity].push_back({p.measured, p.predicted});
    low = std::min({low, p.measured, p.predicted});
    high = std::max({high, p.measured, p.predicted});
  }
  if (high > 0) {
    plot.AddSeries({"predicted = measured", "#555", {{low, low}, {high, high}}, false, true, true});
  }
  int colour = 0;
  for (auto& [sparsity, points] : by_sparsity) {
    plot.AddSeries({absl::StrFormat("S = %g", sparsity), PaletteColour(colour++), std::move(points),
                    true, false, false});
  }
  return plot.Render();
}

absl::StatusOr<std::string> ContourPlotSvg(const PaperCoeffs& law, const CostOptions& options,
                                           const std::vector<double>& levels, double nonzeros_low,
                                           double nonzeros_high, const std::string& title) {
  if (!(nonzeros_low > 0) || !(nonzeros_high > nonzeros_low)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "contour plot needs 0 < N low < N high, got %g and %g", nonzeros_low, nonzeros_high));
  }
  const bool sparse = options.model == CostModel::kSparse;
  SvgPlot plot(title,
               {absl::StrFormat("training compute C = 6 N D c_mul(S) (%s cost)",
                                sparse ? "sparse" : "dense"),
                true},
               {"non-zero parameters N", true});
  const std::vector<double> sizes = LogSpace(nonzeros_low, nonzeros_high, 25);
  SvgSeries frontier{"dense compute-optimal", "#000", {}, false, true, true};
  for (double n : sizes) {
    frontier.points.push_back({DenseOptimalCompute(law, n, options), n});
  }
  plot.AddSeries(std::move(frontier));
  int colour = 0;
  for (double level : levels) {
    SvgSeries line{
        level <= 1e-6 ? std::string("S_opt > 0 from here") : absl::StrFormat("S_opt = %g", level),
        PaletteColour(colour++),
        {},
        false,
        true,
        false};
    for (double n : sizes) {
      absl::StatusOr<double> compute = ComputeForSparsity(law, n, level, options);
      if (compute.ok()) {
        line.points.push_back({*compute, n});
      } else if (compute.status().code() != absl::StatusCode::kNotFound) {
        return compute.status();  // a level never reached just leaves its line empty
      }
    }
    plot.AddSeries(std::move(line));
  }
  return plot.Render();
}

}  // namespace sparsescale::law
