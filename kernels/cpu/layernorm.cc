// Layer normalisation over the last dimension, two passes per row (mean, then variance of the
// centred values, which is more accurate than E[x^2] - E[x]^2). The row sums are SIMD
// reductions: a fixed lane order, so results are reproducible for one build.
#include <cmath>
#include <cstddef>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/fast_math.h"

namespace sparsescale::kernels::cpu {

SS_CPU_CLONES void LayerNormForward(float* out, float* mean, float* rstd, const float* inp,
                                    const float* weight, const float* bias, int N, int C,
                                    float eps) {
  for (int r = 0; r < N; ++r) {
    const float* x = inp + static_cast<size_t>(r) * C;
    float* y = out + static_cast<size_t>(r) * C;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int c = 0; c < C; ++c) {
      sum += x[c];
    }
    const float m = sum / static_cast<float>(C);
    float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
    for (int c = 0; c < C; ++c) {
      sq += (x[c] - m) * (x[c] - m);
    }
    const float s = 1.0f / std::sqrt(sq / static_cast<float>(C) + eps);
    for (int c = 0; c < C; ++c) {
      y[c] = (x[c] - m) * s * weight[c] + bias[c];
    }
    mean[r] = m;
    rstd[r] = s;
  }
}

SS_CPU_CLONES void LayerNormBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                                     const float* inp, const float* weight, const float* mean,
                                     const float* rstd, int N, int C) {
  for (int r = 0; r < N; ++r) {
    const float* x = inp + static_cast<size_t>(r) * C;
    const float* dy = dout + static_cast<size_t>(r) * C;
    float* dx = dinp + static_cast<size_t>(r) * C;
    const float m = mean[r];
    const float s = rstd[r];
    float dnorm_sum = 0.0f;
    float dnorm_norm_sum = 0.0f;
#pragma omp simd reduction(+ : dnorm_sum, dnorm_norm_sum)
    for (int c = 0; c < C; ++c) {
      const float norm = (x[c] - m) * s;
      const float dnorm = weight[c] * dy[c];
      dnorm_sum += dnorm;
      dnorm_norm_sum += dnorm * norm;
    }
    const float dnorm_mean = dnorm_sum / static_cast<float>(C);
    const float dnorm_norm_mean = dnorm_norm_sum / static_cast<float>(C);
    for (int c = 0; c < C; ++c) {
      const float norm = (x[c] - m) * s;
      dbias[c] += dy[c];
      dweight[c] += norm * dy[c];
      dx[c] += (weight[c] * dy[c] - dnorm_mean - norm * dnorm_norm_mean) * s;
    }
  }
}

}  // namespace sparsescale::kernels::cpu
