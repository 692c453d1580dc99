// Plain-loop SGEMM: loop orders chosen so the innermost loop is a contiguous axpy or a dot
// product the compiler can vectorise. No blocking; the baseline the libraries are measured
// against and the fallback when no library is linked.
#include <cstddef>

#include "kernels/cpu/cpu_kernels.h"

namespace sparsescale::kernels::cpu {
namespace {

// C[i, :] = beta * C[i, :] for every row (beta == 0 writes zeros without reading C).
void ScaleRows(int M, int N, float beta, float* C, int ldc) {
  for (int i = 0; i < M; ++i) {
    float* c = C + static_cast<size_t>(i) * ldc;
    for (int j = 0; j < N; ++j) {
      c[j] = beta == 0.0f ? 0.0f : beta * c[j];
    }
  }
}

// Dot product with eight independent partial sums so it vectorises without -ffast-math.
float Dot(const float* a, const float* b, int K) {
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int k = 0;
  for (; k + 8 <= K; k += 8) {
    for (int u = 0; u < 8; ++u) {
      part[u] += a[k + u] * b[k + u];
    }
  }
  float sum =
      ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
  for (; k < K; ++k) {
    sum += a[k] * b[k];
  }
  return sum;
}

}  // namespace

void GemmPlain(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
               int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  ScaleRows(M, N, beta, C, ldc);
  if (K == 0 || alpha == 0.0f) {
    return;
  }
  for (int i = 0; i < M; ++i) {
    float* c = C + static_cast<size_t>(i) * ldc;
    if (trans_b) {
      // B is [N, K]: every C element is a dot product of contiguous rows (when !trans_a).
      for (int j = 0; j < N; ++j) {
        const float* b = B + static_cast<size_t>(j) * ldb;
        float sum = 0;
        if (!trans_a) {
          sum = Dot(A + static_cast<size_t>(i) * lda, b, K);
        } else {
          for (int k = 0; k < K; ++k) {
            sum += A[static_cast<size_t>(k) * lda + i] * b[k];
          }
        }
        c[j] += alpha * sum;
      }
    } else {
      // B is [K, N]: accumulate alpha * A(i, k) * B[k, :] into the contiguous row of C.
      for (int k = 0; k < K; ++k) {
        const float a = alpha * (trans_a ? A[static_cast<size_t>(k) * lda + i]
                                         : A[static_cast<size_t>(i) * lda + k]);
        const float* b = B + static_cast<size_t>(k) * ldb;
        for (int j = 0; j < N; ++j) {
          c[j] += a * b[j];
        }
      }
    }
  }
}

}  // namespace sparsescale::kernels::cpu
