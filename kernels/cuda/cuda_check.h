// Internal to kernels/cuda: turning CUDA, cuBLASLt and launch errors into absl::Status.
// Every CUDA call of the backend goes through one of these macros; every kernel launch is
// followed by RETURN_IF_LAUNCH_FAILED so a bad configuration surfaces at the op that caused it.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <string>

#include "absl/status/status.h"

namespace sparsescale::kernels::cuda {

inline absl::Status CudaError(cudaError_t err, const char* expr, const char* file, int line) {
  return absl::InternalError(std::string(file) + ":" + std::to_string(line) + ": " + expr +
                             " failed: " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) +
                             ")");
}

inline absl::Status CublasError(cublasStatus_t err, const char* expr, const char* file, int line) {
  return absl::InternalError(std::string(file) + ":" + std::to_string(line) + ": " + expr +
                             " failed: cuBLAS status " + std::to_string(static_cast<int>(err)));
}

// Blocks per grid for `n` items at `threads` per block, capped at what one launch allows.
inline unsigned int BlocksFor(size_t n, unsigned int threads) {
  const size_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned int>(blocks < 1 ? 1 : (blocks > 2147483647u ? 2147483647u : blocks));
}

}  // namespace sparsescale::kernels::cuda

#define CUDA_RETURN_IF_ERROR(expr)                                                             \
  do {                                                                                         \
    const cudaError_t ss_cuda_err_ = (expr);                                                   \
    if (ss_cuda_err_ != cudaSuccess) {                                                         \
      return ::sparsescale::kernels::cuda::CudaError(ss_cuda_err_, #expr, __FILE__, __LINE__); \
    }                                                                                          \
  } while (false)

#define CUBLAS_RETURN_IF_ERROR(expr)                                                               \
  do {                                                                                             \
    const cublasStatus_t ss_cublas_err_ = (expr);                                                  \
    if (ss_cublas_err_ != CUBLAS_STATUS_SUCCESS) {                                                 \
      return ::sparsescale::kernels::cuda::CublasError(ss_cublas_err_, #expr, __FILE__, __LINE__); \
    }                                                                                              \
  } while (false)

// Checks the launch just issued (configuration errors and earlier asynchronous faults).
#define RETURN_IF_LAUNCH_FAILED() CUDA_RETURN_IF_ERROR(cudaGetLastError())
