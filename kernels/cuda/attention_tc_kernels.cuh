// The device code of attention_tc.cu: tile layout, kernels and their shared-memory sizes.
// Included by attention_tc.cu (nvcc) and, after kernels/cuda_emu/cuda_emu.h, by the host
// emulation test (kernels/cuda_emu/attention_tc_emu_test.cc), which runs these same kernels on
// the CPU in CI. See attention_tc.cu for the algorithm.
#pragma once

#ifndef SPARSESCALE_CUDA_EMU
#include <cuda_bf16.h>
#include <mma.h>
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/ops.h"

namespace sparsescale::kernels::cuda::attention_tc {

namespace wmma = nvcuda::wmma;
using bf16 = __nv_bfloat16;

constexpr int kTile = 64;  // rows of a query or key tile
constexpr int kWarps = 4;
constexpr int kRows = kTile / kWarps;  // rows per warp: one 16-row wmma block
constexpr int kThreads = kWarps * 32;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr unsigned kFull = 0xffffffffu;

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define SPARSESCALE_TC_ATTENTION 1
#endif

template <int kD>
struct Layout {
  static_assert(kD % 16 == 0 && kD <= 128, "head size must be a multiple of 16, at most 128");
  static constexpr int kLd = kD + 8;  // bf16 tile row stride: 16-byte rows, fewer conflicts
  static constexpr int kTileBytes = kTile * kLd * 2;
  static constexpr int kSw = (kD > kTile ? kD : kTile) + 4;  // fp32 warp scratch row stride
  static constexpr int kScratchBytes = kRows * kSw * 4;
  static constexpr int kPw = kTile + 8;  // bf16 warp tile (probabilities, dS) row stride
  static constexpr int kPwBytes = kRows * kPw * 2;
  static constexpr int kHalf = kD / 2;  // output columns per lane
  // wmma needs 32-byte aligned fragment pointers: every block below keeps that.
  static_assert(kTileBytes % 32 == 0 && kScratchBytes % 32 == 0 && kPwBytes % 32 == 0,
                "shared-memory blocks must stay 32-byte aligned");
};

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major>;
using FragBRow = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major>;
using FragBCol = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

struct Dims {
  int T, NH, C3;
  float scale_log2;  // 1/sqrt(HS) * log2(e): scores in base-2 units
};

// Rows t0 .. t0+63 of columns col .. col+kD-1 of a [B*T, ld] fp32 array, as bf16, into a
// [64][kLd] tile; rows at or past T become zeros.
template <int kD>
__device__ void LoadTile(bf16* dst, const float* src, int ld, int b, int t0, int col, int T) {
  constexpr int kQuads = kD / 4;
  for (int idx = threadIdx.x; idx < kTile * kQuads; idx += kThreads) {
    const int r = idx / kQuads;
    const int q = idx % kQuads;
    const int t = t0 + r;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (t < T) {
      v = *reinterpret_cast<const float4*>(src + (static_cast<size_t>(b) * T + t) * ld + col +
                                           4 * q);
    }
    __nv_bfloat162* p = reinterpret_cast<__nv_bfloat162*>(dst + r * Layout<kD>::kLd + 4 * q);
    p[0] = __floats2bfloat162_rn(v.x, v.y);
    p[1] = __floats2bfloat162_rn(v.z, v.w);
  }
}

// out[16][64] (fp32, row stride ldo) = A[16][kD] . B[64][kD]^T, A and B bf16 row-major.
template <int kD>
__device__ void ProductABt(float* out, int ldo, const bf16* a, int lda, const bf16* b, int ldb) {
#pragma unroll
  for (int n = 0; n < kTile / 16; ++n) {
    FragC acc;
    wmma::fill_fragment(acc, 0.0f);
#pragma unroll
    for (int k = 0; k < kD / 16; ++k) {
      FragA fa;
      FragBCol fb;
      wmma::load_matrix_sync(fa, a + k * 16, lda);
      wmma::load_matrix_sync(fb, b + n * 16 * ldb + k * 16, ldb);
      wmma::mma_sync(acc, fa, fb, acc);
    }
    wmma::store_matrix_sync(out + n * 16, acc, ldo, wmma::mem_row_major);
  }
}

// acc[n] (16 x 16 each, kD/16 of them) += A[16][64] . B[64][kD], A and B bf16 row-major.
template <int kD>
__device__ void AccumulateAB(FragC (&acc)[kD / 16], const bf16* a, int lda, const bf16* b,
                             int ldb) {
#pragma unroll
  for (int k = 0; k < kTile / 16; ++k) {
    FragA fa;
    wmma::load_matrix_sync(fa, a + k * 16, lda);
#pragma unroll
    for (int n = 0; n < kD / 16; ++n) {
      FragBRow fb;
      wmma::load_matrix_sync(fb, b + k * 16 * ldb + n * 16, ldb);
      wmma::mma_sync(acc[n], fa, fb, acc[n]);
    }
  }
}

// Column `c` (0..31) of this lane's half row, rotated so the warp's 32 lanes use 32 banks.
__device__ __forceinline__ int LaneColumn(int c, int half, int rot) {
  return half * 32 + ((c + rot) & 31);
}

template <int kD>
__global__ void __launch_bounds__(kThreads)
    TcForwardKernel(float* out, float* lse, const float* qkv, Dims d) {
#ifdef SPARSESCALE_TC_ATTENTION
  using L = Layout<kD>;
  SPARSESCALE_DYNAMIC_SMEM(unsigned char, smem);
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  bf16* q_s = reinterpret_cast<bf16*>(smem);
  bf16* k_s = reinterpret_cast<bf16*>(smem + L::kTileBytes);
  bf16* v_s = reinterpret_cast<bf16*>(smem + 2 * L::kTileBytes);
  float* s_w = reinterpret_cast<float*>(smem + 3 * L::kTileBytes + warp * L::kScratchBytes);
  bf16* p_w = reinterpret_cast<bf16*>(smem + 3 * L::kTileBytes + kWarps * L::kScratchBytes +
                                      warp * L::kPwBytes);
  // The last query tiles have the most key tiles: start them first.
  const int q0 = (gridDim.x - 1 - blockIdx.x) * kTile;
  const int b = blockIdx.y / d.NH;
  const int h = blockIdx.y % d.NH;
  const int C = d.C3 / 3;
  LoadTile<kD>(q_s, qkv, d.C3, b, q0, h * kD, d.T);
  __syncthreads();
  FragA qf[kD / 16];
#pragma unroll
  for (int k = 0; k < kD / 16; ++k) {
    wmma::load_matrix_sync(qf[k], q_s + warp * kRows * L::kLd + k * 16, L::kLd);
  }
  const int r = lane >> 1;
  const int half = lane & 1;
  const int rot = (r >> 3) + 2 * half;
  const int tq = q0 + warp * kRows + r;
  float m = -INFINITY;  // running max of the base-2 scores
  float l = 0.0f;       // running sum of 2^(s - m)
  float o[L::kHalf];
#pragma unroll
  for (int i = 0; i < L::kHalf; ++i) {
    o[i] = 0.0f;
  }
  for (int k0 = 0; k0 <= q0; k0 += kTile) {
    __syncthreads();  // every warp is done with the previous K and V tiles
    LoadTile<kD>(k_s, qkv, d.C3, b, k0, C + h * kD, d.T);
    LoadTile<kD>(v_s, qkv, d.C3, b, k0, 2 * C + h * kD, d.T);
    __syncthreads();
    {  // S = Q K^T for this warp's 16 rows, Q from registers
#pragma unroll
      for (int n = 0; n < kTile / 16; ++n) {
        FragC acc;
        wmma::fill_fragment(acc, 0.0f);
#pragma unroll
        for (int k = 0; k < kD / 16; ++k) {
          FragBCol fb;
          wmma::load_matrix_sync(fb, k_s + n * 16 * L::kLd + k * 16, L::kLd);
          wmma::mma_sync(acc, qf[k], fb, acc);
        }
        wmma::store_matrix_sync(s_w + n * 16, acc, L::kSw, wmma::mem_row_major);
      }
    }
    __syncwarp();
    const float* srow = s_w + r * L::kSw;
    float tile_max = -INFINITY;
#pragma unroll 8
    for (int c = 0; c < 32; ++c) {
      const int col = LaneColumn(c, half, rot);
      if (k0 + col <= tq && tq < d.T) {
        tile_max = fmaxf(tile_max, srow[col] * d.scale_log2);
      }
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(kFull, tile_max, 1));
    const float m_new = fmaxf(m, tile_max);
    // A row with nothing valid yet (a padding row past T) keeps m = -inf: avoid inf - inf.
    const float corr = m_new == -INFINITY ? 1.0f : exp2f(m - m_new);
    bf16* prow = p_w + r * L::kPw;
    float sum = 0.0f;
#pragma unroll 8
    for (int c = 0; c < 32; ++c) {
      const int col = LaneColumn(c, half, rot);
      const bool valid = k0 + col <= tq && tq < d.T;
      const float p = valid ? exp2f(srow[col] * d.scale_log2 - m_new) : 0.0f;
      prow[col] = __float2bfloat16_rn(p);
      sum += p;
    }
    sum += __shfl_xor_sync(kFull, sum, 1);
    l = l * corr + sum;
    m = m_new;
    __syncwarp();
    {  // P V into the scratch tile (S is consumed)
#pragma unroll
      for (int n = 0; n < kD / 16; ++n) {
        FragC acc;
        wmma::fill_fragment(acc, 0.0f);
#pragma unroll
        for (int k = 0; k < kTile / 16; ++k) {
          FragA fa;
          FragBRow fb;
          wmma::load_matrix_sync(fa, p_w + k * 16, L::kPw);
          wmma::load_matrix_sync(fb, v_s + k * 16 * L::kLd + n * 16, L::kLd);
          wmma::mma_sync(acc, fa, fb, acc);
        }
        wmma::store_matrix_sync(s_w + n * 16, acc, L::kSw, wmma::mem_row_major);
      }
    }
    __syncwarp();
    const float* pv = s_w + r * L::kSw + half * L::kHalf;
#pragma unroll
    for (int i = 0; i < L::kHalf; i += 4) {
      const float4 x = *reinterpret_cast<const float4*>(pv + i);
      o[i] = o[i] * corr + x.x;
      o[i + 1] = o[i + 1] * corr + x.y;
      o[i + 2] = o[i + 2] * corr + x.z;
      o[i + 3] = o[i + 3] * corr + x.w;
    }
    __syncwarp();
  }
  if (tq < d.T) {
    const float inv = 1.0f / l;
    float* dst = out + (static_cast<size_t>(b) * d.T + tq) * C + h * kD + half * L::kHalf;
#pragma unroll
    for (int i = 0; i < L::kHalf; i += 4) {
      *reinterpret_cast<float4*>(dst + i) =
          make_float4(o[i] * inv, o[i + 1] * inv, o[i + 2] * inv, o[i + 3] * inv);
    }
    if (half == 0) {
      lse[static_cast<size_t>(blockIdx.y) * d.T + tq] = (m + log2f(l)) * kLn2;
    }
  }
#else
  __trap();
#endif
}

// Per query tile: D_i = dO_i . O_i (saved to `dsum` for the key kernel), then dQ += scale * dS K.
template <int kD>
__global__ void __launch_bounds__(kThreads)
    TcBackwardQueryKernel(float* dqkv, float* dsum, const float* dout, const float* qkv,
                          const float* out, const float* lse, Dims d, float scale) {
#ifdef SPARSESCALE_TC_ATTENTION
  using L = Layout<kD>;
  SPARSESCALE_DYNAMIC_SMEM(unsigned char, smem);
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  bf16* q_s = reinterpret_cast<bf16*>(smem);
  bf16* do_s = reinterpret_cast<bf16*>(smem + L::kTileBytes);
  bf16* k_s = reinterpret_cast<bf16*>(smem + 2 * L::kTileBytes);
  bf16* v_s = reinterpret_cast<bf16*>(smem + 3 * L::kTileBytes);
  unsigned char* warp_base = smem + 4 * L::kTileBytes +
                             warp * (2 * L::kScratchBytes + L::kPwBytes);
  float* s_w = reinterpret_cast<float*>(warp_base);
  float* dp_w = reinterpret_cast<float*>(warp_base + L::kScratchBytes);
  bf16* ds_w = reinterpret_cast<bf16*>(warp_base + 2 * L::kScratchBytes);
  const int q0 = (gridDim.x - 1 - blockIdx.x) * kTile;
  const int b = blockIdx.y / d.NH;
  const int h = blockIdx.y % d.NH;
  const int C = d.C3 / 3;
  LoadTile<kD>(q_s, qkv, d.C3, b, q0, h * kD, d.T);
  LoadTile<kD>(do_s, dout, C, b, q0, h * kD, d.T);
  const int r = lane >> 1;
  const int half = lane & 1;
  const int rot = (r >> 3) + 2 * half;
  const int tq = q0 + warp * kRows + r;
  const size_t row_at = static_cast<size_t>(blockIdx.y) * d.T + tq;
  const float row_lse = tq < d.T ? lse[row_at] * kLog2e : 0.0f;
  // D_i = dO_i . O_i (= sum_j P_ij dP_ij) from the forward output, in fp32: half a row per lane.
  float row_d = 0.0f;
  if (tq < d.T) {
    const size_t at = (static_cast<size_t>(b) * d.T + tq) * C + h * kD + half * L::kHalf;
    for (int i = 0; i < L::kHalf; ++i) {
      row_d += dout[at + i] * out[at + i];
    }
  }
  row_d += __shfl_xor_sync(kFull, row_d, 1);
  FragC dq[kD / 16];
#pragma unroll
  for (int n = 0; n < kD / 16; ++n) {
    wmma::fill_fragment(dq[n], 0.0f);
  }
  const bf16* q_rows = q_s + warp * kRows * L::kLd;
  const bf16* do_rows = do_s + warp * kRows * L::kLd;
  for (int k0 = 0; k0 <= q0; k0 += kTile) {
    __syncthreads();
    LoadTile<kD>(k_s, qkv, d.C3, b, k0, C + h * kD, d.T);
    LoadTile<kD>(v_s, qkv, d.C3, b, k0, 2 * C + h * kD, d.T);
    __syncthreads();
    ProductABt<kD>(s_w, L::kSw, q_rows, L::kLd, k_s, L::kLd);
    ProductABt<kD>(dp_w, L::kSw, do_rows, L::kLd, v_s, L::kLd);
    __syncwarp();
#pragma unroll 8
    for (int c = 0; c < 32; ++c) {
      const int col = LaneColumn(c, half, rot);
      const bool valid = k0 + col <= tq && tq < d.T;
      const float p = valid ? exp2f(s_w[r * L::kSw + col] * d.scale_log2 - row_lse) : 0.0f;
      ds_w[r * L::kPw + col] = __float2bfloat16_rn(p * (dp_w[r * L::kSw + col] - row_d));
    }
    __syncwarp();
    AccumulateAB<kD>(dq, ds_w, L::kPw, k_s, L::kLd);
  }
  __syncwarp();
#pragma unroll
  for (int n = 0; n < kD / 16; ++n) {
    wmma::store_matrix_sync(s_w + n * 16, dq[n], L::kSw, wmma::mem_row_major);
  }
  __syncwarp();
  if (tq < d.T) {
    float* dst = dqkv + (static_cast<size_t>(b) * d.T + tq) * d.C3 + h * kD + half * L::kHalf;
    const float* src = s_w + r * L::kSw + half * L::kHalf;
#pragma unroll
    for (int i = 0; i < L::kHalf; i += 4) {
      const float4 x = *reinterpret_cast<const float4*>(src + i);
      dst[i] += scale * x.x;
      dst[i + 1] += scale * x.y;
      dst[i + 2] += scale * x.z;
      dst[i + 3] += scale * x.w;
    }
    if (half == 0) {
      dsum[row_at] = row_d;
    }
  }
#else
  __trap();
#endif
}

// Per key tile: dV += P^T dO and dK += scale * dS^T Q over the query tiles at or after it.
template <int kD>
__global__ void __launch_bounds__(kThreads)
    TcBackwardKeyKernel(float* dqkv, const float* dsum, const float* dout, const float* qkv,
                        const float* lse, Dims d, float scale) {
#ifdef SPARSESCALE_TC_ATTENTION
  using L = Layout<kD>;
  SPARSESCALE_DYNAMIC_SMEM(unsigned char, smem);
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  bf16* k_s = reinterpret_cast<bf16*>(smem);
  bf16* v_s = reinterpret_cast<bf16*>(smem + L::kTileBytes);
  bf16* q_s = reinterpret_cast<bf16*>(smem + 2 * L::kTileBytes);
  bf16* do_s = reinterpret_cast<bf16*>(smem + 3 * L::kTileBytes);
  float* lse_s = reinterpret_cast<float*>(smem + 4 * L::kTileBytes);  // base-2 units
  float* d_s = lse_s + kTile;
  unsigned char* warp_base = smem + 4 * L::kTileBytes + 2 * kTile * sizeof(float) +
                             warp * (2 * L::kScratchBytes + 2 * L::kPwBytes);
  float* s_w = reinterpret_cast<float*>(warp_base);                       // S^T: key x query
  float* dp_w = reinterpret_cast<float*>(warp_base + L::kScratchBytes);   // dP^T
  bf16* pt_w = reinterpret_cast<bf16*>(warp_base + 2 * L::kScratchBytes);  // P^T
  bf16* dst_w = reinterpret_cast<bf16*>(warp_base + 2 * L::kScratchBytes + L::kPwBytes);
  const int k0 = blockIdx.x * kTile;
  const int b = blockIdx.y / d.NH;
  const int h = blockIdx.y % d.NH;
  const int C = d.C3 / 3;
  LoadTile<kD>(k_s, qkv, d.C3, b, k0, C + h * kD, d.T);
  LoadTile<kD>(v_s, qkv, d.C3, b, k0, 2 * C + h * kD, d.T);
  const int r = lane >> 1;
  const int half = lane & 1;
  const int rot = (r >> 3) + 2 * half;
  const int j = k0 + warp * kRows + r;  // this lane's key
  FragC dk[kD / 16], dv[kD / 16];
#pragma unroll
  for (int n = 0; n < kD / 16; ++n) {
    wmma::fill_fragment(dk[n], 0.0f);
    wmma::fill_fragment(dv[n], 0.0f);
  }
  const bf16* k_rows = k_s + warp * kRows * L::kLd;
  const bf16* v_rows = v_s + warp * kRows * L::kLd;
  for (int q0 = k0; q0 < d.T; q0 += kTile) {
    __syncthreads();
    LoadTile<kD>(q_s, qkv, d.C3, b, q0, h * kD, d.T);
    LoadTile<kD>(do_s, dout, C, b, q0, h * kD, d.T);
    if (threadIdx.x < kTile) {
      const int tq = q0 + threadIdx.x;
      const size_t at = static_cast<size_t>(blockIdx.y) * d.T + tq;
      lse_s[threadIdx.x] = tq < d.T ? lse[at] * kLog2e : 0.0f;
      d_s[threadIdx.x] = tq < d.T ? dsum[at] : 0.0f;
    }
    __syncthreads();
    ProductABt<kD>(s_w, L::kSw, k_rows, L::kLd, q_s, L::kLd);
    ProductABt<kD>(dp_w, L::kSw, v_rows, L::kLd, do_s, L::kLd);
    __syncwarp();
#pragma unroll 8
    for (int c = 0; c < 32; ++c) {
      const int col = LaneColumn(c, half, rot);
      const int tq = q0 + col;
      const bool valid = tq < d.T && tq >= j;
      const float p = valid ? exp2f(s_w[r * L::kSw + col] * d.scale_log2 - lse_s[col]) : 0.0f;
      const float ds = p * (dp_w[r * L::kSw + col] - d_s[col]);
      pt_w[r * L::kPw + col] = __float2bfloat16_rn(p);
      dst_w[r * L::kPw + col] = __float2bfloat16_rn(ds);
    }
    __syncwarp();
    AccumulateAB<kD>(dv, pt_w, L::kPw, do_s, L::kLd);
    AccumulateAB<kD>(dk, dst_w, L::kPw, q_s, L::kLd);
  }
  // dK then dV through the scratch tile, added to this lane's half row.
#pragma unroll
  for (int which = 0; which < 2; ++which) {
    __syncwarp();
#pragma unroll
    for (int n = 0; n < kD / 16; ++n) {
      wmma::store_matrix_sync(s_w + n * 16, which == 0 ? dk[n] : dv[n], L::kSw,
                              wmma::mem_row_major);
    }
    __syncwarp();
    if (j < d.T) {
      float* dst = dqkv + (static_cast<size_t>(b) * d.T + j) * d.C3 + (which + 1) * C + h * kD +
                   half * L::kHalf;
      const float* src = s_w + r * L::kSw + half * L::kHalf;
      const float f = which == 0 ? scale : 1.0f;
#pragma unroll
      for (int i = 0; i < L::kHalf; i += 4) {
        const float4 x = *reinterpret_cast<const float4*>(src + i);
        dst[i] += f * x.x;
        dst[i + 1] += f * x.y;
        dst[i + 2] += f * x.z;
        dst[i + 3] += f * x.w;
      }
    }
  }
#else
  __trap();
#endif
}

template <int kD>
constexpr size_t ForwardSmem() {
  using L = Layout<kD>;
  return 3 * L::kTileBytes + kWarps * (L::kScratchBytes + L::kPwBytes);
}
template <int kD>
constexpr size_t QuerySmem() {
  using L = Layout<kD>;
  return 4 * L::kTileBytes + kWarps * (2 * L::kScratchBytes + L::kPwBytes);
}
template <int kD>
constexpr size_t KeySmem() {
  using L = Layout<kD>;
  return 4 * L::kTileBytes + 2 * kTile * sizeof(float) +
         kWarps * (2 * L::kScratchBytes + 2 * L::kPwBytes);
}

inline Dims MakeDims(const AttentionShape& s) {
  return Dims{s.T, s.NH, 3 * s.NH * s.HS, kLog2e / std::sqrt(static_cast<float>(s.HS))};
}

inline dim3 Grid(const AttentionShape& s) { return dim3((s.T + kTile - 1) / kTile, s.B * s.NH); }

// kD must equal s.HS.
template <int kD, typename Launcher>
absl::Status RunForward(const Launcher& launch, float* out, float* lse, const float* qkv,
                        const AttentionShape& s) {
  return launch(Grid(s), kThreads, ForwardSmem<kD>(), TcForwardKernel<kD>, out, lse, qkv,
                MakeDims(s));
}

// `scratch`: B*NH*T floats (the per-row D_i of the query kernel, read by the key kernel).
template <int kD, typename Launcher>
absl::Status RunBackward(const Launcher& launch, float* dqkv, float* scratch, const float* dout,
                         const float* qkv, const float* out, const float* lse,
                         const AttentionShape& s) {
  const Dims d = MakeDims(s);
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.HS));
  RETURN_IF_ERROR(launch(Grid(s), kThreads, QuerySmem<kD>(), TcBackwardQueryKernel<kD>, dqkv,
                         scratch, dout, qkv, out, lse, d, scale));
  return launch(Grid(s), kThreads, KeySmem<kD>(), TcBackwardKeyKernel<kD>, dqkv,
                static_cast<const float*>(scratch), dout, qkv, lse, d, scale);
}

}  // namespace sparsescale::kernels::cuda::attention_tc
