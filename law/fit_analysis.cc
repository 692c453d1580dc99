#include "law/fit_analysis.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/split_mix.h"
#include "common/status.h"
#include "law/parallel_for.h"

namespace sparsescale::law {
namespace {

// Multiplicities of a resample with replacement of `count` runs, from (seed, resample).
std::vector<double> ResampleWeights(int count, uint64_t seed, int resample) {
  std::vector<double> weights(count, 0.0);
  SplitMix64 rng(SplitMix64::StreamSeed(seed ^ 0xB5297A4D3F84D5B5ull, resample));
  for (int drawn = 0; drawn < count; ++drawn) {
    weights[std::min(count - 1, static_cast<int>(rng.Uniform() * count))] += 1.0;
  }
  return weights;
}

// Linear-interpolated quantile of sorted values, which may include +-infinity.
double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  const double position = q * (sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  const double fraction = position - below;
  if (fraction == 0 || sorted[below] == sorted[above]) {
    return sorted[below];
  }
  if (!std::isfinite(sorted[below]) || !std::isfinite(sorted[above])) {
    return fraction < 0.5 ? sorted[below] : sorted[above];
  }
  return sorted[below] + fraction * (sorted[above] - sorted[below]);
}

// Paper-form values of normalised coefficients without failing: a_D is NaN when e <= 0 and
// +infinity when e^(1/f) overflows (b_D near 0: the data term has become a constant).
std::array<double, 7> PaperValues(const NormCoeffs& norm, const Normalisation& scales) {
  const auto& [a, b, c, d, e, f, g] = norm.p;
  const double n_pow = std::pow(scales.n_scale, d);
  const double a_d =
      e > 0 ? std::exp(std::log(e) / f) * scales.d_scale : std::numeric_limits<double>::quiet_NaN();
  return {a * n_pow, b, c * n_pow, d, a_d, f, g};
}

absl::Status ValidateBootstrap(const BootstrapOptions& options, const FitResult& base) {
  if (options.resamples < 1 || options.starts < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bootstrap needs resamples >= 1 and starts >= 0, got %d and %d",
                        options.resamples, options.starts));
  }
  if (!(options.level > 0 && options.level < 1)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bootstrap level must be in (0, 1), got %g", options.level));
  }
  if (!base.paper.has_value()) {
    return absl::InvalidArgumentError("bootstrap needs a full fit with a paper form");
  }
  return absl::OkStatus();
}

}  // namespace

std::array<double, 7> PaperArray(const PaperCoeffs& p) {
  return {p.a_s, p.b_s, p.c_s, p.b_n, p.a_d, p.b_d, p.c};
}

absl::StatusOr<BootstrapResult> BootstrapIntervals(const std::vector<RunRecord>& runs,
                                                   const Normalisation& scales,
                                                   const FitOptions& fit_options,
                                                   const FitResult& base,
                                                   const BootstrapOptions& options) {
  RETURN_IF_ERROR(ValidateBootstrap(options, base));
  std::vector<std::optional<NormCoeffs>> fits(options.resamples);
  const int workers = WorkerCount(options.threads, options.resamples);
  std::vector<absl::Status> errors(workers);
  ParallelFor(options.resamples, workers, [&](int worker, int b) {
    FitOptions resample = fit_options;
    resample.starts = options.starts;
    resample.seed = fit_options.seed + 7919 * (b + 1);
    resample.threads = 1;  // parallel over resamples instead
    resample.extra_starts = {base.norm};
    resample.weights = ResampleWeights(static_cast<int>(runs.size()), options.seed, b);
    absl::StatusOr<FitResult> fit = FitLaw(runs, scales, resample);
    if (fit.ok()) {
      fits[b] = fit->norm;
    } else {
      errors[worker] = fit.status();
    }
  });
  BootstrapResult result;
  result.resamples = options.resamples;
  result.level = options.level;
  std::array<std::vector<double>, 7> samples;
  for (const auto& fit : fits) {
    if (!fit.has_value()) {
      continue;
    }
    ++result.usable;
    if (absl::StatusOr<PaperCoeffs> paper = ToPaper(*fit, scales); paper.ok()) {
      result.samples.push_back(*paper);
    }
    const std::array<double, 7> values = PaperValues(*fit, scales);
    for (int k = 0; k < 7; ++k) {
      if (!std::isnan(values[k])) {
        samples[k].push_back(values[k]);
      }
    }
  }
  if (result.usable == 0) {
    for (const absl::Status& error : errors) {
      RETURN_IF_ERROR(error);
    }
    return absl::InvalidArgumentError("no bootstrap resample produced a fit");
  }
  const std::array<double, 7> estimate = PaperArray(*base.paper);
  const double tail = 0.5 * (1.0 - options.level);
  for (int k = 0; k < 7; ++k) {
    std::sort(samples[k].begin(), samples[k].end());
    result.paper[k] = {estimate[k], Quantile(samples[k], tail), Quantile(samples[k], 1.0 - tail)};
  }
  return result;
}

