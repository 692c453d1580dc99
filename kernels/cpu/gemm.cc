// SGEMM dispatch, fixed once per process from the CPU's features (so results are reproducible
// on one machine). Measured in docs/BENCHMARKS.md (kernels (CPU GEMM)): on AVX2-only CPUs BLIS
// (with its per-CPU kernel configs, e.g. zen3) beats oneDNN's AVX2 JIT by about 1.7x; on
// AVX-512 Xeons oneDNN's JIT kernels are used, because BLIS 0.9 and OpenBLAS 0.3.21 fall back
// to older kernels on CPU models they do not know.
#include "kernels/cpu/cpu_kernels.h"

namespace sparsescale::kernels::cpu {
namespace {

enum class GemmLibrary { kOneDnn, kBlis, kPlain };

GemmLibrary Choose() {
  if (OneDnnAvailable() && (OneDnnHasAvx512() || !BlisAvailable())) {
    return GemmLibrary::kOneDnn;
  }
  return BlisAvailable() ? GemmLibrary::kBlis : GemmLibrary::kPlain;
}

GemmLibrary Chosen() {
  static const GemmLibrary library = Choose();
  return library;
}

}  // namespace

void Gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc, int threads) {
  switch (Chosen()) {
    case GemmLibrary::kOneDnn:
      GemmOneDnn(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
      return;
    case GemmLibrary::kBlis:
      GemmBlis(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
      return;
    case GemmLibrary::kPlain:
      GemmPlain(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      return;
  }
}

const char* GemmLibraryName() {
  switch (Chosen()) {
    case GemmLibrary::kOneDnn:
      return "onednn";
    case GemmLibrary::kBlis:
      return "blis";
    case GemmLibrary::kPlain:
      return "plain";
  }
  return "plain";
}

}  // namespace sparsescale::kernels::cpu
