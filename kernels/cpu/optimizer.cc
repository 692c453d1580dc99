// Optimiser-side ops: global-norm accumulation, AdamW with an optional pruning mask, masking
// and non-zero counting.
#include <cmath>
#include <cstddef>

#include "kernels/cpu/cpu_kernels.h"

namespace sparsescale::kernels::cpu {

// Accumulates in double: the sum runs over millions of parameters and feeds gradient clipping.
double SumSquares(const float* x, size_t n) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (size_t i = 0; i < n; ++i) {
    sum += static_cast<double>(x[i]) * x[i];
  }
  return sum;
}

namespace {

// One AdamW pass; the mask test is a template argument so both loops vectorise.
template <bool kMasked>
void AdamWLoop(float* params, const float* grads, float* m, float* v, const float* mask, size_t n,
               const AdamWParams& p) {
  const float inv_bias1 =
      static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(p.beta1), p.step)));
  const float inv_bias2 =
      static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(p.beta2), p.step)));
  for (size_t i = 0; i < n; ++i) {
    const float g = grads[i] * p.grad_scale;
    const float mi = p.beta1 * m[i] + (1.0f - p.beta1) * g;
    const float vi = p.beta2 * v[i] + (1.0f - p.beta2) * g * g;
    const float update = (mi * inv_bias1) / (std::sqrt(vi * inv_bias2) + p.eps);
    const float pi = params[i] - p.lr * (update + p.weight_decay * params[i]);
    // A select, not a multiply: a pruned element ends exactly +0 even if its update overflowed.
    const bool keep = !kMasked || mask[i] != 0.0f;
    params[i] = keep ? pi : 0.0f;
    m[i] = keep ? mi : 0.0f;
    v[i] = keep ? vi : 0.0f;
  }
}

}  // namespace

void AdamW(float* params, const float* grads, float* m, float* v, const float* mask, size_t n,
           const AdamWParams& p) {
  if (mask != nullptr) {
    AdamWLoop<true>(params, grads, m, v, mask, n, p);
  } else {
    AdamWLoop<false>(params, grads, m, v, mask, n, p);
  }
}

void ApplyMask(float* x, const float* mask, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    x[i] *= mask[i];
  }
}

int64_t CountNonZero(const float* x, size_t n) {
  int64_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    count += x[i] != 0.0f ? 1 : 0;
  }
  return count;
}

}  // namespace sparsescale::kernels::cpu
