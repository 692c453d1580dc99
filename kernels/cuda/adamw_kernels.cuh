// The device code of adamw.cu and its launch sequence, written once for the GPU (included by
// adamw.cu only: the kernels have external linkage) and for the host emulator
// (kernels/cuda_emu/elementwise_emu_test.cc checks them against the CPU backend in CI).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/ops.h"

namespace sparsescale::kernels::cuda::adamw {


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

constexpr unsigned int kThreads = 256;

// The kernel's constants from the op's parameters (bias corrections in double, then float).
inline AdamWConstants MakeConstants(const AdamWParams& p) {
  return AdamWConstants{p.lr,
                        p.beta1,
                        p.beta2,
                        p.eps,
                        p.weight_decay,
                        p.grad_scale,
                        static_cast<float>(1.0 - std::pow(double{p.beta1}, double(p.step))),
                        static_cast<float>(1.0 - std::pow(double{p.beta2}, double(p.step)))};
}

template <typename Launcher>
absl::Status Run(const Launcher& launch, float* params, const float* grads, float* m, float* v,
                 const float* mask, size_t n, const AdamWConstants& c) {
  return launch(CappedBlocks(n, kThreads, 65536u), kThreads, 0, AdamWKernel, params, grads, m, v,
                mask, n, c);
}

}  // namespace sparsescale::kernels::cuda::adamw
