// The device code of attention.cu (the fp32 CUDA-core attention) and its launch sequences,
// written once for the GPU (included by attention.cu only) and for the host emulator
// (kernels/cuda_emu/attention_emu_test.cc runs them against the CPU backend in CI).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/ops.h"

namespace sparsescale::kernels::cuda::attention_fp32 {

constexpr int kTile = 32;  // queries per block and keys per tile
constexpr int kWarps = 4;  // 8 rows per warp
constexpr int kRowsPerWarp = kTile / kWarps;
constexpr int kThreads = kWarps * 32;
constexpr int kMaxHs = 128;
constexpr int kPad = 4;  // keeps float4 rows aligned and lane-strided reads conflict-free

struct Dims {
  int T, NH, HS, C3;
  float scale;
};

__device__ float WarpMax(float v) {
  for (int o = 16; o > 0; o /= 2) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  }
  return v;
}

__device__ float WarpSum(float v) {
  for (int o = 16; o > 0; o /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, o);
  }
  return v;
}

// Copies rows t0 .. t0+31 (columns col .. col+HS-1 of a [B*T, ld] array) into dst with row
// stride `stride`; rows past T become zeros.
__device__ void LoadTile(float* dst, int stride, const float* src, size_t ld, int b, int t0,
                         int col, const Dims& d) {
  const int quads = d.HS / 4;
  for (int idx = threadIdx.x; idx < kTile * quads; idx += blockDim.x) {
    const int r = idx / quads;
    const int q = idx % quads;
    const int t = t0 + r;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (t < d.T) {
      v = *reinterpret_cast<const float4*>(src + (static_cast<size_t>(b) * d.T + t) * ld + col +
                                           4 * q);
    }
    *reinterpret_cast<float4*>(dst + r * stride + 4 * q) = v;
  }
}

__device__ float Dot(const float* a, const float* b, int HS) {
  float s = 0.0f;
  for (int k = 0; k < HS; k += 4) {
    const float4 x = *reinterpret_cast<const float4*>(a + k);
    const float4 y = *reinterpret_cast<const float4*>(b + k);
    s += x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
  }
  return s;
}

template <int kD>  // columns per lane: HS <= 32 * kD
__global__ void AttentionForwardKernel(float* out, float* lse, const float* qkv, Dims d) {
  SPARSESCALE_DYNAMIC_SMEM(float4, smem4);
  float* smem = reinterpret_cast<float*>(smem4);
  const int hs_pad = d.HS + kPad;
  float* q_tile = smem;                     // [32][HS+pad], read broadcast
  float* k_tile = q_tile + kTile * hs_pad;  // [32][HS+pad], lane = key
  float* v_tile = k_tile + kTile * hs_pad;  // [32][HS+pad], lane = column
  const int q0 = blockIdx.x * kTile;
  const int b = blockIdx.y / d.NH;
  const int h = blockIdx.y % d.NH;
  const int C = d.C3 / 3;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  LoadTile(q_tile, hs_pad, qkv, d.C3, b, q0, h * d.HS, d);

  float m[kRowsPerWarp], l[kRowsPerWarp], o[kRowsPerWarp][kD];
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    m[rr] = -INFINITY;
    l[rr] = 0.0f;
#pragma unroll
    for (int dd = 0; dd < kD; ++dd) {
      o[rr][dd] = 0.0f;
    }
  }
  for (int k0 = 0; k0 <= q0 && k0 < d.T; k0 += kTile) {
    __syncthreads();
    LoadTile(k_tile, hs_pad, qkv, d.C3, b, k0, C + h * d.HS, d);
    LoadTile(v_tile, hs_pad, qkv, d.C3, b, k0, 2 * C + h * d.HS, d);
    __syncthreads();
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
      const int r = warp * kRowsPerWarp + rr;
      const int tq = q0 + r;
      if (tq >= d.T) {
        continue;  // warp-uniform; keeps the loop unrollable
      }
      const int j = k0 + lane;
      const bool valid = j <= tq;
      const float s =
          valid ? d.scale * Dot(q_tile + r * hs_pad, k_tile + lane * hs_pad, d.HS) : -INFINITY;
      const float m_new = fmaxf(m[rr], WarpMax(s));
      const float p = valid ? expf(s - m_new) : 0.0f;
      const float corr = expf(m[rr] - m_new);  // 0 for the first tile (m = -inf)
      l[rr] = l[rr] * corr + WarpSum(p);
      m[rr] = m_new;
#pragma unroll
      for (int dd = 0; dd < kD; ++dd) {
        o[rr][dd] *= corr;
      }
#pragma unroll 4
      for (int jj = 0; jj < kTile; ++jj) {
        const float pj = __shfl_sync(0xffffffffu, p, jj);
#pragma unroll
        for (int dd = 0; dd < kD; ++dd) {
          const int col = lane + 32 * dd;
          if (col < d.HS) {
            o[rr][dd] += pj * v_tile[jj * hs_pad + col];
          }
        }
      }
    }
  }
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    const int tq = q0 + warp * kRowsPerWarp + rr;
    if (tq >= d.T) {
      continue;
    }
    const float inv = 1.0f / l[rr];
    float* dst = out + (static_cast<size_t>(b) * d.T + tq) * C + h * d.HS;
