#include "law/law_plots.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "law/fit_analysis.h"
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

std::string LossVsNonzerosSvg(const NormCoeffs& law, const Normalisation& scales,
                              const std::vector<RunRecord>& runs, double held_out_nonzeros,
                              const std::string& title) {
  SvgPlot plot(title, {"non-zero parameters N", true}, {"final eval loss", true});
  std::map<double, std::set<double>> budgets;  // sparsity -> data budgets
  double n_low = std::numeric_limits<double>::infinity(), n_high = 0;
  for (const RunRecord& run : runs) {
    budgets[run.sparsity].insert(run.data);
    n_low = std::min(n_low, run.nonzeros);
    n_high = std::max(n_high, run.nonzeros);
  }
  if (runs.empty()) {
    return plot.Render();
  }
  const std::vector<double> sizes = LogSpace(n_low / 1.2, n_high * 1.2, 30);
  const bool held = held_out_nonzeros > 0;
  const double cut = held_out_nonzeros / kSameSizeRatio;  // the runs of the held-out size
  int colour = 0;
  for (const auto& [sparsity, data_budgets] : budgets) {
    const std::string name = absl::StrFormat("S = %g", sparsity);
    SvgSeries measured{name, PaletteColour(colour), {}, true, false, false};
    for (const RunRecord& run : runs) {
      if (run.sparsity == sparsity && !(held && run.nonzeros >= cut)) {
        measured.points.push_back({run.nonzeros, run.loss});
      }
    }
    plot.AddSeries(std::move(measured));
    for (double data : data_budgets) {
      SvgSeries line{"", PaletteColour(colour), {}, false, true, data != *data_budgets.rbegin()};
      for (double n : sizes) {
        line.points.push_back({n, PredictLoss(law, scales, sparsity, n, data)});
      }
      plot.AddSeries(std::move(line));
    }
    ++colour;
  }
  if (held) {
    SvgSeries held_out{
        absl::StrFormat("held out (N = %.3g)", held_out_nonzeros), "#000", {}, true, false, false};
    for (const RunRecord& run : runs) {
      if (run.nonzeros >= cut) {
        held_out.points.push_back({run.nonzeros, run.loss});
      }
    }
    plot.AddSeries(std::move(held_out));
  }
  return plot.Render();
}

namespace {

// The dashed bootstrap band of one contour level: per N, the 10% and 90% quantiles over the
// samples of the compute where S_opt reaches `level`.
std::pair<SvgSeries, SvgSeries> ContourBand(const std::vector<PaperCoeffs>& samples,
                                            const CostOptions& options, double level,
                                            const std::vector<double>& sizes,
                                            const std::string& colour) {
  SvgSeries low{"", colour, {}, false, true, true}, high{"", colour, {}, false, true, true};
  const size_t count = std::min<size_t>(samples.size(), 24);
  for (double n : sizes) {
    std::vector<double> computes;
    for (size_t i = 0; i < count; ++i) {
      const PaperCoeffs& sample = samples[i * samples.size() / count];
      if (absl::StatusOr<double> c = ComputeForSparsity(sample, n, level, options); c.ok()) {
        computes.push_back(*c);
      }
    }
    if (computes.size() < 2) {
      continue;
    }
    std::sort(computes.begin(), computes.end());
    low.points.push_back({computes[computes.size() / 10], n});
    high.points.push_back({computes[computes.size() - 1 - computes.size() / 10], n});
  }
  return {std::move(low), std::move(high)};
}

}  // namespace

absl::StatusOr<std::string> ContourPlotSvg(const PaperCoeffs& law, const CostOptions& options,
                                           const std::vector<double>& levels, double nonzeros_low,
                                           double nonzeros_high, const std::string& title,
                                           const std::vector<PaperCoeffs>& samples) {
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
    if (!samples.empty()) {
      auto [low, high] =
          ContourBand(samples, options, level, LogSpace(nonzeros_low, nonzeros_high, 9),
                      PaletteColour(colour - 1));
      plot.AddSeries(std::move(low));
      plot.AddSeries(std::move(high));
    }
  }
  return plot.Render();
}

}  // namespace sparsescale::law
