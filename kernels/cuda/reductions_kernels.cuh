// The device code of reductions.cu and its launch sequence, written once for the GPU (included by
// reductions.cu only: the kernels have external linkage) and for the host emulator
// (kernels/cuda_emu/elementwise_emu_test.cc checks them against the CPU backend in CI).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "kernels/cuda/launch.cuh"

namespace sparsescale::kernels::cuda::reductions {


constexpr int kThreads = 256;
constexpr int kBlocks = 512;

template <typename T>
__device__ T BlockSum(T v) {
  __shared__ T vals[kThreads];
  vals[threadIdx.x] = v;
  __syncthreads();
  for (unsigned half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      vals[threadIdx.x] += vals[threadIdx.x + half];
    }
    __syncthreads();
  }
  return vals[0];
}

__global__ void SumSquaresPartialKernel(double* partial, const float* x, size_t n) {
  double s = 0.0;
  for (size_t i = blockIdx.x * size_t{kThreads} + threadIdx.x; i < n;
       i += size_t{kBlocks} * kThreads) {
    const double xi = x[i];
    s += xi * xi;
  }
  const double total = BlockSum(s);
  if (threadIdx.x == 0) {
    partial[blockIdx.x] = total;
  }
}

__global__ void SumSquaresFinishKernel(float* accum, const double* partial) {
  double s = 0.0;
  for (int i = threadIdx.x; i < kBlocks; i += kThreads) {
    s += partial[i];
  }
  const double total = BlockSum(s);
  if (threadIdx.x == 0) {
    *accum = static_cast<float>(static_cast<double>(*accum) + total);
  }
}

__global__ void CountPartialKernel(unsigned long long* partial, const float* x, size_t n) {
  unsigned long long c = 0;
  for (size_t i = blockIdx.x * size_t{kThreads} + threadIdx.x; i < n;
       i += size_t{kBlocks} * kThreads) {
    c += x[i] != 0.0f ? 1 : 0;
  }
  const unsigned long long total = BlockSum(c);
  if (threadIdx.x == 0) {
    partial[blockIdx.x] = total;
  }
}

__global__ void CountFinishKernel(unsigned long long* out, const unsigned long long* partial) {
  unsigned long long c = 0;
  for (int i = threadIdx.x; i < kBlocks; i += kThreads) {
    c += partial[i];
  }
  const unsigned long long total = BlockSum(c);
  if (threadIdx.x == 0) {
    *out = total;
  }
}

template <typename Launcher>
absl::Status RunSumSquares(const Launcher& launch, float* accum, const float* x, size_t n,
                           double* partial /* kBlocks */) {
  RETURN_IF_ERROR(launch(kBlocks, kThreads, 0, SumSquaresPartialKernel, partial, x, n));
  return launch(1, kThreads, 0, SumSquaresFinishKernel, accum,
                static_cast<const double*>(partial));
}

// The count lands in partial[kBlocks] (device memory): `partial` holds kBlocks + 1 values.
template <typename Launcher>
absl::Status RunCountNonZero(const Launcher& launch, const float* x, size_t n,
                             unsigned long long* partial) {
  RETURN_IF_ERROR(launch(kBlocks, kThreads, 0, CountPartialKernel, partial, x, n));
  return launch(1, kThreads, 0, CountFinishKernel, partial + kBlocks,
                static_cast<const unsigned long long*>(partial));
}

}  // namespace sparsescale::kernels::cuda::reductions
