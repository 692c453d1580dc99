// Internal to kernels/cuda: one launcher per op, each defined in the op's .cu file after its
// kernels. A launcher checks its shapes (InvalidArgument naming the argument), issues its
// kernels on ctx.stream(), checks each launch, and returns without synchronising unless its
// result is a host value. Pointers are device pointers unless named *_host.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cuda/context.h"
#include "kernels/ops.h"

namespace sparsescale::kernels::cuda {

// fill.cu
absl::Status LaunchFill(CudaContext& ctx, float* x, float value, size_t n);

// residual.cu: out = a + b; y += x; x *= mask.
absl::Status LaunchResidualForward(CudaContext& ctx, float* out, const float* a, const float* b,
                                   size_t n);
absl::Status LaunchAccumulate(CudaContext& ctx, float* y, const float* x, size_t n);
absl::Status LaunchApplyMask(CudaContext& ctx, float* x, const float* mask, size_t n);

// gelu.cu
absl::Status LaunchGeluForward(CudaContext& ctx, float* out, const float* inp, size_t n);
absl::Status LaunchGeluBackward(CudaContext& ctx, float* dinp, const float* inp, const float* dout,
                                size_t n);

// layernorm.cu
absl::Status LaunchLayerNormForward(CudaContext& ctx, float* out, float* mean, float* rstd,
                                    const float* inp, const float* weight, const float* bias, int N,
                                    int C, float eps);
absl::Status LaunchLayerNormBackward(CudaContext& ctx, float* dinp, float* dweight, float* dbias,
                                     const float* dout, const float* inp, const float* weight,
                                     const float* mean, const float* rstd, int N, int C);

// matmul_cublaslt.cu: bf16 operands (converted from fp32 into scratch), fp32 accumulation and
// output, through cuBLASLt.
absl::Status LaunchGemm(CudaContext& ctx, bool trans_a, bool trans_b, int M, int N, int K,
                        float alpha, const float* A, int lda, const float* B, int ldb, float beta,
                        float* C, int ldc);
absl::Status LaunchMatmulForward(CudaContext& ctx, float* out, const float* inp,
                                 const float* weight, const float* bias, int BT, int C, int OC);
// The same product from operands already in bf16 (inp16 [BT, C], weight16 [OC, C], as
// __nv_bfloat16): the entry point for a bf16-activation path, and the benchmarks' baseline.
absl::Status LaunchMatmulForwardBf16(CudaContext& ctx, float* out, const void* inp16,
                                     const void* weight16, const float* bias, int BT, int C,
                                     int OC);
absl::Status LaunchMatmulBackward(CudaContext& ctx, float* dinp, float* dweight, float* dbias,
                                  const float* dout, const float* inp, const float* weight, int BT,
                                  int C, int OC);

// encoder.cu
absl::Status LaunchEncoderForward(CudaContext& ctx, float* out, const int32_t* tokens,
                                  const float* wte, const float* wpe, int B, int T, int C, int V);
absl::Status LaunchEncoderBackward(CudaContext& ctx, float* dwte, float* dwpe, const float* dout,
                                   const int32_t* tokens, int B, int T, int C);

// attention.cu: flash-style; `lse` holds B*NH*T floats (the logsumexp of each query row),
// `scratch` at least B*NH*T floats.
absl::Status LaunchAttentionForward(CudaContext& ctx, float* out, float* lse, const float* qkv,
                                    const AttentionShape& s);
absl::Status LaunchAttentionBackward(CudaContext& ctx, float* dqkv, float* scratch,
                                     const float* dout, const float* qkv, const float* out,
                                     const float* lse, const AttentionShape& s);

// attention_tc.cu: the same contract on bf16 tensor cores (fp32 accumulation and softmax), for
// head sizes 16, 32, 64, 128 on compute capability 8+ (TcAttentionSupported). The launchers
// above dispatch to it unless ctx.fp32_attention(); callers have checked pointers and shapes.
bool TcAttentionSupported(const CudaContext& ctx, int head_size);
absl::Status LaunchAttentionForwardTc(CudaContext& ctx, float* out, float* lse, const float* qkv,
                                      const AttentionShape& s);
absl::Status LaunchAttentionBackwardTc(CudaContext& ctx, float* dqkv, float* scratch,
                                       const float* dout, const float* qkv, const float* out,
                                       const float* lse, const AttentionShape& s);

// cross_entropy.cu
absl::Status LaunchCrossEntropy(CudaContext& ctx, float* losses, float* dlogits,
                                const float* logits, const int32_t* targets, int BT, int V, int Vp,
                                float dloss_scale);

// adamw.cu
absl::Status LaunchAdamW(CudaContext& ctx, float* params, const float* grads, float* m, float* v,
                         const float* mask, size_t n, const AdamWParams& p);

// reductions.cu: deterministic two-pass reductions (fixed grid, fixed order).
absl::Status LaunchSumSquares(CudaContext& ctx, float* accum, const float* x, size_t n);
absl::Status LaunchCountNonZero(CudaContext& ctx, int64_t* count_host, const float* x, size_t n);

// topk_mask.cu / nm_mask.cu
absl::Status LaunchMagnitudeMask(CudaContext& ctx, float* mask, const float* w, size_t n,
                                 size_t keep);
absl::Status LaunchNmMask(CudaContext& ctx, float* mask, const float* w, int rows, int cols, int n,
                          int m, size_t keep);

}  // namespace sparsescale::kernels::cuda
