// Picks the Eigen builds this CPU can run (checked at run time, so the binary starts anywhere).
#include <Eigen/Core>

#include "bench/kernels/gemm_providers.h"

namespace sparsescale::bench {

void EigenGemm_baseline(bool, bool, int, int, int, float, const float*, int, const float*, int,
                        float, float*, int);
void EigenGemm_avx2(bool, bool, int, int, int, float, const float*, int, const float*, int, float,
                    float*, int);
void EigenGemm_avx512(bool, bool, int, int, int, float, const float*, int, const float*, int, float,
                      float*, int);

GemmProvider MakeEigenBaselineProvider() {
  return {"eigen-sse2", EigenGemm_baseline,
          "Eigen " + std::to_string(EIGEN_WORLD_VERSION) + "." +
              std::to_string(EIGEN_MAJOR_VERSION) + ", x86-64 baseline, 1 thread"};
}

GemmProvider MakeEigenAvx2Provider() {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    return {"eigen-avx2", nullptr, "CPU lacks AVX2/FMA"};
  }
  return {"eigen-avx2", EigenGemm_avx2, "-mavx2 -mfma, 1 thread"};
}

GemmProvider MakeEigenAvx512Provider() {
  if (!__builtin_cpu_supports("avx512f")) {
    return {"eigen-avx512", nullptr, "CPU lacks AVX-512F"};
  }
  return {"eigen-avx512", EigenGemm_avx512, "-mavx512f -mfma, 1 thread"};
}

}  // namespace sparsescale::bench
