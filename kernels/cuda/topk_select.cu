// Radix select of the k largest keys and index-ordered tie breaking, and the candidate keys of
// the magnitude and n:m masks. See topk_select.h; the kernels and their launch sequences are in
// select_kernels.cuh (also run by the host emulator's tests), included by this file only.
#include "common/status.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/select_kernels.cuh"
#include "kernels/cuda/topk_select.h"

namespace sparsescale::kernels::cuda {

absl::Status LaunchSelectTopK(CudaContext& ctx, float* mask, const uint32_t* keys, size_t n,
                              size_t k) {
  if (n == 0) {
    return absl::OkStatus();
  }
  void* scratch = nullptr;
  if (k > 0) {
    ASSIGN_OR_RETURN(scratch,
                     ctx.Scratch(ScratchSlot::kSelectState, select::SelectScratchBytes(n)));
  }
  return select::RunSelectTopK(KernelLauncher{ctx.stream()}, mask, keys, n, k, scratch);
}

absl::Status LaunchMagnitudeKeys(CudaContext& ctx, uint32_t* keys, const float* w, size_t n) {
  return select::RunMagnitudeKeys(KernelLauncher{ctx.stream()}, keys, w, n);
}

absl::Status LaunchGroupKeep(CudaContext& ctx, float* mask, uint32_t* keys, const float* w,
                             size_t groups, int n, int m) {
  return select::RunGroupKeep(KernelLauncher{ctx.stream()}, mask, keys, w, groups, n, m);
}

}  // namespace sparsescale::kernels::cuda
