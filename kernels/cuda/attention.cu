// Causal multi-head attention, flash-attention style, in fp32 on CUDA cores.
//
// Forward: one block per (32-query tile, batch*head); key/value tiles of 32 stream through
// shared memory while each query row keeps a running max, running sum and output accumulator
// (online softmax), so no T x T matrix exists. Only the logsumexp of each row is saved.
// Backward recomputes the probabilities from the logsumexp, deterministically and without
// atomics, in two kernels: per query tile (first D_i = sum_j P_ij dP_ij, then dQ), and per key
// tile (dK, dV). That costs 8 tile products against flash-attention-2's 5 but needs neither
// the forward output nor atomics.
//
// Layout: qkv is [B, T, 3C] with q | k | v per token, head h at columns h*HS .. h*HS+HS-1.
// Limits: HS <= 128 and HS % 4 == 0 (float4 tile loads); qkv, dout and out 16-byte aligned.
// Columns per lane (1, 2 or 4) are a template argument and the inner loops unroll by 4 only:
// ptxas then keeps every accumulator in registers (65-143 registers, no spills on sm_90).
// The tensor-core version (attention_tc.cu) is the default where it applies; this one is the
// fp32 reference on the GPU and the path for other head sizes (SetFp32Attention selects it).
#include <cmath>
#include <string>

