// Eigen's GEMM compiled for the avx512 instruction set (flags set in CMakeLists.txt).
#define EIGEN_PRIVATE_NAMESPACE Eigen_avx512
#define EIGEN_GEMM_NAME EigenGemm_avx512
#include "bench/kernels/eigen_gemm.inc"
