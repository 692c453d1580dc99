// SGEMM dispatch: the library chosen by measurement (docs/BENCHMARKS.md), else plain loops.
#include "kernels/cpu/cpu_kernels.h"

namespace sparsescale::kernels::cpu {

void Gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc, int threads) {
  (void)threads;
  GemmPlain(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char* GemmLibraryName() { return "plain"; }

}  // namespace sparsescale::kernels::cpu
