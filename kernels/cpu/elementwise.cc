// Element-wise ops: GELU (tanh form, written as x * sigmoid(2u) so it needs only ExpF),
// residual add, gradient accumulation and fill.
#include <cstddef>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/fast_math.h"

namespace sparsescale::kernels::cpu {
namespace {

constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;

}  // namespace

// 0.5 * x * (1 + tanh(u)) == x * sigmoid(2u), u = sqrt(2/pi) * (x + 0.044715 x^3).
SS_CPU_CLONES void GeluForward(float* out, const float* inp, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float x = inp[i];
    const float u = kGeluScale * (x + kGeluCubic * x * x * x);
    out[i] = x * (1.0f / (1.0f + ExpF(-2.0f * u)));
  }
}

// With s = sigmoid(2u): tanh(u) = 2s - 1 and 1 - tanh(u)^2 = 4 s (1 - s), so
// gelu'(x) = s + 2 x s (1 - s) u'(x).
SS_CPU_CLONES void GeluBackward(float* dinp, const float* inp, const float* dout, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float x = inp[i];
    const float u = kGeluScale * (x + kGeluCubic * x * x * x);
    const float du = kGeluScale * (1.0f + 3.0f * kGeluCubic * x * x);
    const float s = 1.0f / (1.0f + ExpF(-2.0f * u));
    dinp[i] += (s + 2.0f * x * s * (1.0f - s) * du) * dout[i];
  }
}

void ResidualForward(float* out, const float* a, const float* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    out[i] = a[i] + b[i];
  }
}

void Accumulate(float* y, const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    y[i] += x[i];
  }
}

void Fill(float* x, float value, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    x[i] = value;
  }
}

}  // namespace sparsescale::kernels::cpu
