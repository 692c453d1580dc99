// Element-wise additions: the residual connection (out = a + b) and gradient accumulation
// (y += x). Both are memory-bound: one read per input, one write.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace sparsescale::kernels::cuda {
namespace {

constexpr unsigned int kThreads = 256;
constexpr unsigned int kMaxBlocks = 65536;

__global__ void AddKernel(float* out, const float* a, const float* b, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    out[i] = a[i] + b[i];
  }
}

unsigned int Blocks(size_t n) {
  const unsigned int b = BlocksFor(n, kThreads);
  return b < kMaxBlocks ? b : kMaxBlocks;
}

}  // namespace

absl::Status LaunchResidualForward(CudaContext& ctx, float* out, const float* a, const float* b,
                                   size_t n) {
  if (n == 0) {
    return absl::OkStatus();
  }
  if (out == nullptr || a == nullptr || b == nullptr) {
    return absl::InvalidArgumentError("ResidualForward: out, a and b must be non-null");
  }
  AddKernel<<<Blocks(n), kThreads, 0, ctx.stream()>>>(out, a, b, n);
  RETURN_IF_LAUNCH_FAILED();
  return absl::OkStatus();
}

absl::Status LaunchAccumulate(CudaContext& ctx, float* y, const float* x, size_t n) {
  if (n == 0) {
    return absl::OkStatus();
  }
  if (y == nullptr || x == nullptr) {
    return absl::InvalidArgumentError("Accumulate: y and x must be non-null");
  }
  AddKernel<<<Blocks(n), kThreads, 0, ctx.stream()>>>(y, y, x, n);
  RETURN_IF_LAUNCH_FAILED();
  return absl::OkStatus();
}

}  // namespace sparsescale::kernels::cuda
