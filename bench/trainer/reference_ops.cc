#include "bench/trainer/reference_ops.h"

#include <cstdlib>
#include <cstring>

#include "kernels/cpu/reference.h"

namespace sparsescale::bench {
namespace {

namespace ref = kernels::reference;
using absl::OkStatus;
using absl::Status;

class HostBuffer final : public kernels::DeviceBuffer {
 public:
  explicit HostBuffer(size_t bytes)
      : data_(std::calloc(std::max<size_t>(bytes, 1), 1)), bytes_(bytes) {}
  ~HostBuffer() override { std::free(data_); }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  void* data() override { return data_; }
  size_t bytes() const override { return bytes_; }

 private:
  void* data_;
  size_t bytes_;
};

class ReferenceOps final : public kernels::Ops {
 public:
  std::string name() const override { return "reference"; }
  absl::StatusOr<std::unique_ptr<kernels::DeviceBuffer>> Allocate(size_t bytes) override {
    return std::unique_ptr<kernels::DeviceBuffer>(new HostBuffer(bytes));
  }
  Status CopyToDevice(void* dst, const void* src, size_t bytes) override {
    std::memmove(dst, src, bytes);
    return OkStatus();
  }
  Status CopyToHost(void* dst, const void* src, size_t bytes) override {
    std::memmove(dst, src, bytes);
    return OkStatus();
  }
  Status CopyDeviceToDevice(void* dst, const void* src, size_t bytes) override {
    std::memmove(dst, src, bytes);
    return OkStatus();
  }
  Status Fill(float* x, float value, size_t n) override {
    std::fill(x, x + n, value);
    return OkStatus();
  }
  Status Gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
              const float* B, int ldb, float beta, float* C, int ldc) override {
    ref::Gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return OkStatus();
  }
  Status MatmulForward(float* out, const float* inp, const float* w, const float* bias, int BT,
                       int C, int OC) override {
    ref::MatmulForward(out, inp, w, bias, BT, C, OC);
    return OkStatus();
  }
  Status MatmulBackward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                        const float* w, int BT, int C, int OC) override {
    ref::MatmulBackward(dinp, dw, db, dout, inp, w, BT, C, OC);
    return OkStatus();
  }
  Status LayerNormForward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                          const float* b, int N, int C, float eps) override {
    ref::LayerNormForward(out, mean, rstd, inp, w, b, N, C, eps);
    return OkStatus();
  }
  Status LayerNormBackward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                           const float* w, const float* mean, const float* rstd, int N,
                           int C) override {
    ref::LayerNormBackward(dinp, dw, db, dout, inp, w, mean, rstd, N, C);
    return OkStatus();
  }
  Status GeluForward(float* out, const float* inp, size_t n) override {
    ref::GeluForward(out, inp, n);
    return OkStatus();
  }
  Status GeluBackward(float* dinp, const float* inp, const float* dout, size_t n) override {
    ref::GeluBackward(dinp, inp, dout, n);
    return OkStatus();
  }
  Status ResidualForward(float* out, const float* a, const float* b, size_t n) override {
    ref::ResidualForward(out, a, b, n);
    return OkStatus();
  }
  Status Accumulate(float* y, const float* x, size_t n) override {
    ref::Accumulate(y, x, n);
    return OkStatus();
  }
  Status EncoderForward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                        int B, int T, int C, int) override {
    ref::EncoderForward(out, tokens, wte, wpe, B, T, C);
    return OkStatus();
  }
  Status EncoderBackward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B,
                         int T, int C) override {
    ref::EncoderBackward(dwte, dwpe, dout, tokens, B, T, C);
    return OkStatus();
  }
  Status AttentionForward(float* out, float* att, const float* qkv,
                          const kernels::AttentionShape& s) override {
    ref::AttentionForward(out, att, qkv, s.B, s.T, s.NH, s.HS);
    return OkStatus();
  }
  Status AttentionBackward(float* dqkv, float*, const float* dout, const float* qkv, const float*,
                           const float* att, const kernels::AttentionShape& s) override {
    ref::AttentionBackward(dqkv, dout, qkv, att, s.B, s.T, s.NH, s.HS);
    return OkStatus();
  }
  Status CrossEntropyForwardBackward(float* losses, float* dlogits, const float* logits,
                                     const int32_t* targets, int BT, int V, int Vp,
                                     float scale) override {
    ref::CrossEntropyForwardBackward(losses, dlogits, logits, targets, BT, V, Vp, scale);
    return OkStatus();
  }
  Status SumSquares(float* accum, const float* x, size_t n) override {
    ref::SumSquares(accum, x, n);
    return OkStatus();
  }
  Status AdamW(float* params, const float* grads, float* m, float* v, const float* mask, size_t n,
               const kernels::AdamWParams& p) override {
    ref::AdamW(params, grads, m, v, mask, n, p.lr, p.beta1, p.beta2, p.eps, p.weight_decay, p.step,
               p.grad_scale);
    return OkStatus();
  }
  Status ApplyMask(float* x, const float* mask, size_t n) override {
    ref::ApplyMask(x, mask, n);
    return OkStatus();
  }
  Status MagnitudeMask(float* mask, const float* w, size_t n, size_t keep) override {
    ref::MagnitudeMask(mask, w, n, keep);
    return OkStatus();
  }
  Status NmMask(float* mask, const float* w, int rows, int cols, int n, int m,
                size_t keep) override {
    ref::NmMask(mask, w, rows, cols, n, m, keep);
    return OkStatus();
  }
  Status CountNonZero(int64_t* count, const float* x, size_t n) override {
    *count = ref::CountNonZero(x, n);
    return OkStatus();
  }
};

}  // namespace

std::unique_ptr<kernels::Ops> MakeReferenceOps() { return std::make_unique<ReferenceOps>(); }

}  // namespace sparsescale::bench
