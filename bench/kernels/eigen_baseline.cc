// Eigen's GEMM compiled for the baseline instruction set (flags set in CMakeLists.txt).
#define EIGEN_PRIVATE_NAMESPACE Eigen_baseline
#define EIGEN_GEMM_NAME EigenGemm_baseline
#include "bench/kernels/eigen_gemm.inc"
