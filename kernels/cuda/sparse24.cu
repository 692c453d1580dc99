// 2:4 sparse tensor-core forward product. See sparse24.h.
//
// mma.sp::ordered_metadata m16n8k32 (bf16 in, fp32 accumulate). The sparse operand A is the
// weight (M = output features, K = input features), B is the input (N = tokens), so the block
// computes out^T tiles and writes them transposed. Block tile 64 (outputs) x 128 (tokens) x 64
// (inputs), 4 warps of 32 x 64 each; the fp32 input is converted to bf16 on its way to shared
// memory. No cp.async pipelining or wgmma yet: plain mma.sp is documented to run below the
// sparse peak, so this is the simple, verifiable version, measured against dense cuBLASLt by
// bench/gpu/sparse24_bench.
//
// Metadata register (sparsity selector 0): in each quad, thread 0 supplies the positions of
// input columns 0..15 of the k32 step and thread 1 those of 16..31; the low 16 bits are row
// groupID, the high 16 bits row groupID + 8; each 4-bit chunk code is idx0 | idx1 << 2 with
// idx0 < idx1.
#include <cuda_bf16.h>

#include <string>

#include "common/status.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/sparse24.h"

namespace sparsescale::kernels::cuda {
namespace {

constexpr int kBM = 64;                // output features per block
constexpr int kBN = 128;               // tokens per block
constexpr int kBK = 64;                // input features per stage
constexpr int kAStride = kBK / 2 + 8;  // bf16 per row of the compressed tile (padded)
constexpr int kBStride = kBK + 8;      // bf16 per token row of the input tile (padded)
constexpr int kThreads = 128;

// One thread per (row, 16 inputs): picks the kept positions of 4 groups of 4, writes 8 values
// and one 16-bit metadata word. Sets *bad when a group keeps more than 2.
__global__ void CompressKernel(__nv_bfloat16* values, uint16_t* meta, int* bad, const float* w,
                               const float* mask, int rows, int cols) {
  const int groups16 = cols / 16;
  const size_t idx = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (idx >= static_cast<size_t>(rows) * groups16) {
    return;
  }
  const int row = static_cast<int>(idx / groups16);
  const int g16 = static_cast<int>(idx % groups16);
  const size_t in_base = static_cast<size_t>(row) * cols + g16 * 16;
  uint16_t word = 0;
  for (int q = 0; q < 4; ++q) {
    int pos[2];
    int found = 0;
    for (int i = 0; i < 4; ++i) {
      if (mask[in_base + q * 4 + i] != 0.0f) {
        if (found < 2) {
          pos[found] = i;
        }
        ++found;
      }
    }
    if (found > 2 && bad != nullptr) {
      *bad = 1;
    }
    // Fewer than 2 kept: fill with the lowest unused positions (their values are zero).
    for (int i = 0; i < 4 && found < 2; ++i) {
      if (found == 0 || pos[0] != i) {
        pos[found++] = i;
      }
    }
    if (pos[0] > pos[1]) {
      const int t = pos[0];
      pos[0] = pos[1];
      pos[1] = t;
    }
    word |= static_cast<uint16_t>((pos[0] | (pos[1] << 2)) << (4 * q));
    const size_t out_base = static_cast<size_t>(row) * (cols / 2) + g16 * 8 + q * 2;
    for (int s = 0; s < 2; ++s) {
      const size_t at = in_base + q * 4 + pos[s];
      values[out_base + s] = __float2bfloat16_rn(w[at] * mask[at]);
    }
  }
  meta[static_cast<size_t>(row) * groups16 + g16] = word;
}

__device__ inline uint32_t Pack(const __nv_bfloat16* p) {
  return *reinterpret_cast<const uint32_t*>(p);
}

__device__ inline void MmaSp(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[4],
                             uint32_t e) {
  asm volatile(
      "mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.bf16.bf16.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9, %10, %11}, {%0, %1, %2, %3}, %12, 0x0;\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]),
        "r"(e));
}

__device__ void LoadStage(__nv_bfloat16* a_s, uint16_t* meta_s, __nv_bfloat16* b_s,
                          const __nv_bfloat16* values, const uint16_t* meta, const float* inp,
                          int m0, int n0, int k0, int BT, int K) {
  // Compressed weight: 64 rows x 32 bf16 = 4 x 16 bytes per row.
  for (int i = threadIdx.x; i < kBM * 4; i += kThreads) {
    const int r = i / 4;
    const int part = i % 4;
    const uint4 v = *reinterpret_cast<const uint4*>(values + static_cast<size_t>(m0 + r) * (K / 2) +
                                                    k0 / 2 + part * 8);
    *reinterpret_cast<uint4*>(a_s + r * kAStride + part * 8) = v;
  }
  // Metadata: 64 rows x 4 words.
  for (int i = threadIdx.x; i < kBM * 4; i += kThreads) {
    const int r = i / 4;
    const int part = i % 4;
    meta_s[r * 4 + part] = meta[static_cast<size_t>(m0 + r) * (K / 16) + k0 / 16 + part];
  }
  // Input: 128 tokens x 64 fp32, converted to bf16.
  for (int i = threadIdx.x; i < kBN * (kBK / 4); i += kThreads) {
    const int n = i / (kBK / 4);
    const int q = i % (kBK / 4);
    float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
    if (n0 + n < BT) {
      x = *reinterpret_cast<const float4*>(inp + static_cast<size_t>(n0 + n) * K + k0 + 4 * q);
    }
    __nv_bfloat162 lo = __floats2bfloat162_rn(x.x, x.y);
    __nv_bfloat162 hi = __floats2bfloat162_rn(x.z, x.w);
    uint2 packed;
    packed.x = *reinterpret_cast<uint32_t*>(&lo);
    packed.y = *reinterpret_cast<uint32_t*>(&hi);
    *reinterpret_cast<uint2*>(b_s + n * kBStride + 4 * q) = packed;
  }
}

__global__ void __launch_bounds__(kThreads)
    Sparse24MatmulKernel(float* out, const float* inp, const __nv_bfloat16* values,
                         const uint16_t* meta, const float* bias, int BT, int K, int M) {
  __shared__ __align__(16) __nv_bfloat16 a_s[kBM * kAStride];
  __shared__ __align__(16) uint16_t meta_s[kBM * 4];
  __shared__ __align__(16) __nv_bfloat16 b_s[kBN * kBStride];
  const int m0 = blockIdx.y * kBM;
  const int n0 = blockIdx.x * kBN;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int group = lane / 4;
  const int tig = lane % 4;
  const int warp_m = (warp / 2) * 32;
  const int warp_n = (warp % 2) * 64;
  float acc[2][8][4] = {};
  for (int k0 = 0; k0 < K; k0 += kBK) {
    __syncthreads();
    LoadStage(a_s, meta_s, b_s, values, meta, inp, m0, n0, k0, BT, K);
    __syncthreads();
#pragma unroll
    for (int step = 0; step < kBK / 32; ++step) {
      uint32_t a[2][4];
      uint32_t e[2];
#pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
        const int r = warp_m + mt * 16 + group;
        const int c = step * 16 + 2 * tig;
        a[mt][0] = Pack(a_s + r * kAStride + c);
        a[mt][1] = Pack(a_s + (r + 8) * kAStride + c);
        a[mt][2] = Pack(a_s + r * kAStride + c + 8);
        a[mt][3] = Pack(a_s + (r + 8) * kAStride + c + 8);
        const int word = step * 2 + (tig & 1);
        e[mt] = static_cast<uint32_t>(meta_s[r * 4 + word]) |
                (static_cast<uint32_t>(meta_s[(r + 8) * 4 + word]) << 16);
      }
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        const __nv_bfloat16* brow =
            b_s + (warp_n + nt * 8 + group) * kBStride + step * 32 + 2 * tig;
        const uint32_t b[4] = {Pack(brow), Pack(brow + 8), Pack(brow + 16), Pack(brow + 24)};
        MmaSp(acc[0][nt], a[0], b, e[0]);
        MmaSp(acc[1][nt], a[1], b, e[1]);
      }
    }
  }
#pragma unroll
  for (int mt = 0; mt < 2; ++mt) {
    const int row = m0 + warp_m + mt * 16 + group;  // output feature
    const float b_lo = bias == nullptr ? 0.0f : bias[row];
    const float b_hi = bias == nullptr ? 0.0f : bias[row + 8];
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
      const int tok = n0 + warp_n + nt * 8 + 2 * tig;
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        if (tok + j < BT) {
          out[static_cast<size_t>(tok + j) * M + row] = acc[mt][nt][j] + b_lo;
          out[static_cast<size_t>(tok + j) * M + row + 8] = acc[mt][nt][2 + j] + b_hi;
        }
      }
    }
  }
}

