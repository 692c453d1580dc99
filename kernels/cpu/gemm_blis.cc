// SGEMM through BLIS's typed expert API: row-major is a general stride (row stride ld, column
// stride 1), and the thread count travels in a per-call rntm_t, so no global state changes.
// BLIS parallelises only loops over M and N, never K, so every element of C is summed in the
// same order whatever the thread count.
#include "kernels/cpu/cpu_kernels.h"

#ifdef SPARSESCALE_HAVE_BLIS
#include <blis.h>
#endif

namespace sparsescale::kernels::cpu {

#ifdef SPARSESCALE_HAVE_BLIS

bool BlisAvailable() { return true; }

const char* BlisKernelConfig() { return bli_arch_string(bli_arch_query_id()); }

void GemmBlis(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
              const float* B, int ldb, float beta, float* C, int ldc, int threads) {
  rntm_t rntm = BLIS_RNTM_INITIALIZER;
  bli_rntm_set_num_threads(threads, &rntm);
  // BLIS takes non-const pointers but does not write A or B.
  bli_sgemm_ex(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
               trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, M, N, K, &alpha, const_cast<float*>(A),
               lda, 1, const_cast<float*>(B), ldb, 1, &beta, C, ldc, 1, nullptr, &rntm);
}

#else

bool BlisAvailable() { return false; }
const char* BlisKernelConfig() { return "none"; }
void GemmBlis(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
              const float* B, int ldb, float beta, float* C, int ldc, int) {
  GemmPlain(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#endif

}  // namespace sparsescale::kernels::cpu
