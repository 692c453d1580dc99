// Softmax cross-entropy fused with its gradient: one block per row reads the logits twice
// (an online max/sum pass, then the gradient pass) and never stores probabilities. When
// dlogits aliases logits the row is overwritten in place by its gradient.
#include <string>

#include "common/status.h"
#include "kernels/cuda/cross_entropy_kernels.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace sparsescale::kernels::cuda {

absl::Status LaunchCrossEntropy(CudaContext& ctx, float* losses, float* dlogits,
                                const float* logits, const int32_t* targets, int BT, int V, int Vp,
                                float dloss_scale) {
  if (BT <= 0 || V <= 0 || Vp < V) {
    return absl::InvalidArgumentError(
        "CrossEntropyForwardBackward: need BT > 0, V > 0 and Vp >= V"
        ", got BT=" +
        std::to_string(BT) + " V=" + std::to_string(V) + " Vp=" + std::to_string(Vp));
  }
  if (losses == nullptr || logits == nullptr || targets == nullptr) {
    return absl::InvalidArgumentError(
        "CrossEntropyForwardBackward: losses, logits and targets must be non-null");
  }
  return cross_entropy::Run(KernelLauncher{ctx.stream()}, losses, dlogits, logits, targets, BT, V,
                            Vp, dloss_scale);
}

}  // namespace sparsescale::kernels::cuda
