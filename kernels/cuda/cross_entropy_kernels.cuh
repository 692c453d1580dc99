// The device code of cross_entropy.cu and its launch sequence, written once for the GPU
// (included by cross_entropy.cu only: the kernels have external linkage) and for the emulator
// (kernels/cuda_emu/elementwise_emu_test.cc checks them against the CPU backend in CI).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "kernels/cuda/launch.cuh"

namespace sparsescale::kernels::cuda::cross_entropy {


constexpr int kThreads = 512;

struct MaxSum {
  float m;
  float s;
};

__device__ MaxSum Merge(MaxSum a, MaxSum b) {
  const float m = fmaxf(a.m, b.m);
  if (m == -INFINITY) {
    return {m, 0.0f};
  }
  return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

// Block-wide merge of (max, sum) pairs; every thread gets the result.
__device__ MaxSum BlockMerge(MaxSum v) {
  __shared__ MaxSum warp_vals[kThreads / 32];
  for (int o = 16; o > 0; o /= 2) {
    const MaxSum other{__shfl_xor_sync(0xffffffffu, v.m, o), __shfl_xor_sync(0xffffffffu, v.s, o)};
    v = Merge(v, other);
  }
  const int warp = threadIdx.x / 32;
  if (threadIdx.x % 32 == 0) {
    warp_vals[warp] = v;
  }
  __syncthreads();
  MaxSum total{-INFINITY, 0.0f};
  for (int w = 0; w < kThreads / 32; ++w) {
    total = Merge(total, warp_vals[w]);
  }
  return total;
}

__global__ void CrossEntropyKernel(float* losses, float* dlogits, const float* logits,
                                   const int32_t* targets, int V, int Vp, float dloss_scale) {
  const size_t row = blockIdx.x;
  const float* x = logits + row * Vp;
  MaxSum local{-INFINITY, 0.0f};
  for (int v = threadIdx.x; v < V; v += kThreads) {
    local = Merge(local, MaxSum{x[v], 1.0f});
  }
  const int target = targets[row];
  const bool target_ok = target >= 0 && target < V;
  // Read before the in-place gradient pass can overwrite it.
  const float target_logit = target_ok ? x[target] : 0.0f;
  const MaxSum total = BlockMerge(local);
  const float lse = total.m + logf(total.s);
  if (threadIdx.x == 0) {
    losses[row] = target_ok ? lse - target_logit : __int_as_float(0x7fc00000);
  }
  if (dlogits == nullptr) {
    return;
  }
  __syncthreads();  // every thread has read x[target] and its max/sum inputs
  float* g = dlogits + row * Vp;
  for (int v = threadIdx.x; v < Vp; v += kThreads) {
    if (v < V) {
      const float p = expf(x[v] - lse);
      g[v] = (p - (v == target ? 1.0f : 0.0f)) * dloss_scale;
    } else {
      g[v] = 0.0f;
    }
  }
}

template <typename Launcher>
absl::Status Run(const Launcher& launch, float* losses, float* dlogits, const float* logits,
                 const int32_t* targets, int BT, int V, int Vp, float dloss_scale) {
  return launch(BT, kThreads, 0, CrossEntropyKernel, losses, dlogits, logits, targets, V, Vp,
                dloss_scale);
}

}  // namespace sparsescale::kernels::cuda::cross_entropy
