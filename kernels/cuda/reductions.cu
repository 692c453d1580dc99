// Deterministic reductions: a fixed grid writes one partial per block (fixed per-thread
// striding, fixed tree), then one block adds the partials in index order. SumSquares
// accumulates in double so the result is close to the CPU's whatever the length.
#include "common/status.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/reductions_kernels.cuh"

namespace sparsescale::kernels::cuda {

absl::Status LaunchSumSquares(CudaContext& ctx, float* accum, const float* x, size_t n) {
  if (accum == nullptr || (x == nullptr && n > 0)) {
    return absl::InvalidArgumentError("SumSquares: accum_device and x must be non-null");
  }
  if (n == 0) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(void* scratch,
                   ctx.Scratch(ScratchSlot::kReduce, sizeof(double) * reductions::kBlocks));
  double* partial = static_cast<double*>(scratch);
  return reductions::RunSumSquares(KernelLauncher{ctx.stream()}, accum, x, n, partial);
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
                   ctx.Scratch(ScratchSlot::kReduce,
                               sizeof(unsigned long long) * (reductions::kBlocks + 1)));
  unsigned long long* partial = static_cast<unsigned long long*>(scratch);
  RETURN_IF_ERROR(reductions::RunCountNonZero(KernelLauncher{ctx.stream()}, x, n, partial));
  unsigned long long count = 0;
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(&count, partial + reductions::kBlocks, sizeof(count),
                                       cudaMemcpyDeviceToHost, ctx.stream()));
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx.stream()));
  *count_host = static_cast<int64_t>(count);
  return absl::OkStatus();
}

}  // namespace sparsescale::kernels::cuda
