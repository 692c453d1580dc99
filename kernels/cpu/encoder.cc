// Token + position embedding and its gradient. The backward walks tokens in (b, t) order on
// one thread, so repeated tokens always accumulate in the same order (deterministic).
#include <cstddef>

#include "kernels/cpu/cpu_kernels.h"

namespace sparsescale::kernels::cpu {

void EncoderForward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B,
                    int T, int C) {
  for (int b = 0; b < B; ++b) {
    for (int t = 0; t < T; ++t) {
      const size_t bt = static_cast<size_t>(b) * T + t;
      const float* e = wte + static_cast<size_t>(tokens[bt]) * C;
      const float* p = wpe + static_cast<size_t>(t) * C;
      float* o = out + bt * C;
      for (int c = 0; c < C; ++c) {
        o[c] = e[c] + p[c];
      }
    }
  }
}

void EncoderBackward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B,
                     int T, int C) {
  for (int b = 0; b < B; ++b) {
    for (int t = 0; t < T; ++t) {
      const size_t bt = static_cast<size_t>(b) * T + t;
      const float* d = dout + bt * C;
      float* de = dwte + static_cast<size_t>(tokens[bt]) * C;
      float* dp = dwpe + static_cast<size_t>(t) * C;
      for (int c = 0; c < C; ++c) {
        de[c] += d[c];
        dp[c] += d[c];
      }
    }
  }
}

}  // namespace sparsescale::kernels::cpu
