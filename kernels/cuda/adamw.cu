// AdamW with decoupled weight decay, fused with gradient scaling and the pruning mask: one
// pass reads params, grads, m, v and the mask and writes params, m and v.
#include <cmath>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace sparsescale::kernels::cuda {
namespace {

struct AdamWConstants {
  float lr, beta1, beta2, eps, weight_decay, grad_scale;
  float bias_correction1, bias_correction2;
};

__global__ void AdamWKernel(float* params, const float* grads, float* m, float* v,
                            const float* mask, size_t n, AdamWConstants c) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    if (mask != nullptr && mask[i] == 0.0f) {
      params[i] = 0.0f;
      m[i] = 0.0f;
      v[i] = 0.0f;
      continue;
    }
    const float g = grads[i] * c.grad_scale;
    const float mi = c.beta1 * m[i] + (1.0f - c.beta1) * g;
    const float vi = c.beta2 * v[i] + (1.0f - c.beta2) * g * g;
    const float m_hat = mi / c.bias_correction1;
    const float v_hat = vi / c.bias_correction2;
    const float p = params[i];
    params[i] = p - c.lr * (m_hat / (sqrtf(v_hat) + c.eps) + c.weight_decay * p);
    m[i] = mi;
    v[i] = vi;
  }
}

}  // namespace

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
  const AdamWConstants c{p.lr,
                         p.beta1,
                         p.beta2,
                         p.eps,
                         p.weight_decay,
                         p.grad_scale,
                         static_cast<float>(1.0 - std::pow(double{p.beta1}, double(p.step))),
                         static_cast<float>(1.0 - std::pow(double{p.beta2}, double(p.step)))};
  constexpr unsigned int kThreads = 256;
  const unsigned int blocks = BlocksFor(n, kThreads) < 65536u ? BlocksFor(n, kThreads) : 65536u;
  AdamWKernel<<<blocks, kThreads, 0, ctx.stream()>>>(params, grads, m, v, mask, n, c);
  RETURN_IF_LAUNCH_FAILED();
  return absl::OkStatus();
}

}  // namespace sparsescale::kernels::cuda
