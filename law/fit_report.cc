#include "law/fit_report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/status.h"

namespace sparsescale::law {
namespace {

constexpr const char* kNormNames = "abcdefg";

const char* ResidualName(ResidualKind kind) { return kind == ResidualKind::kLog ? "log" : "abs"; }

nlohmann::json ResidualsJson(const std::vector<PointResidual>& points) {
  nlohmann::json out = nlohmann::json::array();
  for (const PointResidual& p : points) {
    out.push_back({{"label", p.label},
                   {"sparsity", p.sparsity},
                   {"nonzeros", p.nonzeros},
                   {"data", p.data},
                   {"measured", p.measured},
                   {"predicted", p.predicted},
                   {"relative_error", p.relative_error}});
  }
  return out;
}

nlohmann::json NormalisedJson(const NormCoeffs& norm) {
  nlohmann::json out = nlohmann::json::object();
  for (int k = 0; k < NormCoeffs::kCount; ++k) {
    out[std::string(1, kNormNames[k])] = norm.p[k];
  }
  return out;
}

nlohmann::json PaperJson(const std::optional<PaperCoeffs>& paper) {
  nlohmann::json out = nlohmann::json::object();
  const std::array<double, 7> values = paper ? PaperArray(*paper) : std::array<double, 7>{};
  for (int k = 0; k < 7; ++k) {
    out[kPaperNames[k]] = paper ? nlohmann::json(values[k]) : nlohmann::json(nullptr);
  }
  return out;
}

nlohmann::json IntervalsJson(const std::optional<BootstrapResult>& bootstrap) {
  if (!bootstrap.has_value()) {
    return nullptr;
  }
  nlohmann::json out = {{"level", bootstrap->level},
                        {"resamples", bootstrap->resamples},
                        {"usable", bootstrap->usable}};
  // A bound the resamples leave open (infinite) or never gave (NaN) is written as null.
  auto bound = [](double v) {
    return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
  };
  for (int k = 0; k < 7; ++k) {
    out[kPaperNames[k]] = {bound(bootstrap->paper[k].low), bound(bootstrap->paper[k].high)};
  }
  return out;
}

// A value that may be infinite or NaN, as JSON (null then).
nlohmann::json Finite(double v) { return std::isfinite(v) ? nlohmann::json(v) : nullptr; }

nlohmann::json SelectionJson(const MinimumSelection& selection) {
  nlohmann::json errors = nlohmann::json::array();
  for (double e : selection.validation_errors) {
    errors.push_back(Finite(e));
  }
  return {{"applied", selection.applied},
          {"skipped", selection.skipped},
          {"chosen", selection.chosen},
          {"validation_mean_abs_relative_error", errors}};
}

nlohmann::json MinimaJson(const FitResult& fit) {
  nlohmann::json out = nlohmann::json::array();
  for (const FitMinimum& minimum : fit.minima) {
    const absl::StatusOr<PaperCoeffs> paper = ToPaper(minimum.norm, fit.scales);
    nlohmann::json entry =
        PaperJson(paper.ok() ? std::optional<PaperCoeffs>(*paper) : std::nullopt);
    entry["objective"] = minimum.objective;
    out.push_back(entry);
  }
  return out;
}

nlohmann::json SpreadJson(const ExtrapolationResult& e) {
  nlohmann::json errors = nlohmann::json::array(), ranges = nlohmann::json::array();
  for (double v : e.minima_mean_abs_relative_error) {
    errors.push_back(v);
  }
  for (const auto& [low, high] : e.held_out_prediction_range) {
    ranges.push_back({low, high});
  }
  nlohmann::json coefficients = nlohmann::json::object();
  for (int k = 0; k < 7; ++k) {
    coefficients[kPaperNames[k]] = {Finite(e.coefficient_range[k].first),
                                    Finite(e.coefficient_range[k].second)};
  }
  return {{"minima_mean_abs_relative_error", errors},
          {"held_out_predicted_range", ranges},
          {"coefficient_range", coefficients}};
}

nlohmann::json ExtrapolationJson(const FitReport& report) {
  if (!report.extrapolation.has_value()) {
    return report.extrapolation_error.empty()
               ? nlohmann::json(nullptr)
               : nlohmann::json{{"error", report.extrapolation_error}};
  }
  const ExtrapolationResult& e = *report.extrapolation;
  nlohmann::json out = PaperJson(e.fit.paper);
  out["held_out_nonzeros"] = e.held_out_nonzeros;
  out["fitted_runs"] = e.fitted_runs;
  out["objective"] = e.fit.objective;
  out["mean_abs_relative_error"] = e.mean_abs_relative_error;
  out["max_abs_relative_error"] = e.max_abs_relative_error;
  out["lowest_objective_mean_abs_relative_error"] = e.lowest_objective_mean_abs_relative_error;
  out["lowest_objective_max_abs_relative_error"] = e.lowest_objective_max_abs_relative_error;
  out["selection"] = SelectionJson(e.selection);
  out["minima"] = MinimaJson(e.fit);
  out["spread"] = SpreadJson(e);
  out["held_out"] = ResidualsJson(e.held_out);
  return out;
}

nlohmann::json StructuresJson(const std::vector<StructureFit>& structures) {
  nlohmann::json out = nlohmann::json::array();
  for (const StructureFit& s : structures) {
    nlohmann::json patterns = nlohmann::json::array();
    for (const PatternEquivalent& p : s.patterns) {
      patterns.push_back({{"pattern", p.pattern},
                          {"sparsity", p.sparsity},
                          {"equivalent_unstructured",
                           p.equivalent_unstructured ? nlohmann::json(*p.equivalent_unstructured)
                                                     : nlohmann::json(nullptr)}});
    }
    nlohmann::json entry = PaperJson(s.paper);
    entry["family"] = absl::StrFormat("n:%d", s.m);
    entry["runs"] = s.runs;
    entry["b_S_shared"] = s.b_s_shared;
    entry["objective"] = s.objective;
    entry["patterns"] = patterns;
    out.push_back(entry);
  }
  return out;
}

}  // namespace

absl::StatusOr<FitReport> FitRunRecords(const std::vector<RunRecord>& runs,
                                        const Normalisation& scales, const std::string& data_unit,
                                        double tokens_per_data_unit, const FitRequest& request) {
  RETURN_IF_ERROR(ValidateRuns(runs, 0));
  FitReport report;
  report.data_unit = data_unit;
  report.tokens_per_data_unit = tokens_per_data_unit;
  report.scales = scales;
  report.options = request.fit;
  report.runs_total = static_cast<int>(runs.size());
  std::vector<RunRecord> unstructured;
  for (const RunRecord& run : runs) {
    if (!IsNmStructured(run)) {
      unstructured.push_back(run);
    }
  }
  report.runs_fitted = static_cast<int>(unstructured.size());
  report.regime = CheckSparsityRegime(unstructured);
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(report.fit, FitLaw(unstructured, scales, request.fit));
  if (request.select_minimum) {
    report.selection = SelectMinimum(unstructured, scales, request.fit, report.fit);
  } else {
    report.selection.skipped = "selection off: the lowest-objective minimum";
  }
  report.fit_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (request.bootstrap_resamples > 0) {
    BootstrapOptions options;
    options.resamples = request.bootstrap_resamples;
    options.starts = request.bootstrap_starts;
    options.seed = request.fit.seed;
    options.threads = request.fit.threads;
    ASSIGN_OR_RETURN(report.bootstrap,
                     BootstrapIntervals(unstructured, scales, request.fit, report.fit, options));
  }
  const int sizes = DistinctSizes(unstructured);
  if (request.leave_largest_out && sizes < 3) {
    report.extrapolation_error =
        absl::StrFormat("needs at least 3 model sizes (2 to fit, 1 to predict), got %d", sizes);
  } else if (request.leave_largest_out) {
    absl::StatusOr<ExtrapolationResult> extrapolation =
        LeaveLargestOut(unstructured, scales, request.fit, request.select_minimum);
    if (extrapolation.ok()) {
      report.extrapolation = *std::move(extrapolation);
    } else {
      report.extrapolation_error = std::string(extrapolation.status().message());
    }
  }
  if (request.structure_refits) {
    ASSIGN_OR_RETURN(report.structures, FitStructures(runs, scales, request.fit, report.fit));
  }
  return report;
}

nlohmann::json FitReportToJson(const FitReport& report) {
  const FitResult& fit = report.fit;
  nlohmann::json out = PaperJson(fit.paper);
  out["objective"] = fit.objective;
  out["starts"] = fit.starts;
  out["starts_finished"] = fit.starts_finished;
  out["starts_within_1pct"] = fit.starts_within_1pct;
  out["intervals"] = IntervalsJson(report.bootstrap);
  out["minima"] = MinimaJson(fit);
  out["chosen_minimum"] = fit.chosen_minimum;
  out["selection"] = SelectionJson(report.selection);
  out["sparsity_regime"] = {{"pairs", report.regime.pairs},
                            {"violations", report.regime.violations.size()},
                            {"nonzeros_ratio", report.regime.nonzeros_ratio}};
  out["physical"] = report.options.physical;
  out["normalised"] = NormalisedJson(fit.norm);
  out["normalisation"] = {{"n_scale", report.scales.n_scale}, {"d_scale", report.scales.d_scale}};
  out["data_unit"] = report.data_unit;
  out["tokens_per_data_unit"] = report.tokens_per_data_unit;
  out["residual"] = ResidualName(report.options.residual);
  out["delta"] = report.options.delta;
  out["seed"] = report.options.seed;
  out["runs"] = report.runs_total;
  out["runs_fitted"] = report.runs_fitted;
  out["rmse"] = fit.rmse;
  out["mean_relative_error"] = fit.mean_relative_error;
  out["fit_seconds"] = report.fit_seconds;
  out["residuals"] = ResidualsJson(fit.residuals);
  out["leave_largest_out"] = ExtrapolationJson(report);
  out["structures"] = StructuresJson(report.structures);
  return out;
}

namespace {

std::string CoefficientTable(const FitReport& report) {
  const bool intervals = report.bootstrap.has_value();
  std::string out = absl::StrFormat("%-6s %13s", "coeff", "paper form");
  if (intervals) {
    out += absl::StrFormat(
        "   %-27s", absl::StrFormat("%g%% bootstrap interval", 100 * report.bootstrap->level));
  }
  out += absl::StrFormat("   %-6s %12s\n", "norm.", "value");
  const std::array<double, 7> paper =
      report.fit.paper ? PaperArray(*report.fit.paper) : std::array<double, 7>{};
  for (int k = 0; k < 7; ++k) {
    out += report.fit.paper ? absl::StrFormat("%-6s %13.6g", kPaperNames[k], paper[k])
                            : absl::StrFormat("%-6s %13s", kPaperNames[k], "n/a");
    if (intervals) {
      const CoefficientInterval& ci = report.bootstrap->paper[k];
      out += absl::StrFormat("   [%11.5g, %11.5g]  ", ci.low, ci.high);
    }
    out += absl::StrFormat("   %-6c %12.8f\n", kNormNames[k], report.fit.norm.p[k]);
  }
  return out;
}

std::string SelectionText(const FitResult& fit, const MinimumSelection& selection,
                          const std::string& what, double tolerance) {
  std::string out = absl::StrFormat("%s: %d distinct minima within %g%% of the best objective",
                                    what, fit.minima.size(), 100 * tolerance);
  if (!selection.applied) {
    return out + "; lowest objective kept (" + selection.skipped + ")\n";
  }
  out += absl::StrFormat(
      "; chose minimum %d (objective %.4g) by held-out error on its own "
      "largest size:",
      selection.chosen, fit.objective);
  for (double e : selection.validation_errors) {
    out += absl::StrFormat(" %.2f%%", 100 * e);
  }
  return out + "\n";
}

std::string ResidualTable(const std::vector<PointResidual>& points);

std::string HeldOutText(const ExtrapolationResult& e, double tolerance) {
  std::string out = absl::StrFormat(
      "leave-largest-out: fit %d runs with N < %.4g, predict the %d at N = %.4g: mean |rel. "
      "error| %.3f%%, max %.3f%% (lowest-objective minimum: %.3f%%, max %.3f%%)\n",
      e.fitted_runs, e.held_out_nonzeros, e.held_out.size(), e.held_out_nonzeros,
      100 * e.mean_abs_relative_error, 100 * e.max_abs_relative_error,
      100 * e.lowest_objective_mean_abs_relative_error,
      100 * e.lowest_objective_max_abs_relative_error);
  out += SelectionText(e.fit, e.selection, "  held-out fit", tolerance);
  if (e.minima_mean_abs_relative_error.size() > 1) {
    const auto [low, high] = std::minmax_element(e.minima_mean_abs_relative_error.begin(),
                                                 e.minima_mean_abs_relative_error.end());
    out += absl::StrFormat(
        "  the minima's mean held-out error spans %.3f%% to %.3f%%; b_S %.4g "
        "to %.4g, b_D %.4g to %.4g\n",
        100 * *low, 100 * *high, e.coefficient_range[1].first, e.coefficient_range[1].second,
        e.coefficient_range[5].first, e.coefficient_range[5].second);
  }
  return out + ResidualTable(e.held_out);
}

std::string AnalysesText(const FitReport& report) {
  const double tolerance = report.options.minima_tolerance;
  std::string out = SelectionText(report.fit, report.selection, "final fit", tolerance);
  if (report.extrapolation.has_value()) {
    out += HeldOutText(*report.extrapolation, tolerance);
  } else if (!report.extrapolation_error.empty()) {
    out += "leave-largest-out skipped: " + report.extrapolation_error + "\n";
  }
  out += FormatSparsityRegime(report.regime);
  for (const StructureFit& s : report.structures) {
    out += absl::StrFormat("structure n:%d (%d runs incl. dense%s): objective %.4g", s.m, s.runs,
                           s.b_s_shared ? ", b_S shared" : "", s.objective);
    if (s.paper) {
      out +=
          absl::StrFormat("  a_S %.5g b_S %.5g c_S %.5g", s.paper->a_s, s.paper->b_s, s.paper->c_s);
    }
    out += "\n";
    for (const PatternEquivalent& p : s.patterns) {
      out += p.equivalent_unstructured
                 ? absl::StrFormat("  %s (S = %.4g) ~ unstructured S = %.4f\n", p.pattern,
                                   p.sparsity, *p.equivalent_unstructured)
                 : absl::StrFormat("  %s (S = %.4g): no equivalent unstructured sparsity\n",
                                   p.pattern, p.sparsity);
    }
  }
  return out;
}

std::string ResidualTable(const std::vector<PointResidual>& points) {
  std::string out = absl::StrFormat("%-22s %8s %12s %12s %10s %10s %9s\n", "run", "S", "N", "D",
                                    "measured", "predicted", "rel.err");
  for (const PointResidual& p : points) {
    out += absl::StrFormat("%-22s %8.4f %12.5g %12.5g %10.5f %10.5f %8.3f%%\n", p.label, p.sparsity,
                           p.nonzeros, p.data, p.measured, p.predicted, 100 * p.relative_error);
  }
  return out;
}

}  // namespace

std::string FormatFitReport(const FitReport& report, bool with_residuals) {
  const FitResult& fit = report.fit;
  std::string out = absl::StrFormat(
      "law fit: %d runs (D in %s, N' = N/%g, D' = D/%g), %s residuals, delta %g, %d starts "
      "(seed %d), %.3f s\n",
      report.runs_fitted, report.data_unit, report.scales.n_scale, report.scales.d_scale,
      ResidualName(report.options.residual), report.options.delta, fit.starts, report.options.seed,
      report.fit_seconds);
  out += absl::StrFormat(
      "objective %.6e   starts within 1%%: %d of %d   RMSE %.5f   mean relative error %.3f%%\n",
      fit.objective, fit.starts_within_1pct, fit.starts, fit.rmse, 100 * fit.mean_relative_error);
  out += CoefficientTable(report);
  out += AnalysesText(report);
  if (with_residuals) {
    out += ResidualTable(fit.residuals);
  }
  return out;
}

absl::StatusOr<LawFile> ParseLawFile(const std::string& text) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError("coefficient file is not a JSON object");
  }
  std::array<double, 7> values{};
  for (int k = 0; k < 7; ++k) {
    auto it = doc.find(kPaperNames[k]);
    if (it == doc.end() || !it->is_number()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("coefficient file: key '%s' is %s; expected a number", kPaperNames[k],
                          it == doc.end() ? "missing" : it->dump()));
    }
    values[k] = it->get<double>();
  }
  LawFile file;
  file.paper = {values[0], values[1], values[2], values[3], values[4], values[5], values[6]};
  if (auto it = doc.find("data_unit"); it != doc.end() && it->is_string()) {
    file.data_unit = it->get<std::string>();
  }
  if (auto it = doc.find("tokens_per_data_unit"); it != doc.end() && it->is_number()) {
    file.tokens_per_data_unit = it->get<double>();
  }
  if (!(file.paper.b_n > 0) || !(file.paper.b_d > 0) || !(file.paper.a_d > 0)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("coefficient file: b_N, b_D and a_D must be positive, got %g, %g, %g",
                        file.paper.b_n, file.paper.b_d, file.paper.a_d));
  }
  return file;
}

absl::StatusOr<LawFile> LoadLawFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrFormat("cannot open coefficient file '%s'", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  absl::StatusOr<LawFile> file = ParseLawFile(buffer.str());
  if (!file.ok()) {
    return absl::Status(file.status().code(),
                        absl::StrFormat("%s: %s", path, file.status().message()));
  }
  return file;
}

}  // namespace sparsescale::law
