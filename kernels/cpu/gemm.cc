// SGEMM dispatch: oneDNN's dnnl_sgemm when the build found oneDNN, else plain loops.
// Chosen by measurement (docs/BENCHMARKS.md, "kernels (CPU GEMM)"): on this project's AVX2
// machines OpenBLAS, BLIS and oneDNN run within about 10% of each other, while on AVX-512
// Xeons only oneDNN picks AVX-512 kernels by itself (OpenBLAS 0.3.21 falls back to a generic
// kernel there, BLIS 0.9 to its AVX2 kernels for CPU models it does not know).
#include "kernels/cpu/cpu_kernels.h"

namespace sparsescale::kernels::cpu {

void Gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc, int threads) {
  if (OneDnnAvailable()) {
    GemmOneDnn(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
  } else {
    GemmPlain(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
}

const char* GemmLibraryName() { return OneDnnAvailable() ? "onednn" : "plain"; }

}  // namespace sparsescale::kernels::cpu
