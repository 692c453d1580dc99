// SGEMM through oneDNN's dnnl_sgemm (row-major, JIT kernels chosen from the CPU's features at
// run time). oneDNN threads with OpenMP and uses omp_get_max_threads(), so the calling
// thread's OpenMP thread count is set to `threads` when it differs.
#include "kernels/cpu/cpu_kernels.h"

#ifdef SPARSESCALE_HAVE_DNNL
#include <omp.h>

#include "oneapi/dnnl/dnnl.h"
#endif

namespace sparsescale::kernels::cpu {

#ifdef SPARSESCALE_HAVE_DNNL

bool OneDnnAvailable() { return true; }

bool OneDnnHasAvx512() {
  // dnnl_cpu_isa_avx512_core's bits; every later AVX-512 ISA value contains them.
  const int isa = static_cast<int>(dnnl_get_effective_cpu_isa());
  return (isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core;
}

void GemmOneDnn(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                int lda, const float* B, int ldb, float beta, float* C, int ldc, int threads) {
  if (K == 0) {
    // dnnl_sgemm leaves C alone when K == 0; the contract is C = beta * C.
    GemmPlain(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (omp_get_max_threads() != threads) {
    omp_set_num_threads(threads);
  }
  // dnnl_sgemm only fails on arguments CpuOps has already validated.
  (void)dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta,
                   C, ldc);
}

#else

bool OneDnnAvailable() { return false; }
bool OneDnnHasAvx512() { return false; }
void GemmOneDnn(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                int lda, const float* B, int ldb, float beta, float* C, int ldc, int) {
  GemmPlain(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#endif

}  // namespace sparsescale::kernels::cpu
