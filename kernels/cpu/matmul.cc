// Linear layers on top of Gemm: out = inp @ weight^T + bias and its three gradients.
#include <cstddef>

#include "kernels/cpu/cpu_kernels.h"

namespace sparsescale::kernels::cpu {

void MatmulForward(float* out, const float* inp, const float* weight, const float* bias, int BT,
                   int C, int OC, int threads) {
  float beta = 0.0f;
  if (bias != nullptr) {
    // Seed every row with the bias and let the product accumulate onto it.
    for (int r = 0; r < BT; ++r) {
      float* o = out + static_cast<size_t>(r) * OC;
      for (int j = 0; j < OC; ++j) {
        o[j] = bias[j];
      }
    }
    beta = 1.0f;
  }
  Gemm(false, true, BT, OC, C, 1.0f, inp, C, weight, C, beta, out, OC, threads);
}

void MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                    const float* weight, int BT, int C, int OC, int threads) {
  if (dinp != nullptr) {
    Gemm(false, false, BT, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C, threads);
  }
  Gemm(true, false, OC, C, BT, 1.0f, dout, OC, inp, C, 1.0f, dweight, C, threads);
  if (dbias != nullptr) {
    for (int r = 0; r < BT; ++r) {
      const float* d = dout + static_cast<size_t>(r) * OC;
      for (int j = 0; j < OC; ++j) {
        dbias[j] += d[j];
      }
    }
  }
}

}  // namespace sparsescale::kernels::cpu
