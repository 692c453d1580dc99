#include "law/optimal_sparsity.h"

#include <cmath>
#include <functional>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/status.h"

namespace sparsescale::law {
namespace {

// S = 1 - e^-u: the search runs over u, which spreads the interesting region near S = 1.
constexpr double kMaxU = 13.815510557964274;  // ln(1e6): S up to 1 - 1e-6
constexpr int kGridPoints = 277;              // grid step 0.05 in u
constexpr double kGolden = 0.6180339887498949;

double SparsityOfU(double u) { return -std::expm1(-u); }

// Golden-section search for the minimum of a unimodal `f` on [low, high].
double GoldenMinimum(const std::function<double(double)>& f, double low, double high) {
  double x1 = high - kGolden * (high - low), x2 = low + kGolden * (high - low);
  double f1 = f(x1), f2 = f(x2);
  for (int i = 0; i < 200 && high - low > 1e-13; ++i) {
    if (f1 <= f2) {
      high = x2, x2 = x1, f2 = f1;
      x1 = high - kGolden * (high - low);
      f1 = f(x1);
    } else {
      low = x1, x1 = x2, f1 = f2;
      x2 = low + kGolden * (high - low);
      f2 = f(x2);
    }
  }
  return 0.5 * (low + high);
}

absl::Status CheckPositive(const char* field, double value) {
  if (!(value > 0) || !std::isfinite(value)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s must be finite and positive, got %g", field, value));
  }
  return absl::OkStatus();
}

}  // namespace

double AverageDensity(double sparsity, const PruningSchedule& schedule) {
  const double ramp =
      (schedule.end_fraction - schedule.start_fraction) * schedule.power / (schedule.power + 1.0);
  return 1.0 - sparsity * (ramp + (1.0 - schedule.end_fraction));
}

double ComputeMultiplier(double sparsity, const CostOptions& options) {
  const double dense_fraction =
      options.model == CostModel::kSparse ? AverageDensity(sparsity, options.schedule) : 1.0;
  return dense_fraction / (1.0 - sparsity);
}

double TrainingCompute(double sparsity, double nonzeros, double data, const CostOptions& options) {
  return 6.0 * nonzeros * data * options.tokens_per_data_unit *
         ComputeMultiplier(sparsity, options);
}

double DataForCompute(double sparsity, double nonzeros, double compute,
                      const CostOptions& options) {
  return compute / TrainingCompute(sparsity, nonzeros, 1.0, options);
}

// With A = a_S + c_S, B = a_D^b_D, C' = C / (6 tokens_per_unit), the dense loss is
// A N^-b_N + B (N / C')^b_D, minimised at N = (b_N A / (b_D B))^(1/(b_N+b_D)) C'^(b_D/(b_N+b_D)).
double DenseOptimalNonzeros(const PaperCoeffs& law, double compute, const CostOptions& options) {
  const double a = law.a_s + law.c_s, b = std::pow(law.a_d, law.b_d);
  const double reduced = compute / (6.0 * options.tokens_per_data_unit);
  const double exponent_sum = law.b_n + law.b_d;
  return std::pow(law.b_n * a / (law.b_d * b), 1.0 / exponent_sum) *
         std::pow(reduced, law.b_d / exponent_sum);
}

double DenseOptimalCompute(const PaperCoeffs& law, double nonzeros, const CostOptions& options) {
  const double a = law.a_s + law.c_s, b = std::pow(law.a_d, law.b_d);
  const double reduced =
      std::pow(std::pow(nonzeros, law.b_n + law.b_d) * law.b_d * b / (law.b_n * a), 1.0 / law.b_d);
  return 6.0 * options.tokens_per_data_unit * reduced;
}

absl::StatusOr<OptimalSparsity> FindOptimalSparsity(const PaperCoeffs& law, double nonzeros,
                                                    double compute, const CostOptions& options) {
  RETURN_IF_ERROR(CheckPositive("nonzeros", nonzeros));
  RETURN_IF_ERROR(CheckPositive("compute", compute));
  auto loss_at_u = [&](double u) {
    const double s = SparsityOfU(u);
    const double loss =
        PredictLoss(law, s, nonzeros, DataForCompute(s, nonzeros, compute, options));
    return std::isfinite(loss) ? loss : std::numeric_limits<double>::infinity();
  };
  int best = 0;
  double best_loss = loss_at_u(0);
  for (int i = 1; i < kGridPoints; ++i) {
    const double loss = loss_at_u(kMaxU * i / (kGridPoints - 1));
    if (loss < best_loss) {
      best = i, best_loss = loss;
    }
  }
  const double step = kMaxU / (kGridPoints - 1);
  double u = GoldenMinimum(loss_at_u, std::max(0.0, (best - 1) * step),
                           std::min(kMaxU, (best + 1) * step));
  if (loss_at_u(0) <= loss_at_u(u)) {
    u = 0;  // dense is optimal: report exactly zero
  }
  OptimalSparsity result;
  result.sparsity = SparsityOfU(u);
  result.loss = loss_at_u(u);
  result.data = DataForCompute(result.sparsity, nonzeros, compute, options);
  return result;
}

absl::StatusOr<ContourTable> SparsityContourTable(const PaperCoeffs& law,
                                                  const std::vector<double>& nonzeros,
                                                  const std::vector<double>& computes,
                                                  const CostOptions& options) {
  ContourTable table;
  table.nonzeros = nonzeros;
  table.computes = computes;
  for (double n : nonzeros) {
    std::vector<double> row;
    for (double c : computes) {
      ASSIGN_OR_RETURN(const OptimalSparsity opt, FindOptimalSparsity(law, n, c, options));
      row.push_back(opt.sparsity);
    }
    table.sparsity.push_back(std::move(row));
  }
  return table;
}

absl::StatusOr<double> ComputeForSparsity(const PaperCoeffs& law, double nonzeros, double level,
                                          const CostOptions& options) {
  RETURN_IF_ERROR(CheckPositive("nonzeros", nonzeros));
  if (!(level >= 0 && level < 1)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("sparsity level must be in [0, 1), got %g", level));
  }
  const double anchor = DenseOptimalCompute(law, nonzeros, options);
  double low = std::log(anchor * 1e-6), high = std::log(anchor * 1e12);
  ASSIGN_OR_RETURN(const OptimalSparsity top,
                   FindOptimalSparsity(law, nonzeros, std::exp(high), options));
  if (top.sparsity < level) {
    return absl::NotFoundError(absl::StrFormat(
        "S_opt does not reach %g below %g x the dense-optimal compute", level, 1e12));
  }
  for (int i = 0; i < 80 && high - low > 1e-10; ++i) {
    const double mid = 0.5 * (low + high);
    ASSIGN_OR_RETURN(const OptimalSparsity opt,
                     FindOptimalSparsity(law, nonzeros, std::exp(mid), options));
    (opt.sparsity >= level ? high : low) = mid;
  }
  return std::exp(high);
}

std::vector<double> LogSpace(double low, double high, int count) {
  std::vector<double> values;
  for (int i = 0; i < count; ++i) {
    const double t = count == 1 ? 0.0 : static_cast<double>(i) / (count - 1);
    values.push_back(std::exp(std::log(low) + t * (std::log(high) - std::log(low))));
  }
  return values;
}

}  // namespace sparsescale::law
