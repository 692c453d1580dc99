// The learning rate at each optimiser step: linear warmup, then cosine decay to
// min_lr_fraction * lr, inverse square root, or constant. Pure; thread-safe.
#pragma once

#include <cstdint>

#include "sparsescale/v1/job.pb.h"

namespace sparsescale::trainer {

// The peak learning rate of a job: optim.lr, scaled by (lr_reference_width / model.width)^
// lr_width_power when optim.lr_reference_width is set.
double PeakLearningRate(const sparsescale::v1::JobSpec& spec);

// The rate at `step` (1-based: the step about to be taken; `total_steps` >= 1) for a schedule
// peaking at `peak`.
double LearningRate(const sparsescale::v1::OptimSpec& optim, double peak, int64_t step,
                    int64_t total_steps);

}  // namespace sparsescale::trainer
