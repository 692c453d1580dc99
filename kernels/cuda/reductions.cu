// Deterministic reductions: a fixed grid writes one partial per block (fixed per-thread
// striding, fixed tree), then one block adds the partials in index order. SumSquares
// accumulates in double so the result is close to the CPU's whatever the length.
#include "common/status.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace sparsescale::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kBlocks = 512;

template <typename T>
__device__ T BlockSum(T v) {
  __shared__ T vals[kThreads];
  vals[threadIdx.x] = v;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
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

}  // namespace

absl::Status LaunchSumSquares(CudaContext& ctx, float* accum, const float* x, size_t n) {
  if (accum == nullptr || (x == nullptr && n > 0)) {
    return absl::InvalidArgumentError("SumSquares: accum_device and x must be non-null");
  }
  if (n == 0) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(void* scratch, ctx.Scratch(ScratchSlot::kReduce, sizeof(double) * kBlocks));
  double* partial = static_cast<double*>(scratch);
  SumSquaresPartialKernel<<<kBlocks, kThreads, 0, ctx.stream()>>>(partial, x, n);
  RETURN_IF_LAUNCH_FAILED();
  SumSquaresFinishKernel<<<1, kThreads, 0, ctx.stream()>>>(accum, partial);
  RETURN_IF_LAUNCH_FAILED();
  return absl::OkStatus();
}

absl::Status LaunchCountNonZero(CudaContext& ctx, int64_t* count_host, const float* x, size_t n) {
  if (count_host == nullptr || (x == nullptr && n > 0)) {
    return absl::InvalidArgumentError("CountNonZero: count and x must be non-null");
  }
  if (n == 0) {
    *count_host = 0;
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(void* scratch,
                   ctx.Scratch(ScratchSlot::kReduce, sizeof(unsigned long long) * (kBlocks + 1)));
  unsigned long long* partial = static_cast<unsigned long long*>(scratch);
  CountPartialKernel<<<kBlocks, kThreads, 0, ctx.stream()>>>(partial, x, n);
  RETURN_IF_LAUNCH_FAILED();
  CountFinishKernel<<<1, kThreads, 0, ctx.stream()>>>(partial + kBlocks, partial);
  RETURN_IF_LAUNCH_FAILED();
  unsigned long long count = 0;
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(&count, partial + kBlocks, sizeof(count),
                                       cudaMemcpyDeviceToHost, ctx.stream()));
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx.stream()));
  *count_host = static_cast<int64_t>(count);
  return absl::OkStatus();
}

}  // namespace sparsescale::kernels::cuda