absl::StatusOr<CoefficientInterval> OptimalSparsityInterval(const PaperCoeffs& estimate,
                                                            const std::vector<PaperCoeffs>& samples,
                                                            double nonzeros, double compute,
                                                            const CostOptions& cost, double level) {
  if (!(level > 0 && level < 1)) {
    return absl::InvalidArgumentError(absl::StrFormat("level must be in (0, 1), got %g", level));
  }
  ASSIGN_OR_RETURN(OptimalSparsity best, FindOptimalSparsity(estimate, nonzeros, compute, cost));
  std::vector<double> values;
  for (const PaperCoeffs& sample : samples) {
    if (absl::StatusOr<OptimalSparsity> s = FindOptimalSparsity(sample, nonzeros, compute, cost);
        s.ok()) {
      values.push_back(s->sparsity);
    }
  }
  if (values.empty()) {
    return absl::InvalidArgumentError("no bootstrap sample gives an optimal sparsity");
  }
  std::sort(values.begin(), values.end());
  const double tail = 0.5 * (1.0 - level);
  return CoefficientInterval{best.sparsity, Quantile(values, tail), Quantile(values, 1 - tail)};
}

int DistinctSizes(const std::vector<RunRecord>& runs) {
  std::vector<double> sizes;
  for (const RunRecord& run : runs) {
    sizes.push_back(run.nonzeros);
  }
  std::sort(sizes.rbegin(), sizes.rend());
  int count = 0;
  double top = 0;
  for (double n : sizes) {
    if (count == 0 || n < top / kSameSizeRatio) {
      ++count;
      top = n;
    }
  }
  return count;
}

std::pair<std::vector<RunRecord>, std::vector<RunRecord>> SplitLargest(
    const std::vector<RunRecord>& runs) {
  double largest = 0;
  for (const RunRecord& run : runs) {
    largest = std::max(largest, run.nonzeros);
  }
  const double cut = largest / kSameSizeRatio;
  std::vector<RunRecord> below, at;
  for (const RunRecord& run : runs) {
    (run.nonzeros >= cut ? at : below).push_back(run);
  }
  return {std::move(below), std::move(at)};
}

