// Training FLOP accounting (Frantar et al. 2024). Per token, a training step costs
// 6 * (matmul parameters) for the forward and backward matrix products plus 12 * layers *
// width * context for attention's two T x T products (PaLM's convention; causal masking is not
// discounted). Embedding lookups, norms and element-wise ops are not counted. The
// sparsity-exploited count weighs every pruned matmul tensor by its density. Pure; thread-safe.
#pragma once

#include <cstdint>

#include "worker/trainer/gpt.h"

namespace sparsescale::trainer {

// FLOPs of one training step over `tokens` tokens with dense matrices.
double DenseStepFlops(const GptConfig& config, const ParamLayout& layout, int64_t tokens);

// The same with each maskable matmul tensor (body matrices, lm_head) at `density(tensor)`.
template <typename DensityFn>
double SparseStepFlops(const GptConfig& config, const ParamLayout& layout, int64_t tokens,
                       DensityFn density) {
  double matmul = 0;
  for (const ParamTensor& t : layout.tensors()) {
    if (t.role == TensorRole::kBodyMatrix || t.role == TensorRole::kHead) {
      matmul += static_cast<double>(t.size()) * density(t);
    }
  }
  const double attention = 12.0 * config.layers * config.width * config.context;
  return (6.0 * matmul + attention) * static_cast<double>(tokens);
}

// Paper convention for non-zeros: 12 * width^2 * layers * (1 - sparsity), rounded.
int64_t PaperNonZeros(const GptConfig& config, double sparsity);

}  // namespace sparsescale::trainer