#pragma unroll
    for (int dd = 0; dd < kD; ++dd) {
      const int col = lane + 32 * dd;
      if (col < d.HS) {
        dst[col] = o[rr][dd] * inv;
      }
    }
    if (lane == 0) {
      lse[static_cast<size_t>(blockIdx.y) * d.T + tq] = m[rr] + logf(l[rr]);
    }
  }
}

// Per query tile: D_i = dO_i . O_i (saved to `dsum` for the key kernel), then dQ += scale * dS K.
template <int kD>  // columns per lane: HS <= 32 * kD
__global__ void AttentionBackwardQueryKernel(float* dqkv, float* dsum, const float* dout,
                                             const float* qkv, const float* out,
                                             const float* lse, Dims d) {
  SPARSESCALE_DYNAMIC_SMEM(float4, smem4);
  float* smem = reinterpret_cast<float*>(smem4);
  const int hs_pad = d.HS + kPad;
  float* q_tile = smem;
  float* do_tile = q_tile + kTile * hs_pad;
  float* k_tile = do_tile + kTile * hs_pad;
  float* v_tile = k_tile + kTile * hs_pad;
  const int q0 = blockIdx.x * kTile;
  const int b = blockIdx.y / d.NH;
  const int h = blockIdx.y % d.NH;
  const int C = d.C3 / 3;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  LoadTile(q_tile, hs_pad, qkv, d.C3, b, q0, h * d.HS, d);
  LoadTile(do_tile, hs_pad, dout, C, b, q0, h * d.HS, d);

  // D_i = dO_i . O_i (= sum_j P_ij dP_ij) from the forward output.
  float row_lse[kRowsPerWarp], row_d[kRowsPerWarp], dq[kRowsPerWarp][kD];
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    const int tq = q0 + warp * kRowsPerWarp + rr;
    row_lse[rr] = tq < d.T ? lse[static_cast<size_t>(blockIdx.y) * d.T + tq] : 0.0f;
    float part = 0.0f;
    if (tq < d.T) {
      const size_t at = (static_cast<size_t>(b) * d.T + tq) * C + h * d.HS;
      for (int col = lane; col < d.HS; col += 32) {
        part += dout[at + col] * out[at + col];
      }
    }
    row_d[rr] = WarpSum(part);
#pragma unroll
    for (int dd = 0; dd < kD; ++dd) {
      dq[rr][dd] = 0.0f;
    }
  }
  for (int k0 = 0; k0 <= q0 && k0 < d.T; k0 += kTile) {
    __syncthreads();
    LoadTile(k_tile, hs_pad, qkv, d.C3, b, k0, C + h * d.HS, d);
    LoadTile(v_tile, hs_pad, qkv, d.C3, b, k0, 2 * C + h * d.HS, d);
    __syncthreads();
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
      const int r = warp * kRowsPerWarp + rr;
      const int tq = q0 + r;
      if (tq >= d.T) {
        continue;  // warp-uniform; keeps the loop unrollable
      }
      const int j = k0 + lane;
      const bool valid = j <= tq;
      const float s = d.scale * Dot(q_tile + r * hs_pad, k_tile + lane * hs_pad, d.HS);
      const float p = valid ? expf(s - row_lse[rr]) : 0.0f;
      const float dp = Dot(do_tile + r * hs_pad, v_tile + lane * hs_pad, d.HS);
      const float ds = p * (dp - row_d[rr]);
#pragma unroll 4
      for (int jj = 0; jj < kTile; ++jj) {
        const float dsj = __shfl_sync(0xffffffffu, ds, jj);
#pragma unroll
        for (int dd = 0; dd < kD; ++dd) {
          const int col = lane + 32 * dd;
          if (col < d.HS) {
            dq[rr][dd] += dsj * k_tile[jj * hs_pad + col];
          }
        }
      }
    }
  }
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    const int tq = q0 + warp * kRowsPerWarp + rr;
    if (tq >= d.T) {
      continue;
    }
    float* dst = dqkv + (static_cast<size_t>(b) * d.T + tq) * d.C3 + h * d.HS;
