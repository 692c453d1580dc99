// The learning rate at each optimiser step: linear warmup, then cosine decay to
// min_lr_fraction * lr, inverse square root, or constant. Pure; thread-safe.
#pragma once

#include <cstdint>

#include "sparsescale/v1/job.pb.h"

namespace sparsescale::trainer {

// `step` is 1-based (the step about to be taken); `total_steps` >= 1.
double LearningRate(const sparsescale::v1::OptimSpec& optim, int64_t step, int64_t total_steps);

}  // namespace sparsescale::trainer