absl::StatusOr<CudaContext*> Context(Ops& ops) {
  CudaContext* ctx = ContextOf(ops);
  if (ctx == nullptr) {
    return absl::InvalidArgumentError("sparse24: needs the CUDA Ops backend, got " + ops.name());
  }
  return ctx;
}

}  // namespace

bool Sparse24ShapeSupported(int rows, int cols) {
  return rows > 0 && cols > 0 && rows % kBM == 0 && cols % kBK == 0;
}

absl::Status RecompressSparse24(Ops& ops, Sparse24Weight& sw, const float* w, const float* mask,
                                bool check_mask) {
  ASSIGN_OR_RETURN(CudaContext * ctx, Context(ops));
  if (w == nullptr || mask == nullptr || sw.values == nullptr || sw.meta == nullptr) {
    return absl::InvalidArgumentError("sparse24: w, mask and the compressed buffers must be set");
  }
  int* bad = nullptr;  // the kernel skips the flag when null
  if (check_mask) {
    ASSIGN_OR_RETURN(void* flag_mem, ctx->Scratch(ScratchSlot::kReduce, sizeof(int)));
    bad = static_cast<int*>(flag_mem);
    CUDA_RETURN_IF_ERROR(cudaMemsetAsync(bad, 0, sizeof(int), ctx->stream()));
  }
  const size_t threads_total = static_cast<size_t>(sw.rows) * (sw.cols / 16);
  CompressKernel<<<BlocksFor(threads_total, 256), 256, 0, ctx->stream()>>>(
      static_cast<__nv_bfloat16*>(sw.values->data()), static_cast<uint16_t*>(sw.meta->data()), bad,
      w, mask, sw.rows, sw.cols);
  RETURN_IF_LAUNCH_FAILED();
  if (!check_mask) {
    return absl::OkStatus();
  }
  int bad_host = 0;
  CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(&bad_host, bad, sizeof(int), cudaMemcpyDeviceToHost, ctx->stream()));
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx->stream()));
  if (bad_host != 0) {
    return absl::InvalidArgumentError(
        "sparse24: mask keeps more than 2 of 4 consecutive inputs in some group (not 2:4)");
  }
  return absl::OkStatus();
}

