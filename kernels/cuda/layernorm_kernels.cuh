// The device code of layernorm.cu and its launch sequences, written once for the GPU (included
// by layernorm.cu only: the kernels have external linkage) and for the host emulator
// (kernels/cuda_emu/elementwise_emu_test.cc checks them against the CPU backend in CI).
#pragma once

#include <cstddef>

#include "common/status.h"
#include "kernels/cuda/launch.cuh"

namespace sparsescale::kernels::cuda::layernorm {


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

constexpr unsigned int kParamThreads = 128;

// Floats of scratch the backward's parameter gradients need (float2 partials per row chunk).
inline size_t ParamScratchFloats(int C) { return 2 * size_t{kRowChunks} * static_cast<size_t>(C); }

template <typename Launcher>
absl::Status RunForward(const Launcher& launch, float* out, float* mean, float* rstd,
                        const float* inp, const float* weight, const float* bias, int N, int C,
                        float eps) {
  const unsigned int blocks = (N + kRowsPerBlock - 1) / kRowsPerBlock;
  return launch(blocks, kRowsPerBlock * kWarp, 0, LayerNormForwardKernel, out, mean, rstd, inp,
                weight, bias, N, C, eps);
}

// `scratch`: ParamScratchFloats(C) floats, used when dweight or dbias is given.
template <typename Launcher>
absl::Status RunBackward(const Launcher& launch, float* dinp, float* dweight, float* dbias,
                         const float* dout, const float* inp, const float* weight,
                         const float* mean, const float* rstd, int N, int C, float* scratch) {
  if (dinp != nullptr) {
    const unsigned int blocks = (N + kRowsPerBlock - 1) / kRowsPerBlock;
    RETURN_IF_ERROR(launch(blocks, kRowsPerBlock * kWarp, 0, LayerNormBackwardInputKernel, dinp,
                           dout, inp, weight, mean, rstd, N, C));
  }
  if (dweight == nullptr && dbias == nullptr) {
    return absl::OkStatus();
  }
  float2* partial = reinterpret_cast<float2*>(scratch);
  const unsigned int col_blocks = (C + kParamThreads - 1) / kParamThreads;
  RETURN_IF_ERROR(launch(dim3(col_blocks, kRowChunks), kParamThreads, 0,
                         LayerNormParamPartialKernel, partial, dout, inp, mean, rstd, N, C));
  return launch(col_blocks, kParamThreads, 0, LayerNormParamFinishKernel, dweight, dbias,
                static_cast<const float2*>(partial), C);
}

}  // namespace sparsescale::kernels::cuda::layernorm
