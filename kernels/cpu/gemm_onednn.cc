// SGEMM through oneDNN's dnnl_sgemm (row-major, JIT kernels chosen from the CPU's features at
// run time). oneDNN threads with OpenMP and uses omp_get_max_threads(), so the calling
// thread's OpenMP thread count is set to `threads` when it differs.
#include "kernels/cpu/cpu_kernels.h"

#ifdef SPARSESCALE_HAVE_DNNL
#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

#include "oneapi/dnnl/dnnl.h"
#endif

namespace sparsescale::kernels::cpu {

#ifdef SPARSESCALE_HAVE_DNNL
namespace {

// Rows this many floats apart (2 KiB) map to the same L1 sets; the padded copy breaks that.
constexpr int kAliasingStride = 512;
constexpr int kPadFloats = 16;
// Below this depth the copy costs more than the aliasing.
constexpr int kMinDepthToPad = 256;

// Copies rows x cols of src (row stride ld) into `scratch` with a stride that does not alias,
// and returns the new stride. The scratch only grows, so steady-state calls do not allocate.
int CopyPadded(const float* src, int rows, int cols, int ld, std::vector<float>& scratch) {
  const int padded = cols + kPadFloats;
  scratch.resize(std::max(scratch.size(), static_cast<size_t>(rows) * padded));
  for (int r = 0; r < rows; ++r) {
    std::memcpy(scratch.data() + static_cast<size_t>(r) * padded, src + static_cast<size_t>(r) * ld,
                sizeof(float) * cols);
  }
  return padded;
}

}  // namespace

bool OneDnnAvailable() { return true; }

void GemmOneDnn(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                int lda, const float* B, int ldb, float beta, float* C, int ldc, int threads) {
  if (K == 0) {
    // dnnl_sgemm leaves C alone when K == 0; the contract is C = beta * C.
    GemmPlain(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Weight gradients (dout^T @ inp) walk both operands down K rows; with a row stride of a
  // multiple of 2 KiB, oneDNN 2.6 runs at half speed on AVX2 (measured: 30 vs 65 GFLOP/s for
  // 1024 x 256 x 4096), so such operands are copied to a padded stride first.
  thread_local std::vector<float> scratch_a, scratch_b;
  if (trans_a && !trans_b && K >= kMinDepthToPad) {
    if (lda % kAliasingStride == 0) {
      lda = CopyPadded(A, K, M, lda, scratch_a);
      A = scratch_a.data();
    }
    if (ldb % kAliasingStride == 0) {
      ldb = CopyPadded(B, K, N, ldb, scratch_b);
      B = scratch_b.data();
    }
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
void GemmOneDnn(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                int lda, const float* B, int ldb, float beta, float* C, int ldc, int) {
  GemmPlain(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#endif

}  // namespace sparsescale::kernels::cpu
