#include "law/huber_objective.h"

#include <cmath>
#include <map>

#include "common/status.h"

namespace sparsescale::law {
namespace {

// Appends the distinct values of `values` to `distinct` and returns each value's index.
std::vector<int> IndexDistinct(const std::vector<double>& values, std::vector<double>& distinct) {
  std::map<double, int> seen;
  std::vector<int> index;
  index.reserve(values.size());
  for (double v : values) {
    auto [it, inserted] = seen.emplace(v, static_cast<int>(distinct.size()));
    if (inserted) {
      distinct.push_back(v);
    }
    index.push_back(it->second);
  }
  return index;
}

}  // namespace

double HuberLoss(double residual, double delta) {
  const double r = std::fabs(residual);
  return r <= delta ? 0.5 * r * r : delta * (r - 0.5 * delta);
}

HuberObjective::HuberObjective(const std::vector<RunRecord>& runs, const Normalisation& scales,
                               ResidualKind residual, double delta, std::vector<double> weights)
    : weight_(std::move(weights)), residual_(residual), delta_(delta) {
  std::vector<double> log_density, log_n, log_d;
  for (const RunRecord& run : runs) {
    log_density.push_back(std::log1p(-run.sparsity));
    log_n.push_back(std::log(run.nonzeros / scales.n_scale));
    log_d.push_back(std::log(run.data / scales.d_scale));
    loss_.push_back(run.loss);
    log_loss_.push_back(std::log(run.loss));
  }
  density_index_ = IndexDistinct(log_density, log_density_);
  n_index_ = IndexDistinct(log_n, log_n_);
  d_index_ = IndexDistinct(log_d, log_d_);
  if (weight_.empty()) {
    weight_.assign(runs.size(), 1.0);
  }
  SS_CHECK(weight_.size() == runs.size());
  for (double w : weight_) {
    weight_sum_ += w;
  }
  SS_CHECK(weight_sum_ > 0);
  pow_density_.resize(log_density_.size());
  pow_n_.resize(log_n_.size());
  pow_d_.resize(log_d_.size());
}

bool HuberObjective::Evaluate(const double* p, double* value, double* gradient) const {
  const double a = p[0], b = p[1], c = p[2], d = p[3], e = p[4], f = p[5], g = p[6];
  for (size_t i = 0; i < log_density_.size(); ++i) {
    pow_density_[i] = std::exp(b * log_density_[i]);
  }
  for (size_t i = 0; i < log_n_.size(); ++i) {
    pow_n_[i] = std::exp(-d * log_n_[i]);
  }
  for (size_t i = 0; i < log_d_.size(); ++i) {
    pow_d_[i] = std::exp(-f * log_d_[i]);
  }
  double sum = 0;
  std::array<double, 7> grad{};
  const bool log_residual = residual_ == ResidualKind::kLog;
  for (size_t i = 0; i < loss_.size(); ++i) {
    const double xs = pow_density_[density_index_[i]];
    const double xn = pow_n_[n_index_[i]];
    const double xd = pow_d_[d_index_[i]];
    const double capacity = a * xs + c;
    const double pred = capacity * xn + e * xd + g;
    if (!std::isfinite(pred) || (log_residual && pred <= 0)) {
      return false;
    }
    const double r = log_residual ? std::log(pred) - log_loss_[i] : pred - loss_[i];
    const double w = weight_[i];
    const double abs_r = std::fabs(r);
    const bool quadratic = abs_r <= delta_;
    sum += w * (quadratic ? 0.5 * r * r : delta_ * (abs_r - 0.5 * delta_));
    if (gradient != nullptr) {
      // d(huber)/d(pred), then the chain rule through the law.
      double dh = quadratic ? r : std::copysign(delta_, r);
      dh *= log_residual ? w / pred : w;
      grad[0] += dh * xs * xn;
      grad[1] += dh * a * log_density_[density_index_[i]] * xs * xn;
      grad[2] += dh * xn;
      grad[3] -= dh * log_n_[n_index_[i]] * capacity * xn;
      grad[4] += dh * xd;
      grad[5] -= dh * log_d_[d_index_[i]] * e * xd;
      grad[6] += dh;
    }
  }
  *value = sum / weight_sum_;
  if (gradient != nullptr) {
    for (int k = 0; k < 7; ++k) {
      gradient[k] = grad[k] / weight_sum_;
    }
  }
  return std::isfinite(*value);
}

}  // namespace sparsescale::law
