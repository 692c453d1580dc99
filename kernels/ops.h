// The compute backend interface: every piece of math the pruning trainer needs.
//
// Conventions (llm.c's, so the CPU and CUDA backends share one mental model):
// - All tensors are row-major fp32 arrays that live in the backend's memory space (host memory
//   for the CPU backend, device memory for CUDA). Pointers passed to an op must come from
//   Allocate() of the same backend (or be host memory for the CPU backend).
// - A linear layer's weight is [out_features, in_features]; its input dimension is contiguous,
//   so n:m groups (along the input dimension) are runs of m consecutive elements of a row.
// - Backward ops ACCUMULATE (+=) into gradient buffers; callers zero them once per step.
// - Every op checks its shapes and returns InvalidArgument on a bad one; nothing exits.
// - Ops on one backend are issued in order (one stream); CopyToHost synchronises.
//
// An Ops object is not thread-safe: one trainer owns one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sparsescale::kernels {

// Memory owned by a backend; freed when destroyed.
class DeviceBuffer {
 public:
  virtual ~DeviceBuffer() = default;
  virtual void* data() = 0;
  virtual size_t bytes() const = 0;
  float* f32() { return static_cast<float*>(data()); }
  int32_t* i32() { return static_cast<int32_t*>(data()); }
};

// A weight in a backend's n:m-sparse layout (Ops::PackSparseWeight); backend-defined content.
class PackedWeight {
 public:
  virtual ~PackedWeight() = default;
  int rows = 0;
  int cols = 0;
};

// Shapes of a causal multi-head attention call. qkv is [B, T, 3*C] with C = NH * HS, laid out
// as [q | k | v] per token, each head's slice contiguous (head h at columns h*HS .. h*HS+HS-1).
struct AttentionShape {
  int B = 0;   // batch
  int T = 0;   // sequence length
  int NH = 0;  // heads
  int HS = 0;  // head size
};

struct AdamWParams {
  float lr = 0;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0;
  int64_t step = 1;      // 1-based, for bias correction.
  float grad_scale = 1;  // gradients are multiplied by this first (clipping).
};

class Ops {
 public:
  virtual ~Ops() = default;

  // "cpu" or "cuda".
  virtual std::string name() const = 0;

