// AdamW with decoupled weight decay, fused with gradient scaling and the pruning mask: one
// pass reads params, grads, m, v and the mask and writes params, m and v.
#include <cmath>

#include "kernels/cuda/adamw_kernels.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace sparsescale::kernels::cuda {

absl::Status LaunchAdamW(CudaContext& ctx, float* params, const float* grads, float* m, float* v,
                         const float* mask, size_t n, const AdamWParams& p) {
  if (n == 0) {
    return absl::OkStatus();
  }
  if (params == nullptr || grads == nullptr || m == nullptr || v == nullptr) {
    return absl::InvalidArgumentError("AdamW: params, grads, m and v must be non-null");
  }
  if (p.step < 1) {
    return absl::InvalidArgumentError("AdamW: step must be >= 1 (it is 1-based)");
  }
  if (!(p.beta1 >= 0.0f && p.beta1 < 1.0f && p.beta2 >= 0.0f && p.beta2 < 1.0f)) {
    return absl::InvalidArgumentError("AdamW: beta1 and beta2 must be in [0, 1)");
  }
  return adamw::Run(KernelLauncher{ctx.stream()}, params, grads, m, v, mask, n,
                    adamw::MakeConstants(p));
}

}  // namespace sparsescale::kernels::cuda