namespace {

// Mean and largest |relative error| of `norm` on `runs`.
std::pair<double, double> HeldOutErrors(const NormCoeffs& norm, const Normalisation& scales,
                                        const std::vector<RunRecord>& runs) {
  double mean = 0, worst = 0;
  for (const RunRecord& run : runs) {
    const double predicted = PredictLoss(norm, scales, run.sparsity, run.nonzeros, run.data);
    const double error = std::fabs(predicted - run.loss) / run.loss;
    mean += error / static_cast<double>(runs.size());
    worst = std::max(worst, error);
  }
  return {mean, worst};
}

// Sets `fit` to its minimum `index` and rescores it on `runs`.
void UseMinimum(const std::vector<RunRecord>& runs, int index, FitResult& fit) {
  fit.chosen_minimum = index;
  fit.norm = fit.minima[index].norm;
  fit.objective = fit.minima[index].objective;
  fit.paper.reset();
  if (absl::StatusOr<PaperCoeffs> paper = ToPaper(fit.norm, fit.scales); paper.ok()) {
    fit.paper = *paper;
  }
  ScoreFit(runs, fit);
}

// The spread of the minima of `e.fit` on the held-out runs and in their coefficients.
void MinimaSpread(const std::vector<RunRecord>& held_out, const Normalisation& scales,
                  ExtrapolationResult& e) {
  const double inf = std::numeric_limits<double>::infinity();
  e.held_out_prediction_range.assign(held_out.size(), {inf, -inf});
  e.coefficient_range.fill({inf, -inf});
  for (const FitMinimum& minimum : e.fit.minima) {
    e.minima_mean_abs_relative_error.push_back(HeldOutErrors(minimum.norm, scales, held_out).first);
    for (size_t i = 0; i < held_out.size(); ++i) {
      const RunRecord& run = held_out[i];
      const double predicted =
          PredictLoss(minimum.norm, scales, run.sparsity, run.nonzeros, run.data);
      auto& [low, high] = e.held_out_prediction_range[i];
      low = std::min(low, predicted);
      high = std::max(high, predicted);
    }
    if (absl::StatusOr<PaperCoeffs> paper = ToPaper(minimum.norm, scales); paper.ok()) {
      const std::array<double, 7> values = PaperArray(*paper);
      for (int k = 0; k < 7; ++k) {
        e.coefficient_range[k] = {std::min(e.coefficient_range[k].first, values[k]),
                                  std::max(e.coefficient_range[k].second, values[k])};
      }
    }
  }
}

}  // namespace

// Validation errors (mean |relative error|, a fraction) closer than this are a tie, kept by the
// lower objective: refits started from different minima often converge to one optimum of the
// smaller problem, and their scores then differ only by rounding.
constexpr double kValidationTie = 1e-4;

MinimumSelection SelectMinimum(const std::vector<RunRecord>& runs, const Normalisation& scales,
                               const FitOptions& options, FitResult& fit) {
  MinimumSelection selection;
  const int sizes = DistinctSizes(runs);
  if (sizes < 3) {
    selection.skipped = absl::StrFormat("needs at least 3 model sizes, got %d", sizes);
    return selection;
  }
  if (fit.minima.size() < 2) {
    selection.skipped = "a single near-optimal minimum";
    return selection;
  }
  const auto [below, at] = SplitLargest(runs);
  FitOptions local = options;
  local.starts = 0;
  local.weights.clear();
  int best = -1;
  for (size_t i = 0; i < fit.minima.size(); ++i) {
    local.extra_starts = {fit.minima[i].norm};
    absl::StatusOr<FitResult> refit = FitLaw(below, scales, local);
    const double error = refit.ok() ? HeldOutErrors(refit->norm, scales, at).first
                                    : std::numeric_limits<double>::quiet_NaN();
    selection.validation_errors.push_back(error);
    if (!std::isnan(error) &&
        (best < 0 || error < selection.validation_errors[best] - kValidationTie)) {
      best = static_cast<int>(i);
    }
  }
  if (best < 0) {
    selection.skipped = "no minimum could be refitted without the largest size";
    return selection;
  }
  selection.applied = true;
  selection.chosen = best;
  UseMinimum(runs, best, fit);
  return selection;
}

absl::StatusOr<ExtrapolationResult> LeaveLargestOut(const std::vector<RunRecord>& runs,
                                                    const Normalisation& scales,
                                                    const FitOptions& options, bool select) {
  RETURN_IF_ERROR(ValidateRuns(runs, FreeCoefficientCount(options)));
  ExtrapolationResult result;
  const auto [fitted, held_out] = SplitLargest(runs);
  for (const RunRecord& run : held_out) {
    result.held_out_nonzeros = std::max(result.held_out_nonzeros, run.nonzeros);
  }
  result.fitted_runs = static_cast<int>(fitted.size());
  absl::StatusOr<FitResult> fit = FitLaw(fitted, scales, options);
  if (!fit.ok()) {
    return absl::Status(fit.status().code(),
                        absl::StrFormat("leave-largest-out fit (N < %g): %s",
                                        result.held_out_nonzeros, fit.status().message()));
  }
  result.fit = *std::move(fit);
  std::tie(result.lowest_objective_mean_abs_relative_error,
           result.lowest_objective_max_abs_relative_error) =
      HeldOutErrors(result.fit.norm, scales, held_out);
  if (select) {
    result.selection = SelectMinimum(fitted, scales, options, result.fit);
  } else {
    result.selection.skipped = "selection off: the lowest-objective minimum";
  }
  FitResult scored = result.fit;
  ScoreFit(held_out, scored);
  result.held_out = scored.residuals;
  std::tie(result.mean_abs_relative_error, result.max_abs_relative_error) =
      HeldOutErrors(result.fit.norm, scales, held_out);
  MinimaSpread(held_out, scales, result);
  return result;
}

