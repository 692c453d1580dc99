// MagnitudeMask: keep the `keep` entries of largest |w| (ties by lower index), on the GPU.
#include <string>

#include "common/status.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/topk_select.h"

namespace sparsescale::kernels::cuda {

absl::Status LaunchMagnitudeMask(CudaContext& ctx, float* mask, const float* w, size_t n,
                                 size_t keep) {
  if (keep > n) {
    return absl::InvalidArgumentError("MagnitudeMask: keep (" + std::to_string(keep) +
                                      ") must be in [0, n=" + std::to_string(n) + "]");
  }
  if (n == 0) {
    return absl::OkStatus();
  }
  if (mask == nullptr || w == nullptr) {
    return absl::InvalidArgumentError("MagnitudeMask: mask and w must be non-null");
  }
  if (keep == 0 || keep == n) {
    return LaunchFill(ctx, mask, keep == n ? 1.0f : 0.0f, n);
  }
  ASSIGN_OR_RETURN(void* mem, ctx.Scratch(ScratchSlot::kSelectKeys, sizeof(uint32_t) * n));
  uint32_t* keys = static_cast<uint32_t*>(mem);
  RETURN_IF_ERROR(LaunchMagnitudeKeys(ctx, keys, w, n));
  return LaunchSelectTopK(ctx, mask, keys, n, keep);
}

}  // namespace sparsescale::kernels::cuda
