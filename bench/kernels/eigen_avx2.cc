// Eigen's GEMM compiled for the avx2 instruction set (flags set in CMakeLists.txt).
#define EIGEN_PRIVATE_NAMESPACE Eigen_avx2
#define EIGEN_GEMM_NAME EigenGemm_avx2
#include "bench/kernels/eigen_gemm.inc"
