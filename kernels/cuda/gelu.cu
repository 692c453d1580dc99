// GELU with the tanh approximation (GPT-2's), forward and backward fused into one pass each.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace sparsescale::kernels::cuda {
namespace {

constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;
constexpr unsigned int kThreads = 256;

__global__ void GeluForwardKernel(float* out, const float* inp, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    const float x = inp[i];
    const float cube = kGeluCubic * x * x * x;
    out[i] = 0.5f * x * (1.0f + tanhf(kGeluScale * (x + cube)));
  }
}

// dinp += gelu'(x) * dout.
__global__ void GeluBackwardKernel(float* dinp, const float* inp, const float* dout, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    const float x = inp[i];
    const float cube = kGeluCubic * x * x * x;
    const float tanh_arg = kGeluScale * (x + cube);
    const float tanh_out = tanhf(tanh_arg);
    const float cosh_out = coshf(tanh_arg);
    const float sech2 = 1.0f / (cosh_out * cosh_out);
    const float grad = 0.5f * (1.0f + tanh_out) +
                       x * 0.5f * sech2 * kGeluScale * (1.0f + 3.0f * kGeluCubic * x * x);
    dinp[i] += grad * dout[i];
  }
}

unsigned int Blocks(size_t n) {
  const unsigned int b = BlocksFor(n, kThreads);
  return b < 65536u ? b : 65536u;
}

}  // namespace

absl::Status LaunchGeluForward(CudaContext& ctx, float* out, const float* inp, size_t n) {
  if (n == 0) {
    return absl::OkStatus();
  }
  if (out == nullptr || inp == nullptr) {
    return absl::InvalidArgumentError("GeluForward: out and inp must be non-null");
  }
  GeluForwardKernel<<<Blocks(n), kThreads, 0, ctx.stream()>>>(out, inp, n);
  RETURN_IF_LAUNCH_FAILED();
  return absl::OkStatus();
}

absl::Status LaunchGeluBackward(CudaContext& ctx, float* dinp, const float* inp, const float* dout,
                                size_t n) {
  if (n == 0) {
    return absl::OkStatus();
  }
  if (dinp == nullptr || inp == nullptr || dout == nullptr) {
    return absl::InvalidArgumentError("GeluBackward: dinp, inp and dout must be non-null");
  }
  GeluBackwardKernel<<<Blocks(n), kThreads, 0, ctx.stream()>>>(dinp, inp, dout, n);
  RETURN_IF_LAUNCH_FAILED();
  return absl::OkStatus();
}

}  // namespace sparsescale::kernels::cuda
