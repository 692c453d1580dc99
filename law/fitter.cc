#include "law/fitter.h"

#include <ceres/gradient_problem.h>
#include <ceres/gradient_problem_solver.h>
#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/split_mix.h"
#include "common/status.h"
#include "law/parallel_for.h"

namespace sparsescale::law {
namespace {

// The solver's unconstrained variables and the law's coefficients (FitOptions::physical):
// a..f = exp(x) and g = bound / (1 + exp(-x)); the identity when not physical.
class Coordinates {
 public:
  static constexpr double kInside = 1e-4;

  Coordinates(bool physical, double g_bound) : physical_(physical), g_bound_(g_bound) {}

  // Physical variables stay in [-kBox, kBox]: coefficients between e^-60 and e^60 (1e-26 to
  // 1e26), far beyond any meaningful value, so exp never overflows.
  static constexpr double kBox = 60.0;
  bool InBox(double x) const { return !physical_ || std::fabs(x) <= kBox; }

  double Coefficient(int k, double x) const {
    if (!physical_) {
      return x;
    }
    return k == 6 ? g_bound_ / (1.0 + std::exp(-x)) : std::exp(x);
  }
  // d coefficient / d x at x.
  double Derivative(int k, double x) const {
    if (!physical_) {
      return 1.0;
    }
    const double p = Coefficient(k, x);
    return k == 6 ? p * (1.0 - p / g_bound_) : p;
  }
  // The variable of coefficient p, after moving p into the allowed range. A start on or beyond
  // an edge goes 1e-4 (relative to the bound for g) inside it, not onto it: there exp and the
  // logistic are so flat that BFGS would never leave.
  double Variable(int k, double p) const {
    if (!physical_) {
      return p;
    }
    if (k == 6) {
      const double g = std::clamp(p, g_bound_ * kInside, g_bound_ * (1.0 - kInside));
      return std::log(g / (g_bound_ - g));
    }
    return std::log(std::max(p, kInside));
  }

 private:
  bool physical_;
  double g_bound_;
};

// Adapts HuberObjective to Ceres over the free coefficients' variables only, and rescales it by
// 1/delta^2 so that Ceres' absolute tolerances mean the same thing for every delta.
class FreeCoefficientFunction : public ceres::FirstOrderFunction {
 public:
  FreeCoefficientFunction(const HuberObjective* objective, std::array<double, 7> full,
                          std::vector<int> free, double scale, Coordinates coordinates)
      : objective_(objective),
        full_(full),
        free_(std::move(free)),
        scale_(scale),
        coordinates_(coordinates) {}

  // A point is invalid (Ceres then steps back) when a variable leaves the solver's box or the
  // value or a gradient component is not finite. The gradient check matters: in a flat valley
  // a coefficient can head to 0 while its partner overflows, and Ceres aborts the process on a
  // finite value with a NaN gradient.
  bool Evaluate(const double* x, double* cost, double* gradient) const override {
    std::array<double, 7> p = full_;
    for (size_t i = 0; i < free_.size(); ++i) {
      if (!coordinates_.InBox(x[i])) {
        return false;
      }
      p[free_[i]] = coordinates_.Coefficient(free_[i], x[i]);
    }
    std::array<double, 7> full_gradient{};
    if (!objective_->Evaluate(p.data(), cost, gradient ? full_gradient.data() : nullptr)) {
      return false;
    }
    *cost *= scale_;
    if (!std::isfinite(*cost)) {
      return false;
    }
    if (gradient != nullptr) {
      for (size_t i = 0; i < free_.size(); ++i) {
        gradient[i] = full_gradient[free_[i]] * scale_ * coordinates_.Derivative(free_[i], x[i]);
        if (!std::isfinite(gradient[i])) {
          return false;
        }
      }
    }
    return true;
  }
  int NumParameters() const override { return static_cast<int>(free_.size()); }