#pragma unroll
    for (int dd = 0; dd < kD; ++dd) {
      const int col = lane + 32 * dd;
      if (col < d.HS) {
        dst[col] += d.scale * dq[rr][dd];
      }
    }
    if (lane == 0) {
      dsum[static_cast<size_t>(blockIdx.y) * d.T + tq] = row_d[rr];
    }
  }
}

// Per key tile: dV += P^T dO and dK += scale * dS^T Q over the query tiles at or after it.
template <int kD>  // columns per lane: HS <= 32 * kD
__global__ void AttentionBackwardKeyKernel(float* dqkv, const float* dsum, const float* dout,
                                           const float* qkv, const float* lse, Dims d) {
  SPARSESCALE_DYNAMIC_SMEM(float4, smem4);
  float* smem = reinterpret_cast<float*>(smem4);
  const int hs_pad = d.HS + kPad;
  float* k_tile = smem;  // read broadcast (one key row per step)
  float* v_tile = k_tile + kTile * hs_pad;
  float* q_tile = v_tile + kTile * hs_pad;  // lane = query
  float* do_tile = q_tile + kTile * hs_pad;
  float* lse_tile = do_tile + kTile * hs_pad;
  float* d_tile = lse_tile + kTile;
  const int k0 = blockIdx.x * kTile;
  const int b = blockIdx.y / d.NH;
  const int h = blockIdx.y % d.NH;
  const int C = d.C3 / 3;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  LoadTile(k_tile, hs_pad, qkv, d.C3, b, k0, C + h * d.HS, d);
  LoadTile(v_tile, hs_pad, qkv, d.C3, b, k0, 2 * C + h * d.HS, d);

  float dk[kRowsPerWarp][kD], dv[kRowsPerWarp][kD];
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
#pragma unroll
    for (int dd = 0; dd < kD; ++dd) {
      dk[rr][dd] = 0.0f;
      dv[rr][dd] = 0.0f;
    }
  }
  for (int q0 = k0; q0 < d.T; q0 += kTile) {
    __syncthreads();
    LoadTile(q_tile, hs_pad, qkv, d.C3, b, q0, h * d.HS, d);
    LoadTile(do_tile, hs_pad, dout, C, b, q0, h * d.HS, d);
    if (threadIdx.x < kTile) {
      const int tq = q0 + threadIdx.x;
      const size_t at = static_cast<size_t>(blockIdx.y) * d.T + tq;
      lse_tile[threadIdx.x] = tq < d.T ? lse[at] : 0.0f;
      d_tile[threadIdx.x] = tq < d.T ? dsum[at] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
      const int kk = warp * kRowsPerWarp + rr;
      const int j = k0 + kk;
      if (j >= d.T) {
        continue;  // warp-uniform; keeps the loop unrollable
      }
      const int tq = q0 + lane;
      const bool valid = tq < d.T && tq >= j;
      const float s = d.scale * Dot(q_tile + lane * hs_pad, k_tile + kk * hs_pad, d.HS);
      const float p = valid ? expf(s - lse_tile[lane]) : 0.0f;
      const float dp = Dot(do_tile + lane * hs_pad, v_tile + kk * hs_pad, d.HS);
      const float ds = p * (dp - d_tile[lane]);
#pragma unroll 4
      for (int ii = 0; ii < kTile; ++ii) {
        const float pi = __shfl_sync(0xffffffffu, p, ii);
        const float dsi = __shfl_sync(0xffffffffu, ds, ii);
#pragma unroll
        for (int dd = 0; dd < kD; ++dd) {
          const int col = lane + 32 * dd;
          if (col < d.HS) {
            dv[rr][dd] += pi * do_tile[ii * hs_pad + col];
            dk[rr][dd] += dsi * q_tile[ii * hs_pad + col];
          }
        }
      }
    }
  }
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    const int j = k0 + warp * kRowsPerWarp + rr;
    if (j >= d.T) {
      continue;
    }
    float* dst = dqkv + (static_cast<size_t>(b) * d.T + j) * d.C3 + h * d.HS;
