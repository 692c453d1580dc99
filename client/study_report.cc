#include "client/study_report.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_format.h"
#include "client/export_csv.h"
#include "client/output.h"
#include "common/status.h"
#include "law/fit_analysis.h"  // OptimalSparsityInterval
#include "law/law_plots.h"
#include "law/optimal_sparsity.h"
#include "law/proto/law_proto.h"
#include "law/run_io.h"

namespace sparsescale::client {

namespace v1 = sparsescale::v1;

std::vector<law::PaperCoeffs> BootstrapSamplesOf(const v1::FitLawResponse& fit) {
  std::vector<law::PaperCoeffs> samples;
  for (const v1::LawCoefficients& c : fit.bootstrap_samples()) {
    samples.push_back(law::PaperCoeffsOf(c));
  }
  return samples;
}

std::string HeldOutSummaryLine(const v1::HeldOutCheck& check) {
  if (!check.skipped().empty()) {
    return "held-out check skipped: " + check.skipped();
  }
  return absl::StrFormat(
      "held-out check (fit %d runs below N = %.4g, predict its %d cells): mean |error| %.2f%%, "
      "worst %.2f%%",
      check.fitted_runs(), check.held_out_nonzeros(), check.points_size(),
      100 * check.mean_abs_relative_error(), 100 * check.max_abs_relative_error());
}

std::string FormatHeldOutCheck(const v1::HeldOutCheck& check) {
  std::string out = HeldOutSummaryLine(check) + "\n";
  if (!check.skipped().empty()) {
    return out;
  }
  out += absl::StrFormat(
      "  %d near-optimal minima; the lowest-objective one: mean %.2f%%, worst %.2f%%\n",
      check.minima(), 100 * check.lowest_objective_mean_abs_relative_error(),
      100 * check.lowest_objective_max_abs_relative_error());
  Table table({"JOB", "SPARSITY", "NONZEROS", "TOKENS", "MEASURED", "PREDICTED", "ERROR"});
  for (const v1::HeldOutPoint& p : check.points()) {
    table.AddRow({p.job_id().substr(0, 12), absl::StrFormat("%.4g", p.sparsity()),
                  absl::StrFormat("%.0f", p.nonzeros()), absl::StrFormat("%.3g", p.tokens()),
                  absl::StrFormat("%.4f", p.measured()), absl::StrFormat("%.4f", p.predicted()),
                  absl::StrFormat("%+.2f%%", 100 * p.relative_error())});
  }
  return out + table.Render();
}

std::string FormatStructureRefits(const v1::FitLawResponse& fit) {
  if (fit.structures().empty()) {
    return "";
  }
  std::string out =
      "structured sparsity: a_S, b_S, c_S refitted per n:m family on its runs and the dense "
      "ones (b_N, a_D, b_D, c shared)\n";
  Table table({"PATTERN", "SPARSITY", "EQUIVALENT UNSTRUCTURED", "a_S", "b_S", "c_S", "RUNS"});
  for (const v1::StructureRefit& family : fit.structures()) {
    const v1::LawCoefficients& c = family.coefficients();
    for (const v1::StructurePattern& p : family.patterns()) {
      table.AddRow({p.pattern(), absl::StrFormat("%.4g", p.sparsity()),
                    p.has_equivalent_unstructured()
                        ? absl::StrFormat("%.3f", p.equivalent_unstructured())
                        : std::string("none in [0, 1)"),
                    family.has_coefficients() ? absl::StrFormat("%.4g", c.a_s()) : "-",
                    family.has_coefficients()
                        ? absl::StrFormat("%.4g%s", c.b_s(), family.b_s_shared() ? " (shared)" : "")
                        : "-",
                    family.has_coefficients() ? absl::StrFormat("%.4g", c.c_s()) : "-",
                    absl::StrCat(family.runs())});
    }
  }
  return out + table.Render();
}

std::string SparsityWithInterval(const law::PaperCoeffs& law,
                                 const std::vector<law::PaperCoeffs>& samples, double nonzeros,
                                 double compute) {
  law::CostOptions cost;  // sparse cost, default pruning window; D in tokens
  absl::StatusOr<law::OptimalSparsity> best =
      law::FindOptimalSparsity(law, nonzeros, compute, cost);
  if (!best.ok()) {
    return "-";
  }
  absl::StatusOr<law::CoefficientInterval> interval =
      law::OptimalSparsityInterval(law, samples, nonzeros, compute, cost, 0.95);
  if (samples.empty() || !interval.ok()) {
    return absl::StrFormat("%.3f", best->sparsity);
  }
  return absl::StrFormat("%.3f [%.3f, %.3f]", best->sparsity, interval->low, interval->high);
}

std::vector<law::RunRecord> RunsOfJobs(const std::vector<v1::Job>& jobs) {
  std::vector<law::RunRecord> runs;
  for (const v1::Job& job : jobs) {
    std::optional<SummaryRow> row = JobSummaryRow(job);
    if (!row.has_value() || row->structure == "nm") {
      continue;  // n:m runs are not in the main fit
    }
    law::RunRecord run;
    run.label = "job " + row->job_id;
    run.job_id = row->job_id;
    run.sparsity = row->sparsity;
    run.nonzeros = row->nonzeros;
    run.data = row->tokens;
    run.loss = row->final_eval_loss;
    runs.push_back(run);
  }
  return runs;
}

absl::Status WriteStudyFigures(const v1::FitLawResponse& fit, const std::vector<v1::Job>& jobs,
                               const std::string& dir, std::vector<std::string>* written) {
  const std::vector<law::RunRecord> runs = RunsOfJobs(jobs);
  if (runs.empty()) {
    return absl::OkStatus();
  }
  const law::PaperCoeffs paper = law::PaperCoeffsOf(fit.coefficients());
  const law::Normalisation scales = law::DefaultNormalisation(runs);
  const double held_out =
      fit.held_out().skipped().empty() ? fit.held_out().held_out_nonzeros() : 0.0;
  const std::string loss_path = (std::filesystem::path(dir) / "loss_vs_nonzeros.svg").string();
  const std::string loss_svg = law::LossVsNonzerosSvg(
      law::ToNormalised(paper, scales), scales, runs, held_out,
      "Final eval loss against non-zeros, with the fitted law (held-out size in black)");
  double n_low = runs.front().nonzeros, n_high = n_low;
  for (const law::RunRecord& run : runs) {
    n_low = std::min(n_low, run.nonzeros);
    n_high = std::max(n_high, run.nonzeros);
  }
  ASSIGN_OR_RETURN(std::string contour_svg,
                   law::ContourPlotSvg(paper, law::CostOptions{}, {1e-9, 0.5, 0.75, 0.875},
                                       n_low / 2, n_high * 4,
                                       "Compute-optimal sparsity (sparse cost), dashed: 80% "
                                       "bootstrap band",
                                       BootstrapSamplesOf(fit)));
  const std::string contour_path = (std::filesystem::path(dir) / "sparsity_contours.svg").string();
  for (const auto& [path, svg] : {std::pair{loss_path, loss_svg}, {contour_path, contour_svg}}) {
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file << svg;
    file.close();
    if (!file) {
      return absl::InternalError(absl::StrFormat("cannot write figure '%s'", path));
    }
    written->push_back(path);
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::client