 private:
  const HuberObjective* objective_;
  std::array<double, 7> full_;
  std::vector<int> free_;
  double scale_;
  Coordinates coordinates_;
};

struct StartResult {
  std::array<double, 7> p{};
  double objective = std::numeric_limits<double>::infinity();
};

ceres::GradientProblemSolver::Options SolverOptions(int max_iterations) {
  ceres::GradientProblemSolver::Options options;
  options.line_search_direction_type = ceres::BFGS;
  options.max_num_iterations = max_iterations;
  options.function_tolerance = 1e-14;
  options.gradient_tolerance = 1e-12;
  options.parameter_tolerance = 1e-12;
  options.logging_type = ceres::SILENT;
  return options;
}

StartResult RunStart(const HuberObjective& objective, const FitOptions& options,
                     const Coordinates& coordinates, const std::array<double, 7>& start) {
  std::array<double, 7> full = start;
  std::vector<int> free;
  for (int k = 0; k < 7; ++k) {
    if (options.fixed[k].has_value()) {
      full[k] = *options.fixed[k];
    } else {
      free.push_back(k);
    }
  }
  std::vector<double> x;
  for (int k : free) {
    x.push_back(coordinates.Variable(k, full[k]));
  }
  const double scale = 1.0 / (options.delta * options.delta);
  ceres::GradientProblem problem(
      new FreeCoefficientFunction(&objective, full, free, scale, coordinates));
  ceres::GradientProblemSolver::Summary summary;
  ceres::Solve(SolverOptions(options.max_iterations), problem, x.data(), &summary);
  StartResult result;
  for (size_t i = 0; i < free.size(); ++i) {
    full[free[i]] = coordinates.Coefficient(free[i], x[i]);
  }
  result.p = full;
  double value = 0;
  if (objective.Evaluate(full.data(), &value, nullptr)) {
    result.objective = value;
  }
  return result;
}

absl::Status ValidateOptions(const FitOptions& options, int runs) {
  if (!(options.delta > 0) || !std::isfinite(options.delta)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("delta must be finite and positive, got %g", options.delta));
  }
  if (options.starts < 0 || options.starts + options.extra_starts.size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("starts must be at least 1, got %d", options.starts));
  }
  if (options.max_iterations < 1) {
    return absl::InvalidArgumentError("max_iterations must be at least 1");
  }
  if (!(options.minima_tolerance >= 0) || options.max_minima < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("minima_tolerance must be >= 0 and max_minima >= 1, got %g and %d",
                        options.minima_tolerance, options.max_minima));
  }
  if (!options.weights.empty() && static_cast<int>(options.weights.size()) != runs) {
    return absl::InvalidArgumentError(
        absl::StrFormat("weights has %d entries for %d runs", options.weights.size(), runs));
  }
  return absl::OkStatus();
}

// Runs every start on a pool of threads; result i belongs to start i whatever thread ran it.
std::vector<StartResult> RunStarts(const std::vector<RunRecord>& runs, const Normalisation& scales,
                                   const FitOptions& options,
                                   const std::vector<std::array<double, 7>>& starts) {
  const int count = static_cast<int>(starts.size());
  const int workers = WorkerCount(options.threads, count);
  std::vector<HuberObjective> objectives(
      workers, HuberObjective(runs, scales, options.residual, options.delta, options.weights));
  const Coordinates coordinates(options.physical, IrreducibleLossBound(runs));
  std::vector<StartResult> results(starts.size());
  ParallelFor(count, workers, [&](int worker, int i) {
    results[i] = RunStart(objectives[worker], options, coordinates, starts[i]);
  });
  return results;
}

// Ceres logs a glog warning whenever one BFGS start hits a numerical dead end; with hundreds of
// starts that is expected and reported through start counts instead, so only errors are shown.
void QuietCeresWarnings() {
  static const bool quieted = [] {
    FLAGS_minloglevel = std::max(FLAGS_minloglevel, static_cast<int>(google::GLOG_ERROR));
    return true;
  }();
  (void)quieted;
}

}  // namespace

std::array<double, 7> RandomStart(uint64_t seed, int index) {
  SplitMix64 rng(SplitMix64::StreamSeed(seed, static_cast<uint64_t>(index)));
  std::array<double, 7> start{};
  for (double& value : start) {
    value = rng.Uniform();
  }
  return start;
}

double IrreducibleLossBound(const std::vector<RunRecord>& runs) {
  double lowest = std::numeric_limits<double>::infinity();
  for (const RunRecord& run : runs) {
    lowest = std::min(lowest, run.loss);
  }
  return std::isfinite(lowest) ? lowest : 1.0;
}

