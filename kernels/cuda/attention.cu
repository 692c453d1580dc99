// Causal multi-head attention, flash-attention style, in fp32 on CUDA cores.
//
// Forward: one block per (32-query tile, batch*head); key/value tiles of 32 stream through
// shared memory while each query row keeps a running max, running sum and output accumulator
// (online softmax), so no T x T matrix exists. Only the logsumexp of each row is saved.
// Backward recomputes the probabilities from the logsumexp, deterministically and without
// atomics, in two kernels: per query tile (D_i = dO_i . O_i from the forward output, then dQ),
// and per key tile (dK, dV). That costs 7 tile products against flash-attention-2's 5 (which
// accumulates dQ with atomics) and keeps the result independent of scheduling.
//
// Layout: qkv is [B, T, 3C] with q | k | v per token, head h at columns h*HS .. h*HS+HS-1.
// Limits: HS <= 128 and HS % 4 == 0 (float4 tile loads); qkv, dout and out 16-byte aligned.
// Columns per lane (1, 2 or 4) are a template argument and the inner loops unroll by 4 only:
// ptxas then keeps every accumulator in registers (65-143 registers, no spills on sm_90).
// The tensor-core version (attention_tc.cu) is the default where it applies; this one is the
// fp32 reference on the GPU and the path for other head sizes (SetFp32Attention selects it).
#include <cstdint>
#include <string>

#include "common/status.h"
#include "kernels/cuda/attention_kernels.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace sparsescale::kernels::cuda {
namespace {

using attention_fp32::AttentionBackwardKeyKernel;
using attention_fp32::AttentionBackwardQueryKernel;
using attention_fp32::AttentionForwardKernel;
using attention_fp32::ForwardSmem;
using attention_fp32::KeySmem;
using attention_fp32::kMaxHs;
using attention_fp32::QuerySmem;
using attention_fp32::RunBackward;
using attention_fp32::RunForward;

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

template <int kD>
absl::Status Forward(CudaContext& ctx, float* out, float* lse, const float* qkv,
                     const AttentionShape& s) {
  RETURN_IF_ERROR(ctx.AllowDynamicSmem(reinterpret_cast<const void*>(AttentionForwardKernel<kD>),
                                       ForwardSmem(s.HS), "AttentionForward"));
  return RunForward<kD>(KernelLauncher{ctx.stream()}, out, lse, qkv, s);
}

template <int kD>
absl::Status Backward(CudaContext& ctx, float* dqkv, float* scratch, const float* dout,
                      const float* qkv, const float* out, const float* lse,
                      const AttentionShape& s) {
  RETURN_IF_ERROR(
      ctx.AllowDynamicSmem(reinterpret_cast<const void*>(AttentionBackwardQueryKernel<kD>),
                           QuerySmem(s.HS), "AttentionBackward"));
  RETURN_IF_ERROR(
      ctx.AllowDynamicSmem(reinterpret_cast<const void*>(AttentionBackwardKeyKernel<kD>),
                           KeySmem(s.HS), "AttentionBackward"));
  return RunBackward<kD>(KernelLauncher{ctx.stream()}, dqkv, scratch, dout, qkv, out, lse, s);
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
                                     const float* dout, const float* qkv, const float* out,
                                     const float* lse, const AttentionShape& s) {
  RETURN_IF_ERROR(CheckShape("AttentionBackward", s));
  if (dqkv == nullptr || scratch == nullptr || dout == nullptr || qkv == nullptr ||
      out == nullptr || lse == nullptr) {
    return absl::InvalidArgumentError(
        "AttentionBackward: dqkv, datt_scratch, dout, qkv, out and att must be non-null");
  }
  if (!Aligned16(dout) || !Aligned16(qkv)) {
    return absl::InvalidArgumentError("AttentionBackward: dout and qkv must be 16-byte aligned");
  }
  if (!ctx.fp32_attention() && TcAttentionSupported(ctx, s.HS)) {
    return LaunchAttentionBackwardTc(ctx, dqkv, scratch, dout, qkv, out, lse, s);
  }
  if (s.HS <= 32) {
    return Backward<1>(ctx, dqkv, scratch, dout, qkv, out, lse, s);
  }
  if (s.HS <= 64) {
    return Backward<2>(ctx, dqkv, scratch, dout, qkv, out, lse, s);
  }
  return Backward<4>(ctx, dqkv, scratch, dout, qkv, out, lse, s);
}

}  // namespace sparsescale::kernels::cuda
