// The SGEMM implementations gemm_bench compares, behind one row-major signature. Shared
// libraries are opened with dlopen(RTLD_LOCAL) so OpenBLAS and BLIS, which export the same
// BLAS symbols, can be measured in one process. Not thread-safe: benchmark use only.
#pragma once

#include <functional>
#include <string>

namespace sparsescale::bench {

// C = alpha * op(A) @ op(B) + beta * C, row-major, as kernels::Ops::Gemm.
using GemmFn =
    std::function<void(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                       int lda, const float* B, int ldb, float beta, float* C, int ldc)>;

struct GemmProvider {
  std::string name;
  GemmFn gemm;       // empty when unavailable
  std::string note;  // what it dispatched to, or why it is unavailable
};

// Each sets its library's thread count to `threads` where the library allows it.
GemmProvider MakeOpenBlasProvider(int threads);
GemmProvider MakeBlisProvider(int threads);
GemmProvider MakeOneDnnProvider(int threads);
// Eigen 3.4 (header-only, single-threaded) compiled for the baseline ISA, AVX2+FMA and
// AVX-512; the last two only run where the CPU has those instructions.
GemmProvider MakeEigenBaselineProvider();
GemmProvider MakeEigenAvx2Provider();
GemmProvider MakeEigenAvx512Provider();

}  // namespace sparsescale::bench