std::optional<double> EquivalentUnstructuredSparsity(const NormCoeffs& unstructured,
                                                     double factor) {
  const double a = unstructured.p[0], b = unstructured.p[1], c = unstructured.p[2];
  const double density_power = (factor - c) / a;  // (1 - S)^b
  if (!(density_power > 0 && density_power <= 1) || b == 0) {
    return std::nullopt;
  }
  const double sparsity = 1.0 - std::pow(density_power, 1.0 / b);
  if (!(sparsity >= 0 && sparsity < 1)) {
    return std::nullopt;
  }
  return sparsity;
}

namespace {

absl::StatusOr<StructureFit> FitFamily(int m, const std::vector<RunRecord>& family,
                                       const std::set<std::pair<int, int>>& patterns,
                                       const Normalisation& scales, FitOptions options,
                                       const FitResult& unstructured) {
  StructureFit fit;
  fit.m = m;
  fit.runs = static_cast<int>(family.size());
  for (int k = 3; k < 7; ++k) {
    options.fixed[k] = unstructured.norm.p[k];
  }
  // One pattern gives one sparsity level besides dense: too little to fit the exponent too.
  fit.b_s_shared = patterns.size() < 2;
  if (fit.b_s_shared) {
    options.fixed[1] = unstructured.norm.p[1];
  }
  options.extra_starts = {unstructured.norm};
  options.weights.clear();
  absl::StatusOr<FitResult> result = FitLaw(family, scales, options);
  if (!result.ok()) {
    return absl::Status(result.status().code(),
                        absl::StrFormat("n:%d refit: %s", m, result.status().message()));
  }
  fit.norm = result->norm;
  fit.paper = result->paper;
  fit.objective = result->objective;
  for (const auto& [n, pattern_m] : patterns) {
    PatternEquivalent equivalent;
    equivalent.pattern = absl::StrFormat("%d:%d", n, pattern_m);
    equivalent.sparsity = 1.0 - static_cast<double>(n) / pattern_m;
    const double factor =
        fit.norm.p[0] * std::pow(1.0 - equivalent.sparsity, fit.norm.p[1]) + fit.norm.p[2];
    equivalent.equivalent_unstructured = EquivalentUnstructuredSparsity(unstructured.norm, factor);
    fit.patterns.push_back(equivalent);
  }
  return fit;
}

}  // namespace

absl::StatusOr<std::vector<StructureFit>> FitStructures(const std::vector<RunRecord>& runs,
                                                        const Normalisation& scales,
                                                        const FitOptions& options,
                                                        const FitResult& unstructured) {
  std::vector<RunRecord> dense;
  std::map<int, std::vector<RunRecord>> families;
  std::map<int, std::set<std::pair<int, int>>> patterns;
  for (const RunRecord& run : runs) {
    if (IsNmStructured(run)) {
      families[run.m].push_back(run);
      patterns[run.m].insert({run.n, run.m});
    } else if (run.sparsity == 0) {
      dense.push_back(run);
    }
  }
  std::vector<StructureFit> fits;
  for (auto& [m, family] : families) {
    family.insert(family.end(), dense.begin(), dense.end());
    ASSIGN_OR_RETURN(StructureFit fit,
                     FitFamily(m, family, patterns[m], scales, options, unstructured));
    fits.push_back(std::move(fit));
  }
  return fits;
}

}  // namespace sparsescale::law