std::vector<FitMinimum> DistinctMinima(std::vector<FitMinimum> ends, double tolerance, int limit) {
  std::vector<FitMinimum> kept;
  if (ends.empty()) {
    return kept;
  }
  const double ceiling = ends.front().objective + tolerance * std::fabs(ends.front().objective);
  for (FitMinimum& end : ends) {
    if (end.objective > ceiling || static_cast<int>(kept.size()) >= limit) {
      break;
    }
    const bool distinct = std::all_of(kept.begin(), kept.end(), [&](const FitMinimum& other) {
      for (int k = 0; k < NormCoeffs::kCount; ++k) {
        const double x = end.norm.p[k], y = other.norm.p[k];
        if (std::fabs(x - y) > 0.01 * std::max({std::fabs(x), std::fabs(y), 1e-12})) {
          return true;
        }
      }
      return false;
    });
    if (distinct) {
      kept.push_back(std::move(end));
    }
  }
  return kept;
}

int FreeCoefficientCount(const FitOptions& options) {
  return static_cast<int>(std::count_if(options.fixed.begin(), options.fixed.end(),
                                        [](const auto& v) { return !v.has_value(); }));
}

void ScoreFit(const std::vector<RunRecord>& runs, FitResult& result) {
  result.residuals.clear();
  double square_sum = 0, relative_sum = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunRecord& run = runs[i];
    PointResidual point;
    point.index = static_cast<int>(i);
    point.label = run.label;
    point.sparsity = run.sparsity;
    point.nonzeros = run.nonzeros;
    point.data = run.data;
    point.measured = run.loss;
    point.predicted = PredictLoss(result.norm, result.scales, run.sparsity, run.nonzeros, run.data);
    point.relative_error = (point.predicted - run.loss) / run.loss;
    square_sum += (point.predicted - run.loss) * (point.predicted - run.loss);
    relative_sum += std::fabs(point.relative_error);
    result.residuals.push_back(point);
  }
  const double n = std::max<size_t>(runs.size(), 1);
  result.rmse = std::sqrt(square_sum / n);
  result.mean_relative_error = relative_sum / n;
}

absl::StatusOr<FitResult> FitLaw(const std::vector<RunRecord>& runs, const Normalisation& scales,
                                 const FitOptions& options) {
  QuietCeresWarnings();
  RETURN_IF_ERROR(ValidateRuns(runs, FreeCoefficientCount(options)));
  RETURN_IF_ERROR(ValidateOptions(options, static_cast<int>(runs.size())));
  std::vector<std::array<double, 7>> starts;
  for (int i = 0; i < options.starts; ++i) {
    starts.push_back(RandomStart(options.seed, i));
    if (options.physical) {
      starts.back()[6] *= IrreducibleLossBound(runs);  // uniform over the allowed (0, U)
    }
  }
  for (const NormCoeffs& extra : options.extra_starts) {
    starts.push_back(extra.p);
  }
  const std::vector<StartResult> outcomes = RunStarts(runs, scales, options, starts);

  FitResult result;
  result.scales = scales;
  result.starts = static_cast<int>(starts.size());
  result.objective = std::numeric_limits<double>::infinity();
  std::vector<FitMinimum> ends;
  for (const StartResult& outcome : outcomes) {
    if (!std::isfinite(outcome.objective)) {
      continue;
    }
    result.start_objectives.push_back(outcome.objective);
    ends.push_back({NormCoeffs{outcome.p}, outcome.objective});
    if (outcome.objective < result.objective) {
      result.objective = outcome.objective;
      result.norm.p = outcome.p;
    }
  }
  if (result.start_objectives.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("no start of %d reached a finite objective", result.starts));
  }
  std::sort(result.start_objectives.begin(), result.start_objectives.end());
  result.starts_finished = static_cast<int>(result.start_objectives.size());
  result.starts_within_1pct =
      static_cast<int>(std::count_if(result.start_objectives.begin(), result.start_objectives.end(),
                                     [&](double v) { return v <= result.objective * 1.01; }));
  // A stable sort keeps equal objectives in start order, so the minima follow from the seed.
  std::stable_sort(ends.begin(), ends.end(), [](const FitMinimum& x, const FitMinimum& y) {
    return x.objective < y.objective;
  });
  result.minima = DistinctMinima(std::move(ends), options.minima_tolerance, options.max_minima);
  result.norm = result.minima.front().norm;
  if (absl::StatusOr<PaperCoeffs> paper = ToPaper(result.norm, scales); paper.ok()) {
    result.paper = *paper;
  }
  ScoreFit(runs, result);
  return result;
}

}  // namespace sparsescale::law