  // ---- memory ----
  // Returns a zero-filled buffer of `bytes`, or ResourceExhausted.
  virtual absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) = 0;
  virtual absl::Status CopyToDevice(void* dst, const void* host_src, size_t bytes) = 0;
  virtual absl::Status CopyToHost(void* host_dst, const void* src, size_t bytes) = 0;
  virtual absl::Status CopyDeviceToDevice(void* dst, const void* src, size_t bytes) = 0;
  virtual absl::Status Fill(float* x, float value, size_t n) = 0;

  // ---- general matrix product ----
  // C[M,N] = alpha * op(A) @ op(B) + beta * C, with op(X) = X or X^T, leading dimensions
  // lda/ldb/ldc (row-major). A is [M,K] (or [K,M] when trans_a), B is [K,N] (or [N,K]).
  virtual absl::Status Gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                            const float* A, int lda, const float* B, int ldb, float beta, float* C,
                            int ldc) = 0;

  // ---- layers (forward / backward) ----
  // out[BT, OC] = inp[BT, C] @ weight[OC, C]^T + bias[OC] (bias may be null).
  virtual absl::Status MatmulForward(float* out, const float* inp, const float* weight,
                                     const float* bias, int BT, int C, int OC) = 0;
  // dinp += dout @ weight; dweight += dout^T @ inp; dbias += column sums of dout.
  // dinp and dbias may be null (first layer / no bias).
  virtual absl::Status MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                                      const float* inp, const float* weight, int BT, int C,
                                      int OC) = 0;

  // Per row of inp[N, C]: out = (x - mean) * rstd * weight + bias; saves mean[N], rstd[N].
  virtual absl::Status LayerNormForward(float* out, float* mean, float* rstd, const float* inp,
                                        const float* weight, const float* bias, int N, int C,
                                        float eps) = 0;
  // dinp += ..., dweight += ..., dbias += ...
  virtual absl::Status LayerNormBackward(float* dinp, float* dweight, float* dbias,
                                         const float* dout, const float* inp, const float* weight,
                                         const float* mean, const float* rstd, int N, int C) = 0;

  // GELU, tanh approximation (GPT-2's).
  virtual absl::Status GeluForward(float* out, const float* inp, size_t n) = 0;
  // dinp += gelu'(inp) * dout.
  virtual absl::Status GeluBackward(float* dinp, const float* inp, const float* dout, size_t n) = 0;

  // out = a + b (element-wise; out may alias a or b).
  virtual absl::Status ResidualForward(float* out, const float* a, const float* b, size_t n) = 0;
  // y += x (accumulate a gradient).
  virtual absl::Status Accumulate(float* y, const float* x, size_t n) = 0;

  // out[B,T,C] = wte[tokens[b,t], :] + wpe[t, :].
  virtual absl::Status EncoderForward(float* out, const int32_t* tokens, const float* wte,
                                      const float* wpe, int B, int T, int C, int V) = 0;
  // dwte[token] += dout, dwpe[t] += dout (deterministic order).
  virtual absl::Status EncoderBackward(float* dwte, float* dwpe, const float* dout,
                                       const int32_t* tokens, int B, int T, int C) = 0;

  // Causal multi-head attention. out[B,T,C]; `att` holds AttentionStateFloats(s) floats in
  // which the backend saves softmax state for the backward (its content is backend-defined).
  virtual absl::Status AttentionForward(float* out, float* att, const float* qkv,
                                        const AttentionShape& s) = 0;
  // dqkv += gradient of the attention w.r.t. qkv; `out` and `att` as left by AttentionForward
  // (a fused kernel takes D_i = dout_i . out_i from `out` instead of recomputing the output).
  // `datt_scratch` holds AttentionStateFloats(s) floats.
  virtual absl::Status AttentionBackward(float* dqkv, float* datt_scratch, const float* dout,
                                         const float* qkv, const float* out, const float* att,
                                         const AttentionShape& s) = 0;
  // Size of the attention state: B*NH*T*T by default (the probabilities); a fused kernel that
  // recomputes them in the backward keeps less (CUDA: one logsumexp per query row, B*NH*T).
  virtual size_t AttentionStateFloats(const AttentionShape& s) const {
    return static_cast<size_t>(s.B) * s.NH * s.T * s.T;
  }

  // Softmax cross-entropy fused with its gradient, over logits[BT, Vp] (row stride Vp >= V;
  // columns >= V are padding and ignored). Writes losses[BT] (natural log) and, when
  // dlogits is non-null, dlogits = (softmax - onehot(target)) * dloss_scale (may alias logits:
  // the logits are then overwritten by their gradient and no probability matrix is kept).
  virtual absl::Status CrossEntropyForwardBackward(float* losses, float* dlogits,
                                                   const float* logits, const int32_t* targets,
                                                   int BT, int V, int Vp, float dloss_scale) = 0;

  // ---- optimiser ----
  // Sum of squares of x[n], added to *accum_device (a single float in backend memory).
  virtual absl::Status SumSquares(float* accum_device, const float* x, size_t n) = 0;
  // AdamW with decoupled weight decay on params[n]. When mask is non-null (0/1 floats), masked
  // elements (mask == 0) are forced to exactly zero in params, m and v after the step.
  virtual absl::Status AdamW(float* params, const float* grads, float* m, float* v,
                             const float* mask, size_t n, const AdamWParams& p) = 0;
  // x *= mask (re-zero pruned weights).
  virtual absl::Status ApplyMask(float* x, const float* mask, size_t n) = 0;

  // ---- pruning masks ----
  // mask[i] = 1 for the `keep` entries of largest |w| and 0 elsewhere. Ties are broken by the
  // lower index (deterministic). keep in [0, n].
  virtual absl::Status MagnitudeMask(float* mask, const float* w, size_t n, size_t keep) = 0;
  // Gradual n:m on w[rows, cols] (groups of m consecutive elements along a row; cols % m == 0):
  // the n largest |w| of every group are always kept; the rest of the `keep` budget is filled
  // by largest |w| among the other elements (ties by lower index). keep in [rows*cols*n/m,
  // rows*cols]. With keep == rows*cols*n/m the mask is exactly n:m.
  virtual absl::Status NmMask(float* mask, const float* w, int rows, int cols, int n, int m,
                              size_t keep) = 0;
  // Number of non-zeros of x[n] (exact, != 0.0f), written to *count.
  virtual absl::Status CountNonZero(int64_t* count, const float* x, size_t n) = 0;

  // ---- n:m structured-sparse products (for weights whose mask has frozen at n:m) ----
  // Whether the backend has a faster product for a weight [rows, cols] that is n:m along cols
  // (CUDA: 2:4 on sparse tensor cores, kernels/cuda/sparse24.h). The trainer uses the packed
  // product where this is true once the mask has frozen.
  virtual bool HasSparseMatmul(int rows, int cols, int n, int m) const {
    (void)rows, (void)cols, (void)n, (void)m;
    return false;
  }
  // Packs weight * mask ([rows, cols]; mask 0/1 with at most n kept in every group of m along
  // cols) into the backend's sparse layout. InvalidArgument when a group keeps more than n or
  // the backend cannot pack this shape or n:m; Unimplemented when it packs nothing.
  virtual absl::StatusOr<std::unique_ptr<PackedWeight>> PackSparseWeight(const float* weight,
                                                                         const float* mask,
                                                                         int rows, int cols, int n,
                                                                         int m) {
    (void)weight, (void)mask, (void)rows, (void)cols, (void)n, (void)m;
    return NoSparseMatmul();
  }
  // Re-packs new values of the same weight under the same mask (after an optimiser step).
  virtual absl::Status RepackSparseWeight(PackedWeight& packed, const float* weight,
                                          const float* mask) {
    (void)packed, (void)weight, (void)mask;
    return NoSparseMatmul();
  }
  // out[BT, rows] = inp[BT, cols] @ (weight * mask)^T + bias (bias may be null), with `packed`
  // from this backend's PackSparseWeight. Equals MatmulForward on the masked weight within the
  // backend's product precision.
  virtual absl::Status SparseMatmulForward(float* out, const float* inp, const PackedWeight& packed,
                                           const float* bias, int BT) {
    (void)out, (void)inp, (void)packed, (void)bias, (void)BT;
    return NoSparseMatmul();
  }

 private:
  // Defined here, not out of line: sparsescale_kernels_cuda implements Ops without linking
  // sparsescale_kernels (which links it), so Ops must need no symbol of its own.
  absl::Status NoSparseMatmul() const {
    return absl::UnimplementedError("the " + name() + " backend has no n:m-sparse product");
  }
};

// The CPU backend (always available). `threads` >= 1.
std::unique_ptr<Ops> MakeCpuOps(int threads = 1);

// True when a CUDA device is usable in this process (false when built without CUDA).
bool CudaAvailable();

// The CUDA backend, or Unavailable when no GPU / not built with CUDA.
absl::StatusOr<std::unique_ptr<Ops>> MakeCudaOps(int device_index = 0);

// "cpu", "cuda" or "auto" (CUDA when available, else CPU).
absl::StatusOr<std::unique_ptr<Ops>> MakeOps(const std::string& device, int threads = 1);

}  // namespace sparsescale::kernels
