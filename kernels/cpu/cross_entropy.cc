// Softmax cross-entropy fused with its gradient, one row at a time. Each row's maximum and
// normaliser are computed before anything is written, so dlogits may alias logits.
#include <cmath>
#include <cstddef>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/fast_math.h"

namespace sparsescale::kernels::cpu {

SS_CPU_CLONES void CrossEntropyForwardBackward(float* losses, float* dlogits, const float* logits,
                                               const int32_t* targets, int BT, int V, int Vp,
                                               float dloss_scale) {
  for (int r = 0; r < BT; ++r) {
    const float* x = logits + static_cast<size_t>(r) * Vp;
    const int target = targets[r];
    const float x_target = x[target];  // read before an aliased dlogits overwrites the row
    float maxv = x[0];
#pragma omp simd reduction(max : maxv)
    for (int i = 0; i < V; ++i) {
      maxv = x[i] > maxv ? x[i] : maxv;
    }
    float sum = 0.0f;
    float* d = dlogits != nullptr ? dlogits + static_cast<size_t>(r) * Vp : nullptr;
    if (d != nullptr) {
      // Each iteration reads x[i] before writing d[i]: safe when d == x.
#pragma omp simd reduction(+ : sum)
      for (int i = 0; i < V; ++i) {
        d[i] = ExpF(x[i] - maxv);
        sum += d[i];
      }
    } else {
#pragma omp simd reduction(+ : sum)
      for (int i = 0; i < V; ++i) {
        sum += ExpF(x[i] - maxv);
      }
    }
    losses[r] = std::log(sum) + maxv - x_target;
    if (d == nullptr) {
      continue;
    }
    const float scale = dloss_scale / sum;
    for (int i = 0; i < V; ++i) {
      d[i] *= scale;
    }
    d[target] -= dloss_scale;
    for (int i = V; i < Vp; ++i) {
      d[i] = 0.0f;
    }
  }
}

}  // namespace sparsescale::kernels::cpu
