// MagnitudeMask: keep the `keep` entries of largest |w| (ties by lower index), on the GPU.
#include <string>

#include "common/status.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/topk_select.h"

namespace sparsescale::kernels::cuda {
namespace {

__global__ void MagnitudeKeysKernel(uint32_t* keys, const float* w, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    keys[i] = MagnitudeKey(w[i]);
  }
}

}  // namespace

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
  constexpr unsigned int kThreads = 256;
  const unsigned int blocks = BlocksFor(n, kThreads) < 65536u ? BlocksFor(n, kThreads) : 65536u;
  MagnitudeKeysKernel<<<blocks, kThreads, 0, ctx.stream()>>>(keys, w, n);
  RETURN_IF_LAUNCH_FAILED();
  return LaunchSelectTopK(ctx, mask, keys, n, keep);
}

}  // namespace sparsescale::kernels::cuda
