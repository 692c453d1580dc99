// Fill: x[i] = value.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace sparsescale::kernels::cuda {
namespace {

__global__ void FillKernel(float* x, float value, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    x[i] = value;
  }
}

}  // namespace

absl::Status LaunchFill(CudaContext& ctx, float* x, float value, size_t n) {
  if (n == 0) {
    return absl::OkStatus();
  }
  if (x == nullptr) {
    return absl::InvalidArgumentError("Fill: x is null");
  }
  constexpr unsigned int kThreads = 256;
  const unsigned int blocks = BlocksFor(n, kThreads) < 65536u ? BlocksFor(n, kThreads) : 65536u;
  FillKernel<<<blocks, kThreads, 0, ctx.stream()>>>(x, value, n);
  RETURN_IF_LAUNCH_FAILED();
  return absl::OkStatus();
}

}  // namespace sparsescale::kernels::cuda
