// ApplyMask: x *= mask, re-zeroing pruned weights after an update.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace sparsescale::kernels::cuda {
namespace {

__global__ void ApplyMaskKernel(float* x, const float* mask, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    // Multiplying keeps the CPU backend's semantics exactly (0 * x, 1 * x).
    x[i] *= mask[i];
  }
}

}  // namespace

absl::Status LaunchApplyMask(CudaContext& ctx, float* x, const float* mask, size_t n) {
  if (n == 0) {
    return absl::OkStatus();
  }
  if (x == nullptr || mask == nullptr) {
    return absl::InvalidArgumentError("ApplyMask: x and mask must be non-null");
  }
  constexpr unsigned int kThreads = 256;
  const unsigned int blocks = BlocksFor(n, kThreads) < 65536u ? BlocksFor(n, kThreads) : 65536u;
  ApplyMaskKernel<<<blocks, kThreads, 0, ctx.stream()>>>(x, mask, n);
  RETURN_IF_LAUNCH_FAILED();
  return absl::OkStatus();
}

}  // namespace sparsescale::kernels::cuda
