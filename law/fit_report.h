// The whole `law fit` job behind one call: the main fit plus the optional analyses, and the
// report's renderings (JSON, text table, coefficient files). This is the entry point for any
// source of runs: the CLI reads a file, the coordinator passes the runs of a stored sweep.
// Stateless functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "law/fit_analysis.h"
#include "law/fitter.h"
#include "law/run_record.h"
#include "law/sparsity_regime.h"

namespace sparsescale::law {

struct FitRequest {
  FitOptions fit;
  int bootstrap_resamples = 0;  // 0: no intervals
  int bootstrap_starts = 16;    // random starts per resample (plus the full fit's optimum)
  // Fit without the largest N and predict it; runs only when there are at least 3 sizes.
  bool leave_largest_out = true;
  // Choose among near-optimal minima by SelectMinimum (in the main fit and the held-out fit);
  // false keeps the lowest-objective minimum.
  bool select_minimum = true;
  bool structure_refits = true;  // refit the sparsity term per n:m family, when there are any
};

struct FitReport {
  std::string data_unit;  // "steps", "images" or "tokens"
  double tokens_per_data_unit = 1;
  Normalisation scales;
  FitOptions options;  // as used (weights and extra starts empty)
  int runs_total = 0;
  int runs_fitted = 0;  // dense and unstructured runs: the main fit's input
  FitResult fit;
  double fit_seconds = 0;
  MinimumSelection selection;  // how the main fit's minimum was chosen
  std::optional<BootstrapResult> bootstrap;
  std::optional<ExtrapolationResult> extrapolation;
  std::string extrapolation_error;  // why leave-largest-out was skipped, if it was
  std::vector<StructureFit> structures;
  SparsityRegime regime;  // whether the fitted runs rank sparser models lower, as the law does
};

// Fits the dense and unstructured runs, then runs the requested analyses. n:m runs only enter
// the per-structure refits. Returns InvalidArgument for bad runs or options.
absl::StatusOr<FitReport> FitRunRecords(const std::vector<RunRecord>& runs,
                                        const Normalisation& scales, const std::string& data_unit,
                                        double tokens_per_data_unit, const FitRequest& request);

// The report as JSON: paper-form coefficients under a_S, b_S, c_S, b_N, a_D, b_D, c, then
// objective, starts, intervals and the rest. The result is also a valid coefficient file.
nlohmann::json FitReportToJson(const FitReport& report);

// A human-readable summary; per-run residuals when `with_residuals`.
std::string FormatFitReport(const FitReport& report, bool with_residuals);

// A law read from a coefficient file (the JSON `law fit --json` writes).
struct LawFile {
  PaperCoeffs paper;
  std::string data_unit;            // empty when the file does not say
  double tokens_per_data_unit = 1;  // 1 when the file does not say
};

// Parses a coefficient file; InvalidArgument naming the first missing or non-numeric key.
absl::StatusOr<LawFile> ParseLawFile(const std::string& text);

// Reads and parses a coefficient file; NotFound when it cannot be opened.
absl::StatusOr<LawFile> LoadLawFile(const std::string& path);

}  // namespace sparsescale::law
