// Causal multi-head attention on bf16 tensor cores (wmma 16x16x16, fp32 accumulation).
//
// The same algorithm as attention.cu (flash-style forward that keeps only each row's
// logsumexp; a deterministic two-kernel backward without atomics), with every tile product on
// tensor cores: tiles are 64 rows, each of the 4 warps owns 16 of them. Q, K, V, dO and the
// probabilities / score gradients are rounded to bf16 as they enter a product; the scores, the
// softmax (running max and sum in fp32), the output and every gradient accumulate in fp32.
//
// wmma fragments are opaque, so the per-row softmax work goes through a small fp32 scratch
// tile per warp in shared memory: the warp stores a product there, then each lane handles
// half a row (lane / 2 = row, lane % 2 = which half), with its column order rotated by
// (row / 8 + 2 * half) so the 32 lanes hit 32 different banks.
//
// Tile products per 64 x 64 tile pair: forward 2 (S = Q K^T, O += P V); backward 7: the query
// kernel 3 (S, dP, dQ += dS K, with D_i = dO_i . O_i from the forward output) and the key kernel
// 4 (S^T, dP^T, dV += P^T dO, dK += dS^T Q). FlashAttention-2 needs 5 by accumulating dQ with
// atomics in the key kernel; two kernels keep the result independent of scheduling.
//
// Layout as attention.cu: qkv [B, T, 3C], head h at columns h*HS .. h*HS+HS-1 of each third.
// Head sizes 16, 32, 64, 128 (a template argument, so every loop unrolls); compute capability
// 8.0 or newer (bf16 wmma); qkv, out and dout 16-byte aligned.
#include "kernels/cuda/attention_tc_kernels.cuh"

#include <cmath>
#include <string>

#include "common/status.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace sparsescale::kernels::cuda {
namespace {

using attention_tc::ForwardSmem;
using attention_tc::KeySmem;
using attention_tc::QuerySmem;
using attention_tc::RunBackward;
using attention_tc::RunForward;
using attention_tc::TcBackwardKeyKernel;
using attention_tc::TcBackwardQueryKernel;
using attention_tc::TcForwardKernel;

template <int kD>
absl::Status Forward(CudaContext& ctx, float* out, float* lse, const float* qkv,
                     const AttentionShape& s) {
  RETURN_IF_ERROR(ctx.AllowDynamicSmem(reinterpret_cast<const void*>(TcForwardKernel<kD>),
                                       ForwardSmem<kD>(), "AttentionForward"));
  return RunForward<kD>(KernelLauncher{ctx.stream()}, out, lse, qkv, s);
}

template <int kD>
absl::Status Backward(CudaContext& ctx, float* dqkv, float* scratch, const float* dout,
                      const float* qkv, const float* out, const float* lse,
                      const AttentionShape& s) {
  RETURN_IF_ERROR(ctx.AllowDynamicSmem(reinterpret_cast<const void*>(TcBackwardQueryKernel<kD>),
                                       QuerySmem<kD>(), "AttentionBackward"));
  RETURN_IF_ERROR(ctx.AllowDynamicSmem(reinterpret_cast<const void*>(TcBackwardKeyKernel<kD>),
                                       KeySmem<kD>(), "AttentionBackward"));
  return RunBackward<kD>(KernelLauncher{ctx.stream()}, dqkv, scratch, dout, qkv, out, lse, s);
}

}  // namespace

bool TcAttentionSupported(const CudaContext& ctx, int head_size) {
  return ctx.compute_major() >= 8 &&
         (head_size == 16 || head_size == 32 || head_size == 64 || head_size == 128);
}

absl::Status LaunchAttentionForwardTc(CudaContext& ctx, float* out, float* lse, const float* qkv,
                                      const AttentionShape& s) {
  switch (s.HS) {
    case 16:
      return Forward<16>(ctx, out, lse, qkv, s);
    case 32:
      return Forward<32>(ctx, out, lse, qkv, s);
    case 64:
      return Forward<64>(ctx, out, lse, qkv, s);
    case 128:
      return Forward<128>(ctx, out, lse, qkv, s);
    default:
      return absl::InvalidArgumentError("AttentionForward: the tensor-core kernel needs HS in "
                                        "{16, 32, 64, 128}, got " + std::to_string(s.HS));
  }
}

absl::Status LaunchAttentionBackwardTc(CudaContext& ctx, float* dqkv, float* scratch,
                                       const float* dout, const float* qkv, const float* out,
                                       const float* lse, const AttentionShape& s) {
  switch (s.HS) {
    case 16:
      return Backward<16>(ctx, dqkv, scratch, dout, qkv, out, lse, s);
    case 32:
      return Backward<32>(ctx, dqkv, scratch, dout, qkv, out, lse, s);
    case 64:
      return Backward<64>(ctx, dqkv, scratch, dout, qkv, out, lse, s);
    case 128:
      return Backward<128>(ctx, dqkv, scratch, dout, qkv, out, lse, s);
    default:
      return absl::InvalidArgumentError("AttentionBackward: the tensor-core kernel needs HS in "
                                        "{16, 32, 64, 128}, got " + std::to_string(s.HS));
  }
}

}  // namespace sparsescale::kernels::cuda