absl::StatusOr<Sparse24Weight> CompressSparse24(Ops& ops, const float* w, const float* mask,
                                                int rows, int cols) {
  if (!Sparse24ShapeSupported(rows, cols)) {
    return absl::InvalidArgumentError(
        "sparse24: rows and cols must be positive multiples of 64, "
        "got " +
        std::to_string(rows) + "x" + std::to_string(cols));
  }
  Sparse24Weight sw;
  sw.rows = rows;
  sw.cols = cols;
  ASSIGN_OR_RETURN(sw.values, ops.Allocate(sizeof(__nv_bfloat16) * rows * (cols / 2)));
  ASSIGN_OR_RETURN(sw.meta, ops.Allocate(sizeof(uint16_t) * rows * (cols / 16)));
  RETURN_IF_ERROR(RecompressSparse24(ops, sw, w, mask));
  return sw;
}

absl::Status Sparse24MatmulForward(Ops& ops, float* out, const float* inp, const Sparse24Weight& w,
                                   const float* bias, int BT) {
  ASSIGN_OR_RETURN(CudaContext * ctx, Context(ops));
  if (BT <= 0 || !Sparse24ShapeSupported(w.rows, w.cols) || w.values == nullptr) {
    return absl::InvalidArgumentError("sparse24: BT must be positive and the weight compressed");
  }
  if (out == nullptr || inp == nullptr || reinterpret_cast<uintptr_t>(inp) % 16 != 0) {
    return absl::InvalidArgumentError(
        "sparse24: out and inp must be non-null, inp 16-byte aligned");
  }
  const dim3 grid((BT + kBN - 1) / kBN, w.rows / kBM);
  Sparse24MatmulKernel<<<grid, kThreads, 0, ctx->stream()>>>(
      out, inp, static_cast<const __nv_bfloat16*>(w.values->data()),
      static_cast<const uint16_t*>(w.meta->data()), bias, BT, w.cols, w.rows);
  RETURN_IF_LAUNCH_FAILED();
  return absl::OkStatus();
}

}  // namespace sparsescale::kernels::cuda
