#include "worker/trainer/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace sparsescale::trainer {

double PeakLearningRate(const sparsescale::v1::JobSpec& spec) {
  const auto& optim = spec.optim();
  if (!optim.has_lr_reference_width() || optim.lr_reference_width() <= 0) {
    return optim.lr();
  }
  const double power = optim.has_lr_width_power() ? optim.lr_width_power() : 1.0;
  return optim.lr() * std::pow(optim.lr_reference_width() /
                                   static_cast<double>(std::max(1, spec.model().width())),
                               power);
}

double LearningRate(const sparsescale::v1::OptimSpec& optim, double peak, int64_t step,
                    int64_t total_steps) {
  const auto warmup = static_cast<int64_t>(
      std::llround(optim.warmup_fraction() * static_cast<double>(total_steps)));
  if (step <= warmup) {
    return peak * static_cast<double>(step) / static_cast<double>(warmup);
  }
  switch (optim.schedule()) {
    case sparsescale::v1::LR_SCHEDULE_CONSTANT:
      return peak;
    case sparsescale::v1::LR_SCHEDULE_INVERSE_SQRT:
      return peak * std::sqrt(static_cast<double>(std::max<int64_t>(warmup, 1)) /
                              static_cast<double>(step));
    default: {
      const double floor = optim.min_lr_fraction() * peak;
      const double span = static_cast<double>(std::max<int64_t>(1, total_steps - warmup));
      const double progress = std::clamp(static_cast<double>(step - warmup) / span, 0.0, 1.0);
      return floor + 0.5 * (peak - floor) * (1.0 + std::cos(M_PI * progress));
    }
  }
}

}  // namespace sparsescale::trainer
