#include "worker/trainer/flops.h"

#include <cmath>

namespace sparsescale::trainer {

double DenseStepFlops(const GptConfig& config, const ParamLayout& layout, int64_t tokens) {
  return SparseStepFlops(config, layout, tokens, [](const ParamTensor&) { return 1.0; });
}

int64_t PaperNonZeros(const GptConfig& config, double sparsity) {
  const double body = 12.0 * config.width * config.width * config.layers;
  return std::llround(body * (1.0 - sparsity));
}

}  // namespace sparsescale::trainer