#pragma unroll
    for (int dd = 0; dd < kD; ++dd) {
      const int col = lane + 32 * dd;
      if (col < d.HS) {
        dst[C + col] += d.scale * dk[rr][dd];
        dst[2 * C + col] += dv[rr][dd];
      }
    }
  }
}

inline Dims MakeDims(const AttentionShape& s) {
  return Dims{s.T, s.NH, s.HS, 3 * s.NH * s.HS, 1.0f / std::sqrt(static_cast<float>(s.HS))};
}

inline dim3 Grid(const AttentionShape& s) { return dim3((s.T + kTile - 1) / kTile, s.B * s.NH); }
inline size_t ForwardSmem(int HS) { return sizeof(float) * 3 * kTile * (HS + kPad); }
inline size_t QuerySmem(int HS) { return sizeof(float) * 4 * kTile * (HS + kPad); }
inline size_t KeySmem(int HS) { return QuerySmem(HS) + sizeof(float) * 2 * kTile; }

// kD = columns per lane: HS <= 32 * kD (the launcher picks the smallest).
template <int kD, typename Launcher>
absl::Status RunForward(const Launcher& launch, float* out, float* lse, const float* qkv,
                        const AttentionShape& s) {
  return launch(Grid(s), kThreads, ForwardSmem(s.HS), AttentionForwardKernel<kD>, out, lse, qkv,
                MakeDims(s));
}

// `scratch`: B*NH*T floats (the per-row D_i of the query kernel, read by the key kernel).
template <int kD, typename Launcher>
absl::Status RunBackward(const Launcher& launch, float* dqkv, float* scratch, const float* dout,
                         const float* qkv, const float* out, const float* lse,
                         const AttentionShape& s) {
  const Dims d = MakeDims(s);
  RETURN_IF_ERROR(launch(Grid(s), kThreads, QuerySmem(s.HS), AttentionBackwardQueryKernel<kD>,
                         dqkv, scratch, dout, qkv, out, lse, d));
  return launch(Grid(s), kThreads, KeySmem(s.HS), AttentionBackwardKeyKernel<kD>, dqkv,
                static_cast<const float*>(scratch), dout, qkv, lse, d);
}

}  // namespace sparsescale::kernels::cuda::attention_fp32
