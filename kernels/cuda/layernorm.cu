// Layer normalisation over the last dimension. Forward: one warp per row (two passes over the
// row held in L1: mean, then variance). Backward: one warp per row for dinp, then the weight
// and bias gradients as a two-stage column reduction (fixed chunks of rows, then a fixed-order
// sum of the chunks) so the result does not depend on scheduling.
#include "common/status.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace sparsescale::kernels::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 8;  // one warp each
constexpr int kRowChunks = 128;   // row chunks of the weight/bias gradient reduction

__device__ float WarpSum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  }
  return v;
}

__global__ void LayerNormForwardKernel(float* out, float* mean, float* rstd, const float* inp,
                                       const float* weight, const float* bias, int N, int C,
                                       float eps) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= N) {
    return;
  }
  const float* x = inp + static_cast<size_t>(row) * C;
  float sum = 0.0f;
  for (int c = lane; c < C; c += kWarp) {
    sum += x[c];
  }
  const float m = WarpSum(sum) / C;
  float sq = 0.0f;
  for (int c = lane; c < C; c += kWarp) {
    const float d = x[c] - m;
    sq += d * d;
  }
  const float s = rsqrtf(WarpSum(sq) / C + eps);
  float* y = out + static_cast<size_t>(row) * C;
  for (int c = lane; c < C; c += kWarp) {
    const float b = bias == nullptr ? 0.0f : bias[c];
    y[c] = (x[c] - m) * s * weight[c] + b;
  }
  if (lane == 0) {
    mean[row] = m;
    rstd[row] = s;
  }
}

__global__ void LayerNormBackwardInputKernel(float* dinp, const float* dout, const float* inp,
                                             const float* weight, const float* mean,
                                             const float* rstd, int N, int C) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= N) {
    return;
  }
  const size_t base = static_cast<size_t>(row) * C;
  const float m = mean[row];
  const float s = rstd[row];
  float dnorm_sum = 0.0f;
  float dnorm_norm_sum = 0.0f;
  for (int c = lane; c < C; c += kWarp) {
    const float norm = (inp[base + c] - m) * s;
    const float dnorm = weight[c] * dout[base + c];
    dnorm_sum += dnorm;
    dnorm_norm_sum += dnorm * norm;
  }
  const float dnorm_mean = WarpSum(dnorm_sum) / C;
  const float dnorm_norm_mean = WarpSum(dnorm_norm_sum) / C;
  for (int c = lane; c < C; c += kWarp) {
    const float norm = (inp[base + c] - m) * s;
    const float dnorm = weight[c] * dout[base + c];
    dinp[base + c] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
  }
}

// partial[chunk][c] = (sum of dout*norm, sum of dout) over the chunk's rows, in row order.
__global__ void LayerNormParamPartialKernel(float2* partial, const float* dout, const float* inp,
                                            const float* mean, const float* rstd, int N, int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  const int chunk = blockIdx.y;
  if (c >= C) {
    return;
  }
  const int rows_per_chunk = (N + kRowChunks - 1) / kRowChunks;
  const int r0 = chunk * rows_per_chunk;
  const int r1 = min(N, r0 + rows_per_chunk);
  float dw = 0.0f;
  float db = 0.0f;
  for (int r = r0; r < r1; ++r) {
    const size_t i = static_cast<size_t>(r) * C + c;
    const float g = dout[i];
    dw += g * (inp[i] - mean[r]) * rstd[r];
    db += g;
  }
  partial[static_cast<size_t>(chunk) * C + c] = make_float2(dw, db);
}

__global__ void LayerNormParamFinishKernel(float* dweight, float* dbias, const float2* partial,
                                           int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) {
    return;
  }
  float dw = 0.0f;
  float db = 0.0f;
  for (int k = 0; k < kRowChunks; ++k) {
    const float2 p = partial[static_cast<size_t>(k) * C + c];
    dw += p.x;
    db += p.y;
  }
  if (dweight != nullptr) {
    dweight[c] += dw;
  }
  if (dbias != nullptr) {
    dbias[c] += db;
  }
}

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
  const unsigned int blocks = (N + kRowsPerBlock - 1) / kRowsPerBlock;
  LayerNormForwardKernel<<<blocks, kRowsPerBlock * kWarp, 0, ctx.stream()>>>(
      out, mean, rstd, inp, weight, bias, N, C, eps);
  RETURN_IF_LAUNCH_FAILED();
  return absl::OkStatus();
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
  if (dinp != nullptr) {
    const unsigned int blocks = (N + kRowsPerBlock - 1) / kRowsPerBlock;
    LayerNormBackwardInputKernel<<<blocks, kRowsPerBlock * kWarp, 0, ctx.stream()>>>(
        dinp, dout, inp, weight, mean, rstd, N, C);
    RETURN_IF_LAUNCH_FAILED();
  }
  if (dweight == nullptr && dbias == nullptr) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(void* scratch, ctx.Scratch(ScratchSlot::kReduce, sizeof(float2) * kRowChunks *
                                                                        static_cast<size_t>(C)));
  float2* partial = static_cast<float2*>(scratch);
  constexpr unsigned int kThreads = 128;
  const dim3 grid((C + kThreads - 1) / kThreads, kRowChunks);
  LayerNormParamPartialKernel<<<grid, kThreads, 0, ctx.stream()>>>(partial, dout, inp, mean, rstd,
                                                                   N, C);
  RETURN_IF_LAUNCH_FAILED();
  LayerNormParamFinishKernel<<<(C + kThreads - 1) / kThreads, kThreads, 0, ctx.stream()>>>(
      dweight, dbias, partial, C);
  RETURN_IF_LAUNCH_FAILED();
  return absl::OkStatus();
}

}  // namespace sparsescale::kernels::cuda
