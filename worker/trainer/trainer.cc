#include "worker/trainer/trainer.h"

namespace sparsescale::trainer {

absl::StatusOr<TrainSummary> RunTraining(const sparsescale::v1::JobSpec& spec,
                                         const TrainOptions& options, TrainObserver* observer) {
  (void)spec;
  (void)options;
  (void)observer;
  return absl::UnimplementedError("RunTraining: not implemented yet");
}

}  // namespace sparsescale::trainer
