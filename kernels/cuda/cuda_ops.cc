// CudaOps: the Ops interface over the launchers in kernels/cuda/*.cu.
#include "kernels/cuda/cuda_ops.h"

#include <cuda_runtime_api.h>

#include <string>

#include "common/status.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/sparse24.h"

namespace sparsescale::kernels::cuda {
namespace {

// A 2:4 weight in the layout of the sparse tensor-core kernel (sparse24.h).
class CudaPackedWeight final : public PackedWeight {
 public:
  Sparse24Weight sparse;
};

class CudaOps final : public Ops {
 public:
  explicit CudaOps(std::unique_ptr<CudaContext> ctx) : ctx_(std::move(ctx)) {}

  CudaContext& context() { return *ctx_; }

  std::string name() const override { return "cuda"; }

  absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) override {
    ASSIGN_OR_RETURN(std::unique_ptr<CudaBuffer> buffer, CudaBuffer::Create(bytes));
    return std::unique_ptr<DeviceBuffer>(std::move(buffer));
  }

  absl::Status CopyToDevice(void* dst, const void* host_src, size_t bytes) override {
    return Copy(dst, host_src, bytes, cudaMemcpyHostToDevice, "CopyToDevice");
  }

  absl::Status CopyToHost(void* host_dst, const void* src, size_t bytes) override {
    RETURN_IF_ERROR(Copy(host_dst, src, bytes, cudaMemcpyDeviceToHost, "CopyToHost"));
    CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(ctx_->stream()));
    return absl::OkStatus();
  }

  absl::Status CopyDeviceToDevice(void* dst, const void* src, size_t bytes) override {
    return Copy(dst, src, bytes, cudaMemcpyDeviceToDevice, "CopyDeviceToDevice");
  }

  absl::Status Fill(float* x, float value, size_t n) override {
    return LaunchFill(*ctx_, x, value, n);
  }

