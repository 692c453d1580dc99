// The fp32 kernels behind the CPU backend (one op family per .cc file). They assume arguments
// that CpuOps (cpu_ops.cc) has already validated against ops.h, so they never fail; semantics
// are exactly those documented in ops.h. Stateless except where a scratch argument is named:
// safe to call from several threads on disjoint outputs.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/ops.h"

namespace sparsescale::kernels::cpu {

// gemm.cc: row-major SGEMM through the library chosen by measurement; `threads` >= 1.
// Results are deterministic for a fixed thread count.
void Gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc, int threads);
// The name of the library Gemm uses ("onednn", "plain", ...), for logs and benchmarks.
const char* GemmLibraryName();
// gemm_onednn.cc / gemm_blis.cc: the same contract through one library (plain loops when the
// build did not find it); `threads` >= 1.
bool OneDnnAvailable();
bool OneDnnHasAvx512();
void GemmOneDnn(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                int lda, const float* B, int ldb, float beta, float* C, int ldc, int threads);
bool BlisAvailable();
const char* BlisKernelConfig();  // the sub-configuration BLIS picked for this CPU, e.g. "zen3"
void GemmBlis(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
              const float* B, int ldb, float beta, float* C, int ldc, int threads);
// gemm_plain.cc: the same contract in plain loops (single thread); the fallback and the
// benchmarks' baseline.
void GemmPlain(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
               int lda, const float* B, int ldb, float beta, float* C, int ldc);

// matmul.cc
void MatmulForward(float* out, const float* inp, const float* weight, const float* bias, int BT,
                   int C, int OC, int threads);
void MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                    const float* weight, int BT, int C, int OC, int threads);

// layernorm.cc
void LayerNormForward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                      const float* bias, int N, int C, float eps);
void LayerNormBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                       const float* inp, const float* weight, const float* mean, const float* rstd,
                       int N, int C);

// elementwise.cc
void GeluForward(float* out, const float* inp, size_t n);
void GeluBackward(float* dinp, const float* inp, const float* dout, size_t n);
void ResidualForward(float* out, const float* a, const float* b, size_t n);
void Accumulate(float* y, const float* x, size_t n);
void Fill(float* x, float value, size_t n);

// encoder.cc
void EncoderForward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B,
                    int T, int C);
void EncoderBackward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B,
                     int T, int C);

// attention.cc: `att` keeps the softmax probabilities [B, NH, T, T] (zero above the diagonal).
void AttentionForward(float* out, float* att, const float* qkv, const AttentionShape& s,
                      int threads);
void AttentionBackward(float* dqkv, float* datt, const float* dout, const float* qkv,
                       const float* att, const AttentionShape& s, int threads);

// cross_entropy.cc: dlogits may alias logits or be null.
void CrossEntropyForwardBackward(float* losses, float* dlogits, const float* logits,
                                 const int32_t* targets, int BT, int V, int Vp, float dloss_scale);

// optimizer.cc
double SumSquares(const float* x, size_t n);
void AdamW(float* params, const float* grads, float* m, float* v, const float* mask, size_t n,
           const AdamWParams& p);
void ApplyMask(float* x, const float* mask, size_t n);
int64_t CountNonZero(const float* x, size_t n);

// masks.cc: w must hold no NaN (CpuOps checks); n < 2^32.
void MagnitudeMask(float* mask, const float* w, size_t n, size_t keep);
void NmMask(float* mask, const float* w, int rows, int cols, int n, int m, size_t keep);

}  // namespace sparsescale::kernels::cpu
