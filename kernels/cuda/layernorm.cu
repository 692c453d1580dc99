// Layer normalisation over the last dimension. Forward: one warp per row (two passes over the
// row held in L1: mean, then variance). Backward: one warp per row for dinp, then the weight
// and bias gradients as a two-stage column reduction (fixed chunks of rows, then a fixed-order
// sum of the chunks) so the result does not depend on scheduling.
#include <string>

#include "common/status.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/layernorm_kernels.cuh"

namespace sparsescale::kernels::cuda {
namespace {

absl::Status CheckShape(const char* op, int N, int C) {
  if (N <= 0 || C <= 0) {
    return absl::InvalidArgumentError(std::string(op) + ": N and C must be positive, got N=" +
                                      std::to_string(N) + " C=" + std::to_string(C));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LaunchLayerNormForward(CudaContext& ctx, float* out, float* mean, float* rstd,
                                    const float* inp, const float* weight, const float* bias, int N,
                                    int C, float eps) {
  RETURN_IF_ERROR(CheckShape("LayerNormForward", N, C));
  if (out == nullptr || mean == nullptr || rstd == nullptr || inp == nullptr || weight == nullptr) {
    return absl::InvalidArgumentError(
        "LayerNormForward: out, mean, rstd, inp and weight must be non-null");
  }
  if (!(eps >= 0.0f)) {
    return absl::InvalidArgumentError("LayerNormForward: eps must be >= 0");
  }
  return layernorm::RunForward(KernelLauncher{ctx.stream()}, out, mean, rstd, inp, weight, bias,
                               N, C, eps);
}

absl::Status LaunchLayerNormBackward(CudaContext& ctx, float* dinp, float* dweight, float* dbias,
                                     const float* dout, const float* inp, const float* weight,
                                     const float* mean, const float* rstd, int N, int C) {
  RETURN_IF_ERROR(CheckShape("LayerNormBackward", N, C));
  if (dout == nullptr || inp == nullptr || weight == nullptr || mean == nullptr ||
      rstd == nullptr) {
    return absl::InvalidArgumentError(
        "LayerNormBackward: dout, inp, weight, mean and rstd must be non-null");
  }
  float* scratch = nullptr;
  if (dweight != nullptr || dbias != nullptr) {
    ASSIGN_OR_RETURN(void* mem, ctx.Scratch(ScratchSlot::kReduce,
                                            sizeof(float) * layernorm::ParamScratchFloats(C)));
    scratch = static_cast<float*>(mem);
  }
  return layernorm::RunBackward(KernelLauncher{ctx.stream()}, dinp, dweight, dbias, dout, inp,
                                weight, mean, rstd, N, C, scratch);
}

}  // namespace sparsescale::kernels::cuda