  absl::Status Gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                    int lda, const float* B, int ldb, float beta, float* C, int ldc) override {
    return LaunchGemm(*ctx_, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }

  absl::Status MatmulForward(float* out, const float* inp, const float* weight, const float* bias,
                             int BT, int C, int OC) override {
    return LaunchMatmulForward(*ctx_, out, inp, weight, bias, BT, C, OC);
  }

  absl::Status MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                              const float* inp, const float* weight, int BT, int C,
                              int OC) override {
    return LaunchMatmulBackward(*ctx_, dinp, dweight, dbias, dout, inp, weight, BT, C, OC);
  }

  absl::Status LayerNormForward(float* out, float* mean, float* rstd, const float* inp,
                                const float* weight, const float* bias, int N, int C,
                                float eps) override {
    return LaunchLayerNormForward(*ctx_, out, mean, rstd, inp, weight, bias, N, C, eps);
  }

  absl::Status LayerNormBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                                 const float* inp, const float* weight, const float* mean,
                                 const float* rstd, int N, int C) override {
    return LaunchLayerNormBackward(*ctx_, dinp, dweight, dbias, dout, inp, weight, mean, rstd, N,
                                   C);
  }

  absl::Status GeluForward(float* out, const float* inp, size_t n) override {
    return LaunchGeluForward(*ctx_, out, inp, n);
  }

  absl::Status GeluBackward(float* dinp, const float* inp, const float* dout, size_t n) override {
    return LaunchGeluBackward(*ctx_, dinp, inp, dout, n);
  }

  absl::Status ResidualForward(float* out, const float* a, const float* b, size_t n) override {
    return LaunchResidualForward(*ctx_, out, a, b, n);
  }

  absl::Status Accumulate(float* y, const float* x, size_t n) override {
    return LaunchAccumulate(*ctx_, y, x, n);
  }

  absl::Status EncoderForward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                              int B, int T, int C, int V) override {
    return LaunchEncoderForward(*ctx_, out, tokens, wte, wpe, B, T, C, V);
  }

  absl::Status EncoderBackward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                               int B, int T, int C) override {
    return LaunchEncoderBackward(*ctx_, dwte, dwpe, dout, tokens, B, T, C);
  }

  absl::Status AttentionForward(float* out, float* att, const float* qkv,
                                const AttentionShape& s) override {
    return LaunchAttentionForward(*ctx_, out, att, qkv, s);
  }

  absl::Status AttentionBackward(float* dqkv, float* datt_scratch, const float* dout,
                                 const float* qkv, const float* out, const float* att,
                                 const AttentionShape& s) override {
    return LaunchAttentionBackward(*ctx_, dqkv, datt_scratch, dout, qkv, out, att, s);
  }

  absl::Status CrossEntropyForwardBackward(float* losses, float* dlogits, const float* logits,
                                           const int32_t* targets, int BT, int V, int Vp,
                                           float dloss_scale) override {
    return LaunchCrossEntropy(*ctx_, losses, dlogits, logits, targets, BT, V, Vp, dloss_scale);
  }

  absl::Status SumSquares(float* accum_device, const float* x, size_t n) override {
    return LaunchSumSquares(*ctx_, accum_device, x, n);
  }

  absl::Status AdamW(float* params, const float* grads, float* m, float* v, const float* mask,
                     size_t n, const AdamWParams& p) override {
    return LaunchAdamW(*ctx_, params, grads, m, v, mask, n, p);
  }

  absl::Status ApplyMask(float* x, const float* mask, size_t n) override {
    return LaunchApplyMask(*ctx_, x, mask, n);
  }

  absl::Status MagnitudeMask(float* mask, const float* w, size_t n, size_t keep) override {
    return LaunchMagnitudeMask(*ctx_, mask, w, n, keep);
  }

  absl::Status NmMask(float* mask, const float* w, int rows, int cols, int n, int m,
                      size_t keep) override {
    return LaunchNmMask(*ctx_, mask, w, rows, cols, n, m, keep);
  }

  absl::Status CountNonZero(int64_t* count, const float* x, size_t n) override {
    return LaunchCountNonZero(*ctx_, count, x, n);
  }

  size_t AttentionStateFloats(const AttentionShape& s) const override {
    return static_cast<size_t>(s.B) * s.NH * s.T;  // one logsumexp per query row
  }

  bool HasSparseMatmul(int rows, int cols, int n, int m) const override {
    return n == 2 && m == 4 && Sparse24ShapeSupported(rows, cols);
  }

  absl::StatusOr<std::unique_ptr<PackedWeight>> PackSparseWeight(const float* weight,
                                                                 const float* mask, int rows,
                                                                 int cols, int n, int m) override {
    if (n != 2 || m != 4) {
      return absl::InvalidArgumentError(
          "PackSparseWeight: n:m: the CUDA backend packs 2:4 only, got " + std::to_string(n) + ":" +
          std::to_string(m));
    }
    auto packed = std::make_unique<CudaPackedWeight>();
    ASSIGN_OR_RETURN(packed->sparse, CompressSparse24(*this, weight, mask, rows, cols));
    packed->rows = rows;
    packed->cols = cols;
    return std::unique_ptr<PackedWeight>(std::move(packed));
  }

  absl::Status RepackSparseWeight(PackedWeight& packed, const float* weight,
                                  const float* mask) override {
    auto* cuda_packed = dynamic_cast<CudaPackedWeight*>(&packed);
    if (cuda_packed == nullptr) {
      return absl::InvalidArgumentError(
          "RepackSparseWeight: packed: not packed by the CUDA backend");
    }
    return RecompressSparse24(*this, cuda_packed->sparse, weight, mask, /*check_mask=*/false);
  }

  absl::Status SparseMatmulForward(float* out, const float* inp, const PackedWeight& packed,
                                   const float* bias, int BT) override {
    const auto* cuda_packed = dynamic_cast<const CudaPackedWeight*>(&packed);
    if (cuda_packed == nullptr) {
      return absl::InvalidArgumentError(
          "SparseMatmulForward: packed: not packed by the CUDA backend");
    }
    return Sparse24MatmulForward(*this, out, inp, cuda_packed->sparse, bias, BT);
  }

 private:
  absl::Status Copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, const char* op) {
    if (bytes == 0) {
      return absl::OkStatus();
    }
    if (dst == nullptr || src == nullptr) {
      return absl::InvalidArgumentError(std::string(op) + ": dst and src must be non-null");
    }
    CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, bytes, kind, ctx_->stream()));
    return absl::OkStatus();
  }

  std::unique_ptr<CudaContext> ctx_;
};

}  // namespace

int DeviceCount() {
  int count = 0;  // cudaGetDeviceCount leaves it unwritten on error (e.g. no driver)
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

absl::StatusOr<std::unique_ptr<Ops>> MakeCudaOps(int device_index) {
  ASSIGN_OR_RETURN(std::unique_ptr<CudaContext> ctx, CudaContext::Create(device_index));
  return std::unique_ptr<Ops>(std::make_unique<CudaOps>(std::move(ctx)));
}

CudaContext* ContextOf(Ops& ops) {
  CudaOps* cuda = dynamic_cast<CudaOps*>(&ops);
  return cuda == nullptr ? nullptr : &cuda->context();
}

absl::Status SetFp32Attention(Ops& ops, bool on) {
  CudaContext* ctx = ContextOf(ops);
  if (ctx == nullptr) {
    return absl::InvalidArgumentError("SetFp32Attention: ops is not the CUDA backend");
  }
  ctx->set_fp32_attention(on);
  return absl::OkStatus();
}

}  // namespace sparsescale::kernels::cuda