#include "common/status.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace sparsescale::kernels::cuda {
namespace {

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
  extern __shared__ float4 smem4[];
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

// Per query tile: D_i = sum_j P_ij dP_ij (saved to `dsum`), then dQ += scale * dS K.
template <int kD>  // columns per lane: HS <= 32 * kD
__global__ void AttentionBackwardQueryKernel(float* dqkv, float* dsum, const float* dout,
                                             const float* qkv, const float* lse, Dims d) {
  extern __shared__ float4 smem4[];
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

  float row_lse[kRowsPerWarp], row_d[kRowsPerWarp], dq[kRowsPerWarp][kD];
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    const int tq = q0 + warp * kRowsPerWarp + rr;
    row_lse[rr] = tq < d.T ? lse[static_cast<size_t>(blockIdx.y) * d.T + tq] : 0.0f;
    row_d[rr] = 0.0f;
#pragma unroll
    for (int dd = 0; dd < kD; ++dd) {
      dq[rr][dd] = 0.0f;
    }
  }
  // Sweep 0 accumulates D; sweep 1 uses it for dS and dQ.
  for (int sweep = 0; sweep < 2; ++sweep) {
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
        if (sweep == 0) {
          row_d[rr] += p * dp;  // per-lane partial, reduced after the sweep
          continue;
        }
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
    if (sweep == 0) {
#pragma unroll
      for (int rr = 0; rr < kRowsPerWarp; ++rr) {
        row_d[rr] = WarpSum(row_d[rr]);
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
  extern __shared__ float4 smem4[];
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

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

absl::Status CheckShape(const char* op, const AttentionShape& s) {
  if (s.B <= 0 || s.T <= 0 || s.NH <= 0 || s.HS <= 0) {
    return absl::InvalidArgumentError(std::string(op) + ": B, T, NH and HS must be positive");
  }
  if (s.HS > kMaxHs || s.HS % 4 != 0) {
    return absl::InvalidArgumentError(std::string(op) +
                                      ": the CUDA attention needs HS <= 128 and HS % 4 == 0, got " +
                                      std::to_string(s.HS));
  }
  return absl::OkStatus();
}

Dims MakeDims(const AttentionShape& s) {
  return Dims{s.T, s.NH, s.HS, 3 * s.NH * s.HS, 1.0f / std::sqrt(static_cast<float>(s.HS))};
}

// Kernels above 48 KiB of dynamic shared memory must opt in.
template <typename Kernel>
absl::Status PrepareSmem(CudaContext& ctx, Kernel kernel, size_t bytes) {
  if (bytes > ctx.max_shared_bytes()) {
    return absl::InvalidArgumentError("attention: head size needs " + std::to_string(bytes) +
                                      " bytes of shared memory, the device has " +
                                      std::to_string(ctx.max_shared_bytes()));
  }
  if (bytes > 48 * 1024) {
    CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              static_cast<int>(bytes)));
  }
  return absl::OkStatus();
}

template <int kD>
absl::Status Forward(CudaContext& ctx, float* out, float* lse, const float* qkv,
                     const AttentionShape& s) {
  const Dims d = MakeDims(s);
  const size_t smem = sizeof(float) * 3 * kTile * (s.HS + kPad);
  RETURN_IF_ERROR(PrepareSmem(ctx, AttentionForwardKernel<kD>, smem));
  const dim3 grid((s.T + kTile - 1) / kTile, s.B * s.NH);
  AttentionForwardKernel<kD><<<grid, kThreads, smem, ctx.stream()>>>(out, lse, qkv, d);
  RETURN_IF_LAUNCH_FAILED();
  return absl::OkStatus();
}

template <int kD>
absl::Status Backward(CudaContext& ctx, float* dqkv, float* scratch, const float* dout,
                      const float* qkv, const float* lse, const AttentionShape& s) {
  const Dims d = MakeDims(s);
  const dim3 grid((s.T + kTile - 1) / kTile, s.B * s.NH);
  const size_t smem_q = sizeof(float) * 4 * kTile * (s.HS + kPad);
  RETURN_IF_ERROR(PrepareSmem(ctx, AttentionBackwardQueryKernel<kD>, smem_q));
  AttentionBackwardQueryKernel<kD>
      <<<grid, kThreads, smem_q, ctx.stream()>>>(dqkv, scratch, dout, qkv, lse, d);
  RETURN_IF_LAUNCH_FAILED();
  const size_t smem_k = smem_q + sizeof(float) * 2 * kTile;
  RETURN_IF_ERROR(PrepareSmem(ctx, AttentionBackwardKeyKernel<kD>, smem_k));
  AttentionBackwardKeyKernel<kD>
      <<<grid, kThreads, smem_k, ctx.stream()>>>(dqkv, scratch, dout, qkv, lse, d);
  RETURN_IF_LAUNCH_FAILED();
  return absl::OkStatus();
}

}  // namespace

absl::Status LaunchAttentionForward(CudaContext& ctx, float* out, float* lse, const float* qkv,
                                    const AttentionShape& s) {
  RETURN_IF_ERROR(CheckShape("AttentionForward", s));
  if (out == nullptr || lse == nullptr || qkv == nullptr) {
    return absl::InvalidArgumentError("AttentionForward: out, att and qkv must be non-null");
  }
  if (!Aligned16(out) || !Aligned16(qkv)) {
    return absl::InvalidArgumentError("AttentionForward: out and qkv must be 16-byte aligned");
  }
  if (!ctx.fp32_attention() && TcAttentionSupported(ctx, s.HS)) {
    return LaunchAttentionForwardTc(ctx, out, lse, qkv, s);
  }
  // The per-lane column count is a template argument so the accumulators stay in registers.
  if (s.HS <= 32) {
    return Forward<1>(ctx, out, lse, qkv, s);
  }
  if (s.HS <= 64) {
    return Forward<2>(ctx, out, lse, qkv, s);
  }
  return Forward<4>(ctx, out, lse, qkv, s);
}

absl::Status LaunchAttentionBackward(CudaContext& ctx, float* dqkv, float* scratch,
                                     const float* dout, const float* qkv, const float* lse,
                                     const AttentionShape& s) {
  RETURN_IF_ERROR(CheckShape("AttentionBackward", s));
  if (dqkv == nullptr || scratch == nullptr || dout == nullptr || qkv == nullptr ||
      lse == nullptr) {
    return absl::InvalidArgumentError(
        "AttentionBackward: dqkv, datt_scratch, dout, qkv and att must be non-null");
  }
  if (!Aligned16(dout) || !Aligned16(qkv)) {
    return absl::InvalidArgumentError("AttentionBackward: dout and qkv must be 16-byte aligned");
  }
  if (!ctx.fp32_attention() && TcAttentionSupported(ctx, s.HS)) {
    return LaunchAttentionBackwardTc(ctx, dqkv, scratch, dout, qkv, lse, s);
  }
  if (s.HS <= 32) {
    return Backward<1>(ctx, dqkv, scratch, dout, qkv, lse, s);
  }
  if (s.HS <= 64) {
    return Backward<2>(ctx, dqkv, scratch, dout, qkv, lse, s);
  }
  return Backward<4>(ctx, dqkv, scratch, dout, qkv, lse, s);
}

}  // namespace sparsescale::kernels::cuda
