// `sparsescale law ...`: fit the sparse scaling law to runs, predict losses, find the
// compute-optimal sparsity and tabulate or plot its contours. All work is done by the
// sparsescale_law library; this file parses flags and prints.
//
//   law fit FILE            fit released t5-c4.csv / vit-jft.json or a sparsescale CSV export
//   law predict             L(S, N, D), k(S) and training compute under both cost models
//   law optimal-sparsity    S_opt(N, C) under the sparse or dense cost model
//   law contours            S_opt over a grid of N and C, and an SVG of its contour lines
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "client/cli_util.h"
#include "client/command.h"
#include "law/fit_report.h"
#include "law/law_plots.h"
#include "law/optimal_sparsity.h"
#include "law/run_io.h"
#include "law/scaling_law.h"

namespace sparsescale::cli {
namespace {

using law::CostModel;
using law::CostOptions;
using law::PaperCoeffs;

using client::ExitCodeFor;

// Prints the error and ends the command with the matching exit code.
[[noreturn]] void Fail(const absl::Status& status) {
  std::cerr << "sparsescale law: " << status.message() << "\n";
  throw CLI::RuntimeError(ExitCodeFor(status));
}

void CheckOk(const absl::Status& status) {
  if (!status.ok()) {
    Fail(status);
  }
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  return out ? absl::OkStatus() : absl::InternalError(absl::StrFormat("cannot write '%s'", path));
}

// ---------------------------------------------------------------------------------------------
// law fit

struct FitFlags {
  std::string file;
  std::string residual;  // empty: the paper's choice for the data (abs for ViT, else log)
  std::optional<double> delta;
  int starts = 200;
  uint64_t seed = 1;
  int threads = 0;
  bool json = false;
  bool residuals = false;
  bool no_extrapolation = false;
  bool unconstrained = false;
  bool lowest_objective = false;
  double minima_tolerance = 0.05;
  int bootstrap = 0;
  int bootstrap_starts = 16;
  std::string plot;
  std::string loss_plot;
  std::optional<double> d_scale;
};

law::FitRequest MakeFitRequest(const FitFlags& flags, const std::string& format) {
  law::FitRequest request;
  const std::string residual =
      !flags.residual.empty() ? flags.residual : (format == "vit-json" ? "abs" : "log");
  request.fit.residual = residual == "abs" ? law::ResidualKind::kAbs : law::ResidualKind::kLog;
  request.fit.delta = flags.delta.value_or(residual == "abs" ? 1e-2 : 1e-3);
  request.fit.starts = flags.starts;
  request.fit.seed = flags.seed;
  request.fit.threads = flags.threads;
  request.bootstrap_resamples = flags.bootstrap;
  request.bootstrap_starts = flags.bootstrap_starts;
  request.leave_largest_out = !flags.no_extrapolation;
  request.select_minimum = !flags.lowest_objective;
  request.fit.physical = !flags.unconstrained;
  request.fit.minima_tolerance = flags.minima_tolerance;
  return request;
}

// Fits `set` and prints the report: the one path every source of runs goes through. The
// coordinator's `law fit --sweep ID` builds a RunSet from the stored sweep and calls this.
void FitAndReport(const law::RunSet& set, const FitFlags& flags) {
  const absl::StatusOr<law::FitReport> report =
      law::FitRunRecords(set.runs, set.scales, set.data_unit, set.tokens_per_data_unit,
                         MakeFitRequest(flags, set.format));
  CheckOk(report.status());
  if (!flags.plot.empty()) {
    const std::string title = absl::StrFormat("Sparse scaling law fit (%d runs, objective %.3g)",
                                              report->runs_fitted, report->fit.objective);
    CheckOk(WriteText(flags.plot, law::FitPlotSvg(report->fit, title)));
  }
  if (!flags.loss_plot.empty()) {
    const double held_out = report->extrapolation ? report->extrapolation->held_out_nonzeros : 0.0;
    CheckOk(WriteText(flags.loss_plot,
                      law::LossVsNonzerosSvg(report->fit.norm, report->scales, set.runs, held_out,
                                             "Final loss against non-zeros, with the fitted law")));
  }
  if (flags.json) {
    std::cout << law::FitReportToJson(*report).dump(2) << "\n";
  } else {
    std::cout << law::FormatFitReport(*report, flags.residuals);
    if (!flags.plot.empty()) {
      std::cout << "plot written to " << flags.plot << "\n";
    }
  }
}

void InstallFit(CLI::App& group) {
  auto flags = std::make_shared<FitFlags>();
  CLI::App* fit = group.add_subcommand(
      "fit",
      "Fit the law to a run file: released t5-c4.csv or vit-jft.json (N = PARAM_COUNT * scale * "
      "(1 - S), paper normalisation), or a sparsescale CSV export with columns " +
          std::string("job_id,sweep_id,structure,n,m,sparsity,nonzeros,tokens,final_eval_loss"));
  fit->add_option("FILE", flags->file, "run file (format detected from its content)")->required();
  fit->add_option("--residual", flags->residual,
                  "log or abs residuals (default: abs for the ViT JSON, log otherwise)")
      ->check(CLI::IsMember({"log", "abs"}));
  fit->add_option("--delta", flags->delta, "Huber delta (default 1e-2 for abs, 1e-3 for log)")
      ->check(CLI::PositiveNumber);
  fit->add_option("--starts", flags->starts, "random BFGS starts (default 200)")
      ->check(CLI::Range(1, 1000000));
  fit->add_option("--seed", flags->seed, "seed of the random starts (default 1)");
  fit->add_option("--threads", flags->threads, "threads (default: one per core)")
      ->check(CLI::Range(0, 1024));
  fit->add_option("--bootstrap", flags->bootstrap,
                  "bootstrap resamples for 95% intervals (default 0: none)")
      ->check(CLI::Range(0, 100000));
  fit->add_option("--bootstrap-starts", flags->bootstrap_starts,
                  "random starts per bootstrap resample, besides the full optimum (default 16)")
      ->check(CLI::Range(0, 100000));
  fit->add_option("--d-scale", flags->d_scale,
                  "D normalisation D' = D / X (default 1e5 for T5 steps, 1e9 for ViT images, "
                  "the power of ten nearest the geometric mean of D otherwise)")
      ->check(CLI::PositiveNumber);
  fit->add_option("--plot", flags->plot, "write measured-vs-predicted loss as SVG here");
  fit->add_flag("--json", flags->json, "print the report as JSON (also a coefficient file)");
  fit->add_flag("--residuals", flags->residuals, "print per-run residuals in the table");
  fit->add_option("--loss-plot", flags->loss_plot,
                  "write loss against non-zeros with the law and the held-out runs as SVG here");
  fit->add_flag("--no-extrapolation", flags->no_extrapolation,
                "skip the leave-largest-N-out check (run by default when there are >= 3 sizes)");
  fit->add_flag("--unconstrained", flags->unconstrained,
                "let coefficients leave their physical ranges (positive scales and exponents, "
                "0 <= c < lowest loss)");
  fit->add_flag("--lowest-objective", flags->lowest_objective,
                "keep the lowest-objective minimum instead of choosing among near-optimal "
                "minima by held-out error");
  fit->add_option("--minima-tolerance", flags->minima_tolerance,
                  "minima within this relative distance of the best objective are "
                  "near-optimal (default 0.05)")
      ->check(CLI::Range(0.0, 100.0));
  fit->callback([flags] {
    const absl::StatusOr<law::RunSet> set = law::LoadRuns(flags->file, flags->d_scale);
    CheckOk(set.status());
    FitAndReport(*set, *flags);
  });
}

// ---------------------------------------------------------------------------------------------
// Shared by predict, optimal-sparsity and contours: where the law comes from, and the costs.

struct LawFlags {
  std::string coeffs;
  std::string preset;
  std::optional<double> tokens_per_unit;
  std::string cost = "sparse";
  double prune_start = 0.25, prune_end = 0.75, prune_power = 3.0;
  bool json = false;
};

void AddLawFlags(CLI::App* app, LawFlags& flags, bool with_cost) {
  auto* coeffs =
      app->add_option("--coeffs", flags.coeffs, "coefficient file (the JSON of law fit --json)");
  auto* preset = app->add_option("--preset", flags.preset, "released law: t5 or vit")
                     ->check(CLI::IsMember({"t5", "vit"}));
  coeffs->excludes(preset);
  app->add_option("--tokens-per-unit", flags.tokens_per_unit,
                  "tokens per unit of D for compute (default: from the file or preset: 65536 "
                  "per T5 step, 1 otherwise)")
      ->check(CLI::PositiveNumber);
  if (with_cost) {
    app->add_option("--cost", flags.cost, "cost model: sparse (default) or dense")
        ->check(CLI::IsMember({"sparse", "dense"}));
  }
  app->add_option("--prune-start", flags.prune_start, "pruning start, fraction of training (0.25)")
      ->check(CLI::Range(0.0, 1.0));
  app->add_option("--prune-end", flags.prune_end, "pruning end, fraction of training (0.75)")
      ->check(CLI::Range(0.0, 1.0));
  app->add_option("--prune-power", flags.prune_power, "power of the sparsity ramp (3: cubic)")
      ->check(CLI::PositiveNumber);
  app->add_flag("--json", flags.json, "print JSON");
}

struct ResolvedLaw {
  PaperCoeffs paper;
  std::string data_unit;
  CostOptions cost;
};

ResolvedLaw ResolveLaw(const LawFlags& flags) {
  if (flags.coeffs.empty() && flags.preset.empty()) {
    Fail(absl::InvalidArgumentError("give the law with --coeffs FILE.json or --preset t5|vit"));
  }
  if (flags.prune_end < flags.prune_start) {
    Fail(absl::InvalidArgumentError(
        absl::StrFormat("--prune-end (%g) must not be before --prune-start (%g)", flags.prune_end,
                        flags.prune_start)));
  }
  ResolvedLaw law;
  if (!flags.preset.empty()) {
    const absl::StatusOr<law::LawPreset> preset = law::FindPreset(flags.preset);
    CheckOk(preset.status());
    law.paper = preset->paper;
    law.data_unit = preset->data_unit;
    law.cost.tokens_per_data_unit = preset->tokens_per_data_unit;
  } else {
    const absl::StatusOr<law::LawFile> file = law::LoadLawFile(flags.coeffs);
    CheckOk(file.status());
    law.paper = file->paper;
    law.data_unit = file->data_unit.empty() ? "data units" : file->data_unit;
    law.cost.tokens_per_data_unit = file->tokens_per_data_unit;
  }
  law.cost.tokens_per_data_unit = flags.tokens_per_unit.value_or(law.cost.tokens_per_data_unit);
  law.cost.model = flags.cost == "dense" ? CostModel::kDense : CostModel::kSparse;
  law.cost.schedule = {flags.prune_start, flags.prune_end, flags.prune_power};
  return law;
}

// ---------------------------------------------------------------------------------------------
// law predict

void Predict(const LawFlags& flags, double sparsity, double nonzeros, double data) {
  const ResolvedLaw law = ResolveLaw(flags);
  CostOptions sparse_cost = law.cost, dense_cost = law.cost;
  sparse_cost.model = CostModel::kSparse;
  dense_cost.model = CostModel::kDense;
  const double loss = law::PredictLoss(law.paper, sparsity, nonzeros, data);
  const double k = law::DenseEquivalentMultiplier(law.paper, sparsity);
  const double c_sparse = law::TrainingCompute(sparsity, nonzeros, data, sparse_cost);
  const double c_dense = law::TrainingCompute(sparsity, nonzeros, data, dense_cost);
  if (flags.json) {
    std::cout << nlohmann::json{{"sparsity", sparsity},
                                {"nonzeros", nonzeros},
                                {"data", data},
                                {"data_unit", law.data_unit},
                                {"loss", loss},
                                {"dense_equivalent_k", k},
                                {"compute_sparse_cost", c_sparse},
                                {"compute_dense_cost", c_dense}}
                     .dump(2)
              << "\n";
    return;
  }
  std::cout << absl::StrFormat(
      "L(S=%g, N=%.4g, D=%.4g %s) = %.6f\n"
      "dense-equivalent multiplier k(S) = %.4f (behaves like a dense model of %.4g parameters)\n"
      "training compute: %.4g (sparse cost), %.4g (dense cost)\n",
      sparsity, nonzeros, data, law.data_unit, loss, k, k * nonzeros, c_sparse, c_dense);
}

void InstallPredict(CLI::App& group) {
  auto flags = std::make_shared<LawFlags>();
  auto values = std::make_shared<std::array<double, 3>>();
  CLI::App* predict = group.add_subcommand("predict", "Predict the loss L(S, N, D) of a run");
  AddLawFlags(predict, *flags, /*with_cost=*/false);
  predict->add_option("--sparsity", (*values)[0], "sparsity S in [0, 1)")
      ->required()
      ->check(CLI::Range(0.0, 0.999999999));
  predict->add_option("--nonzeros", (*values)[1], "non-zero parameters N")
      ->required()
      ->check(CLI::PositiveNumber);
  predict->add_option("--data", (*values)[2], "data D in the law's unit")
      ->required()
      ->check(CLI::PositiveNumber);
  predict->callback([flags, values] { Predict(*flags, (*values)[0], (*values)[1], (*values)[2]); });
}

// ---------------------------------------------------------------------------------------------
// law optimal-sparsity

void OptimalSparsity(const LawFlags& flags, double nonzeros, double compute) {
  const ResolvedLaw law = ResolveLaw(flags);
  const absl::StatusOr<law::OptimalSparsity> opt =
      law::FindOptimalSparsity(law.paper, nonzeros, compute, law.cost);
  CheckOk(opt.status());
  const double n_dense = law::DenseOptimalNonzeros(law.paper, compute, law.cost);
  const double c_dense = law::DenseOptimalCompute(law.paper, nonzeros, law.cost);
  if (flags.json) {
    std::cout << nlohmann::json{{"nonzeros", nonzeros},
                                {"compute", compute},
                                {"cost", flags.cost},
                                {"optimal_sparsity", opt->sparsity},
                                {"loss", opt->loss},
                                {"data", opt->data},
                                {"data_unit", law.data_unit},
                                {"dense_optimal_nonzeros", n_dense},
                                {"dense_optimal_compute_for_nonzeros", c_dense}}
                     .dump(2)
              << "\n";
    return;
  }
  std::cout << absl::StrFormat(
      "S_opt(N=%.4g, C=%.4g, %s cost) = %.4f  (loss %.5f with D = %.4g %s)\n"
      "dense compute-optimal size for C: N = %.4g;  N is dense-optimal at C = %.4g (C/C* = "
      "%.3g)\n",
      nonzeros, compute, flags.cost, opt->sparsity, opt->loss, opt->data, law.data_unit, n_dense,
      c_dense, compute / c_dense);
}

void InstallOptimalSparsity(CLI::App& group) {
  auto flags = std::make_shared<LawFlags>();
  auto values = std::make_shared<std::array<double, 2>>();
  CLI::App* cmd = group.add_subcommand(
      "optimal-sparsity", "Sparsity minimising L(S, N, D) for N non-zeros and compute C");
  AddLawFlags(cmd, *flags, /*with_cost=*/true);
  cmd->add_option("--nonzeros", (*values)[0], "non-zero parameters N")
      ->required()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--compute", (*values)[1], "training compute C = 6 N D_tokens c_mul(S)")
      ->required()
      ->check(CLI::PositiveNumber);
  cmd->callback([flags, values] { OptimalSparsity(*flags, (*values)[0], (*values)[1]); });
}

// ---------------------------------------------------------------------------------------------
// law contours

struct ContourFlags {
  std::optional<double> n_min, n_max, c_min, c_max;
  int rows = 7, columns = 8;
  std::vector<double> levels = {1e-9, 0.5, 0.75, 0.875, 0.9375};
  std::string plot;
};

void Contours(const LawFlags& flags, const ContourFlags& grid) {
  const ResolvedLaw law = ResolveLaw(flags);
  const double n_min = grid.n_min.value_or(1e6), n_max = grid.n_max.value_or(1e9);
  // By default C spans from a tenth of the dense-optimal compute of the smallest N to 1e4 times
  // that of the largest, where the interesting sparsities appear.
  const double c_min =
      grid.c_min.value_or(0.1 * law::DenseOptimalCompute(law.paper, n_min, law.cost));
  const double c_max =
      grid.c_max.value_or(1e4 * law::DenseOptimalCompute(law.paper, n_max, law.cost));
  const absl::StatusOr<law::ContourTable> table =
      law::SparsityContourTable(law.paper, law::LogSpace(n_min, n_max, grid.rows),
                                law::LogSpace(c_min, c_max, grid.columns), law.cost);
  CheckOk(table.status());
  if (!grid.plot.empty()) {
    const absl::StatusOr<std::string> svg = law::ContourPlotSvg(
        law.paper, law.cost, grid.levels, n_min, n_max,
        absl::StrFormat("Compute-optimal sparsity contours (%s cost)", flags.cost));
    CheckOk(svg.status());
    CheckOk(WriteText(grid.plot, *svg));
  }
  if (flags.json) {
    std::cout << nlohmann::json{{"cost", flags.cost},
                                {"nonzeros", table->nonzeros},
                                {"compute", table->computes},
                                {"optimal_sparsity", table->sparsity}}
                     .dump(2)
              << "\n";
    return;
  }
  std::cout << absl::StrFormat("S_opt by non-zeros N (rows) and compute C (columns), %s cost\n",
                               flags.cost);
  std::cout << absl::StrFormat("%10s", "N \\ C");
  for (double c : table->computes) {
    std::cout << absl::StrFormat(" %9.3g", c);
  }
  std::cout << "\n";
  for (size_t r = 0; r < table->nonzeros.size(); ++r) {
    std::cout << absl::StrFormat("%10.3g", table->nonzeros[r]);
    for (double s : table->sparsity[r]) {
      std::cout << absl::StrFormat(" %9.4f", s);
    }
    std::cout << "\n";
  }
  if (!grid.plot.empty()) {
    std::cout << "plot written to " << grid.plot << "\n";
  }
}

void InstallContours(CLI::App& group) {
  auto flags = std::make_shared<LawFlags>();
  auto grid = std::make_shared<ContourFlags>();
  CLI::App* cmd = group.add_subcommand("contours", "Table (and plot) of S_opt over N and C");
  AddLawFlags(cmd, *flags, /*with_cost=*/true);
  cmd->add_option("--n-min", grid->n_min, "smallest N (default 1e6)")->check(CLI::PositiveNumber);
  cmd->add_option("--n-max", grid->n_max, "largest N (default 1e9)")->check(CLI::PositiveNumber);
  cmd->add_option("--c-min", grid->c_min, "smallest C (default 0.1 x C*_dense(N min))")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--c-max", grid->c_max, "largest C (default 1e4 x C*_dense(N max))")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--rows", grid->rows, "values of N (default 7)")->check(CLI::Range(1, 1000));
  cmd->add_option("--columns", grid->columns, "values of C (default 8)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--levels", grid->levels, "contour levels for --plot")
      ->delimiter(',')
      ->check(CLI::Range(0.0, 0.999999));
  cmd->add_option("--plot", grid->plot, "write the S_opt contour lines as SVG here");
  cmd->callback([flags, grid] { Contours(*flags, *grid); });
}

void InstallLaw(CLI::App& root) {
  CLI::App* group =
      root.add_subcommand("law", "Sparse scaling law: fit, predict, optimal sparsity");
  group->require_subcommand(1);
  InstallFit(*group);
  InstallPredict(*group);
  InstallOptimalSparsity(*group);
  InstallContours(*group);
}

const CommandRegistrar kRegisterLaw(InstallLaw);

}  // namespace
}  // namespace sparsescale::cli
