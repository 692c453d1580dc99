// The CPU backend: CpuOps checks every argument against ops.h, then calls the fp32 kernels of
// cpu_kernels.h. Host memory is the "device" memory, so the copies are memcpy/memmove.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/ops.h"

namespace sparsescale::kernels {
namespace {

constexpr size_t kAlignmentBytes = 64;

// 64-byte aligned, zero-filled host memory.
class CpuBuffer final : public DeviceBuffer {
 public:
  CpuBuffer(void* data, size_t bytes) : data_(data), bytes_(bytes) {}
  ~CpuBuffer() override { std::free(data_); }
  CpuBuffer(const CpuBuffer&) = delete;
  CpuBuffer& operator=(const CpuBuffer&) = delete;
  void* data() override { return data_; }
  size_t bytes() const override { return bytes_; }

 private:
  void* data_;
  size_t bytes_;
};

// The CPU's n:m "packed" weight is the masked weight itself, dense: the CPU has no faster
// sparse product (HasSparseMatmul is false), so packing exists as the reference the CUDA
// layout is checked against and so the trainer's frozen-mask path runs on every backend.
class CpuPackedWeight final : public PackedWeight {
 public:
  std::vector<float> masked;  // [rows, cols]
  int n = 0;
  int m = 0;
};

absl::Status Invalid(const char* op, const char* arg, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(op, ": ", arg, ": ", problem));
}

absl::Status NotNull(const char* op, const char* arg, const void* p) {
  return p != nullptr ? absl::OkStatus() : Invalid(op, arg, "must not be null");
}

absl::Status AtLeast(const char* op, const char* arg, int64_t value, int64_t min) {
  if (value >= min) {
    return absl::OkStatus();
  }
  return Invalid(op, arg, absl::StrCat("must be >= ", min, ", got ", value));
}

// Every listed pointer must be non-null; names and pointers alternate.
template <typename... Rest>
absl::Status AllNotNull(const char* op, const char* arg, const void* p, Rest... rest) {
  RETURN_IF_ERROR(NotNull(op, arg, p));
  if constexpr (sizeof...(rest) > 0) {
    return AllNotNull(op, rest...);
  } else {
    return absl::OkStatus();
  }
}

// Element-wise ops accept null pointers only when there is nothing to touch.
template <typename... Rest>
absl::Status BuffersFor(size_t n, const char* op, Rest... rest) {
  return n == 0 ? absl::OkStatus() : AllNotNull(op, rest...);
}

absl::Status IndicesInRange(const char* op, const char* arg, const int32_t* idx, size_t n,
                            int64_t limit) {
  for (size_t i = 0; i < n; ++i) {
    if (idx[i] < 0 || idx[i] >= limit) {
      return Invalid(op, arg,
                     absl::StrCat("entry ", i, " is ", idx[i], ", outside [0, ", limit, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status NoNaN(const char* op, const char* arg, const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) {
      return Invalid(op, arg, absl::StrCat("entry ", i, " is NaN"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckGemm(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda,
                       const float* B, int ldb, const float* C, int ldc) {
  constexpr const char* kOp = "Gemm";
  RETURN_IF_ERROR(AtLeast(kOp, "M", M, 0));
  RETURN_IF_ERROR(AtLeast(kOp, "N", N, 0));
  RETURN_IF_ERROR(AtLeast(kOp, "K", K, 0));
  RETURN_IF_ERROR(AtLeast(kOp, "lda", lda, std::max(1, trans_a ? M : K)));
  RETURN_IF_ERROR(AtLeast(kOp, "ldb", ldb, std::max(1, trans_b ? K : N)));
  RETURN_IF_ERROR(AtLeast(kOp, "ldc", ldc, std::max(1, N)));
  if (M > 0 && N > 0) {
    RETURN_IF_ERROR(NotNull(kOp, "C", C));
    if (K > 0) {
      RETURN_IF_ERROR(AllNotNull(kOp, "A", A, "B", B));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckAttention(const char* op, const AttentionShape& s) {
  RETURN_IF_ERROR(AtLeast(op, "shape.B", s.B, 1));
  RETURN_IF_ERROR(AtLeast(op, "shape.T", s.T, 1));
  RETURN_IF_ERROR(AtLeast(op, "shape.NH", s.NH, 1));
  return AtLeast(op, "shape.HS", s.HS, 1);
}

absl::Status CheckAdamW(const AdamWParams& p) {
  constexpr const char* kOp = "AdamW";
  if (!(p.beta1 >= 0.0f && p.beta1 < 1.0f)) {
    return Invalid(kOp, "p.beta1", absl::StrCat("must be in [0, 1), got ", p.beta1));
  }
  if (!(p.beta2 >= 0.0f && p.beta2 < 1.0f)) {
    return Invalid(kOp, "p.beta2", absl::StrCat("must be in [0, 1), got ", p.beta2));
  }
  if (!(p.eps > 0.0f)) {
    return Invalid(kOp, "p.eps", absl::StrCat("must be > 0, got ", p.eps));
  }
  if (!std::isfinite(p.lr) || !std::isfinite(p.weight_decay) || !std::isfinite(p.grad_scale)) {
    return Invalid(kOp, "p", "lr, weight_decay and grad_scale must be finite");
  }
  return AtLeast(kOp, "p.step", p.step, 1);
}

absl::Status CheckNmMask(const float* mask, const float* w, int rows, int cols, int n, int m,
                         size_t keep) {
  constexpr const char* kOp = "NmMask";
  RETURN_IF_ERROR(AllNotNull(kOp, "mask", mask, "w", w));
  RETURN_IF_ERROR(AtLeast(kOp, "rows", rows, 1));
  RETURN_IF_ERROR(AtLeast(kOp, "cols", cols, 1));
  RETURN_IF_ERROR(AtLeast(kOp, "m", m, 1));
  RETURN_IF_ERROR(AtLeast(kOp, "n", n, 0));
  if (n > m) {
    return Invalid(kOp, "n", absl::StrCat("must be <= m (", m, "), got ", n));
  }
  if (cols % m != 0) {
    return Invalid(kOp, "cols", absl::StrCat("must be a multiple of m (", m, "), got ", cols));
  }
  const size_t total = static_cast<size_t>(rows) * static_cast<size_t>(cols);
  if (total > 0xFFFFFFFFull) {
    return Invalid(kOp, "rows*cols", "must be < 2^32");
  }
  const size_t guaranteed = total / static_cast<size_t>(m) * static_cast<size_t>(n);
  if (keep < guaranteed || keep > total) {
    return Invalid(kOp, "keep",
                   absl::StrCat("must be in [", guaranteed, ", ", total, "], got ", keep));
  }
  return NoNaN(kOp, "w", w, total);
}

class CpuOps final : public Ops {
 public:
  explicit CpuOps(int threads) : threads_(threads < 1 ? 1 : threads) {}

  std::string name() const override { return "cpu"; }

  absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) override {
    const size_t rounded = (bytes + kAlignmentBytes - 1) / kAlignmentBytes * kAlignmentBytes;
    if (rounded < bytes) {
      return absl::ResourceExhaustedError(absl::StrCat("Allocate: ", bytes, " bytes is too many"));
    }
    void* p = std::aligned_alloc(kAlignmentBytes, rounded == 0 ? kAlignmentBytes : rounded);
    if (p == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("Allocate: out of host memory for ", bytes, " bytes"));
    }
    std::memset(p, 0, rounded == 0 ? kAlignmentBytes : rounded);
    return std::unique_ptr<DeviceBuffer>(std::make_unique<CpuBuffer>(p, bytes));
  }

  absl::Status CopyToDevice(void* dst, const void* host_src, size_t bytes) override {
    RETURN_IF_ERROR(BuffersFor(bytes, "CopyToDevice", "dst", dst, "host_src", host_src));
    CopyBytes(dst, host_src, bytes);
    return absl::OkStatus();
  }

  absl::Status CopyToHost(void* host_dst, const void* src, size_t bytes) override {
    RETURN_IF_ERROR(BuffersFor(bytes, "CopyToHost", "host_dst", host_dst, "src", src));
    CopyBytes(host_dst, src, bytes);
    return absl::OkStatus();
  }

  absl::Status CopyDeviceToDevice(void* dst, const void* src, size_t bytes) override {
    RETURN_IF_ERROR(BuffersFor(bytes, "CopyDeviceToDevice", "dst", dst, "src", src));
    CopyBytes(dst, src, bytes);
    return absl::OkStatus();
  }

  absl::Status Fill(float* x, float value, size_t n) override {
    RETURN_IF_ERROR(BuffersFor(n, "Fill", "x", x));
    cpu::Fill(x, value, n);
    return absl::OkStatus();
  }

  absl::Status Gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                    int lda, const float* B, int ldb, float beta, float* C, int ldc) override {
    RETURN_IF_ERROR(CheckGemm(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc));
    if (M > 0 && N > 0) {
      cpu::Gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads_);
    }
    return absl::OkStatus();
  }

  absl::Status MatmulForward(float* out, const float* inp, const float* weight, const float* bias,
                             int BT, int C, int OC) override {
    constexpr const char* kOp = "MatmulForward";
    RETURN_IF_ERROR(AllNotNull(kOp, "out", out, "inp", inp, "weight", weight));
    RETURN_IF_ERROR(Positive(kOp, "BT", BT, "C", C, "OC", OC));
    cpu::MatmulForward(out, inp, weight, bias, BT, C, OC, threads_);
    return absl::OkStatus();
  }

  absl::Status MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                              const float* inp, const float* weight, int BT, int C,
                              int OC) override {
    constexpr const char* kOp = "MatmulBackward";
    RETURN_IF_ERROR(AllNotNull(kOp, "dweight", dweight, "dout", dout, "inp", inp));
    if (dinp != nullptr) {
      RETURN_IF_ERROR(NotNull(kOp, "weight", weight));
    }
    RETURN_IF_ERROR(Positive(kOp, "BT", BT, "C", C, "OC", OC));
    cpu::MatmulBackward(dinp, dweight, dbias, dout, inp, weight, BT, C, OC, threads_);
    return absl::OkStatus();
  }

  absl::Status LayerNormForward(float* out, float* mean, float* rstd, const float* inp,
                                const float* weight, const float* bias, int N, int C,
                                float eps) override {
    constexpr const char* kOp = "LayerNormForward";
    RETURN_IF_ERROR(AllNotNull(kOp, "out", out, "mean", mean, "rstd", rstd, "inp", inp, "weight",
                               weight, "bias", bias));
    RETURN_IF_ERROR(AtLeast(kOp, "N", N, 1));
    RETURN_IF_ERROR(AtLeast(kOp, "C", C, 1));
    if (!(eps >= 0.0f)) {
      return Invalid(kOp, "eps", absl::StrCat("must be >= 0, got ", eps));
    }
    cpu::LayerNormForward(out, mean, rstd, inp, weight, bias, N, C, eps);
    return absl::OkStatus();
  }

  absl::Status LayerNormBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                                 const float* inp, const float* weight, const float* mean,
                                 const float* rstd, int N, int C) override {
    constexpr const char* kOp = "LayerNormBackward";
    RETURN_IF_ERROR(AllNotNull(kOp, "dinp", dinp, "dweight", dweight, "dbias", dbias, "dout", dout,
                               "inp", inp, "weight", weight, "mean", mean, "rstd", rstd));
    RETURN_IF_ERROR(AtLeast(kOp, "N", N, 1));
    RETURN_IF_ERROR(AtLeast(kOp, "C", C, 1));
    cpu::LayerNormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
    return absl::OkStatus();
  }

  absl::Status GeluForward(float* out, const float* inp, size_t n) override {
    RETURN_IF_ERROR(BuffersFor(n, "GeluForward", "out", out, "inp", inp));
    cpu::GeluForward(out, inp, n);
    return absl::OkStatus();
  }

  absl::Status GeluBackward(float* dinp, const float* inp, const float* dout, size_t n) override {
    RETURN_IF_ERROR(BuffersFor(n, "GeluBackward", "dinp", dinp, "inp", inp, "dout", dout));
    cpu::GeluBackward(dinp, inp, dout, n);
    return absl::OkStatus();
  }

  absl::Status ResidualForward(float* out, const float* a, const float* b, size_t n) override {
    RETURN_IF_ERROR(BuffersFor(n, "ResidualForward", "out", out, "a", a, "b", b));
    cpu::ResidualForward(out, a, b, n);
    return absl::OkStatus();
  }

  absl::Status Accumulate(float* y, const float* x, size_t n) override {
    RETURN_IF_ERROR(BuffersFor(n, "Accumulate", "y", y, "x", x));
    cpu::Accumulate(y, x, n);
    return absl::OkStatus();
  }

  absl::Status EncoderForward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                              int B, int T, int C, int V) override {
    constexpr const char* kOp = "EncoderForward";
    RETURN_IF_ERROR(AllNotNull(kOp, "out", out, "tokens", tokens, "wte", wte, "wpe", wpe));
    RETURN_IF_ERROR(Positive(kOp, "B", B, "T", T, "C", C));
    RETURN_IF_ERROR(AtLeast(kOp, "V", V, 1));
    RETURN_IF_ERROR(IndicesInRange(kOp, "tokens", tokens, static_cast<size_t>(B) * T, V));
    cpu::EncoderForward(out, tokens, wte, wpe, B, T, C);
    return absl::OkStatus();
  }

  absl::Status EncoderBackward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                               int B, int T, int C) override {
    constexpr const char* kOp = "EncoderBackward";
    RETURN_IF_ERROR(AllNotNull(kOp, "dwte", dwte, "dwpe", dwpe, "dout", dout, "tokens", tokens));
    RETURN_IF_ERROR(Positive(kOp, "B", B, "T", T, "C", C));
    // The vocabulary size is not passed, so only the lower bound can be checked here.
    RETURN_IF_ERROR(IndicesInRange(kOp, "tokens", tokens, static_cast<size_t>(B) * T, INT32_MAX));
    cpu::EncoderBackward(dwte, dwpe, dout, tokens, B, T, C);
    return absl::OkStatus();
  }

  absl::Status AttentionForward(float* out, float* att, const float* qkv,
                                const AttentionShape& s) override {
    constexpr const char* kOp = "AttentionForward";
    RETURN_IF_ERROR(AllNotNull(kOp, "out", out, "att", att, "qkv", qkv));
    RETURN_IF_ERROR(CheckAttention(kOp, s));
    cpu::AttentionForward(out, att, qkv, s, threads_);
    return absl::OkStatus();
  }

  // `out` is checked but not needed: the CPU keeps the probabilities in `att`.
  absl::Status AttentionBackward(float* dqkv, float* datt_scratch, const float* dout,
                                 const float* qkv, const float* out, const float* att,
                                 const AttentionShape& s) override {
    constexpr const char* kOp = "AttentionBackward";
    RETURN_IF_ERROR(AllNotNull(kOp, "dqkv", dqkv, "datt_scratch", datt_scratch, "dout", dout, "qkv",
                               qkv, "out", out, "att", att));
    RETURN_IF_ERROR(CheckAttention(kOp, s));
    cpu::AttentionBackward(dqkv, datt_scratch, dout, qkv, att, s, threads_);
    return absl::OkStatus();
  }

  absl::Status CrossEntropyForwardBackward(float* losses, float* dlogits, const float* logits,
                                           const int32_t* targets, int BT, int V, int Vp,
                                           float dloss_scale) override {
    constexpr const char* kOp = "CrossEntropyForwardBackward";
    RETURN_IF_ERROR(AllNotNull(kOp, "losses", losses, "logits", logits, "targets", targets));
    RETURN_IF_ERROR(AtLeast(kOp, "BT", BT, 1));
    RETURN_IF_ERROR(AtLeast(kOp, "V", V, 1));
    RETURN_IF_ERROR(AtLeast(kOp, "Vp", Vp, V));
    RETURN_IF_ERROR(IndicesInRange(kOp, "targets", targets, static_cast<size_t>(BT), V));
    cpu::CrossEntropyForwardBackward(losses, dlogits, logits, targets, BT, V, Vp, dloss_scale);
    return absl::OkStatus();
  }

  absl::Status SumSquares(float* accum_device, const float* x, size_t n) override {
    RETURN_IF_ERROR(NotNull("SumSquares", "accum_device", accum_device));
    RETURN_IF_ERROR(BuffersFor(n, "SumSquares", "x", x));
    *accum_device += static_cast<float>(cpu::SumSquares(x, n));
    return absl::OkStatus();
  }

  absl::Status AdamW(float* params, const float* grads, float* m, float* v, const float* mask,
                     size_t n, const AdamWParams& p) override {
    RETURN_IF_ERROR(BuffersFor(n, "AdamW", "params", params, "grads", grads, "m", m, "v", v));
    RETURN_IF_ERROR(CheckAdamW(p));
    cpu::AdamW(params, grads, m, v, mask, n, p);
    return absl::OkStatus();
  }

  absl::Status ApplyMask(float* x, const float* mask, size_t n) override {
    RETURN_IF_ERROR(BuffersFor(n, "ApplyMask", "x", x, "mask", mask));
    cpu::ApplyMask(x, mask, n);
    return absl::OkStatus();
  }

  absl::Status MagnitudeMask(float* mask, const float* w, size_t n, size_t keep) override {
    constexpr const char* kOp = "MagnitudeMask";
    RETURN_IF_ERROR(BuffersFor(n, kOp, "mask", mask, "w", w));
    if (keep > n) {
      return Invalid(kOp, "keep", absl::StrCat("must be in [0, n=", n, "], got ", keep));
    }
    if (n > 0xFFFFFFFFull) {
      return Invalid(kOp, "n", "must be < 2^32");
    }
    RETURN_IF_ERROR(NoNaN(kOp, "w", w, n));
    cpu::MagnitudeMask(mask, w, n, keep);
    return absl::OkStatus();
  }

  absl::Status NmMask(float* mask, const float* w, int rows, int cols, int n, int m,
                      size_t keep) override {
    RETURN_IF_ERROR(CheckNmMask(mask, w, rows, cols, n, m, keep));
    cpu::NmMask(mask, w, rows, cols, n, m, keep);
    return absl::OkStatus();
  }

  absl::Status CountNonZero(int64_t* count, const float* x, size_t n) override {
    RETURN_IF_ERROR(NotNull("CountNonZero", "count", count));
    RETURN_IF_ERROR(BuffersFor(n, "CountNonZero", "x", x));
    *count = cpu::CountNonZero(x, n);
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<PackedWeight>> PackSparseWeight(const float* weight,
                                                                 const float* mask, int rows,
                                                                 int cols, int n, int m) override {
    constexpr const char* kOp = "PackSparseWeight";
    RETURN_IF_ERROR(AllNotNull(kOp, "weight", weight, "mask", mask));
    RETURN_IF_ERROR(Positive(kOp, "rows", rows, "cols", cols, "n", n));
    if (m <= n || cols % m != 0) {
      return Invalid(kOp, "m",
                     absl::StrCat("must exceed n (", n, ") and divide cols (", cols, "), got ", m));
    }
    auto packed = std::make_unique<CpuPackedWeight>();
    packed->rows = rows;
    packed->cols = cols;
    packed->n = n;
    packed->m = m;
    RETURN_IF_ERROR(Repack(*packed, weight, mask));
    return std::unique_ptr<PackedWeight>(std::move(packed));
  }

  absl::Status RepackSparseWeight(PackedWeight& packed, const float* weight,
                                  const float* mask) override {
    auto* cpu_packed = dynamic_cast<CpuPackedWeight*>(&packed);
    if (cpu_packed == nullptr) {
      return Invalid("RepackSparseWeight", "packed", "was not packed by the cpu backend");
    }
    RETURN_IF_ERROR(AllNotNull("RepackSparseWeight", "weight", weight, "mask", mask));
    return Repack(*cpu_packed, weight, mask);
  }

  absl::Status SparseMatmulForward(float* out, const float* inp, const PackedWeight& packed,
                                   const float* bias, int BT) override {
    constexpr const char* kOp = "SparseMatmulForward";
    const auto* cpu_packed = dynamic_cast<const CpuPackedWeight*>(&packed);
    if (cpu_packed == nullptr) {
      return Invalid(kOp, "packed", "was not packed by the cpu backend");
    }
    RETURN_IF_ERROR(AllNotNull(kOp, "out", out, "inp", inp));
    RETURN_IF_ERROR(Positive(kOp, "BT", BT));
    cpu::MatmulForward(out, inp, cpu_packed->masked.data(), bias, BT, packed.cols, packed.rows,
                       threads_);
    return absl::OkStatus();
  }

 private:
  // masked = weight * mask, refusing a group of m that keeps more than n.
  static absl::Status Repack(CpuPackedWeight& packed, const float* weight, const float* mask) {
    const size_t size = static_cast<size_t>(packed.rows) * packed.cols;
    packed.masked.resize(size);
    for (size_t g = 0; g < size; g += static_cast<size_t>(packed.m)) {
      int kept = 0;
      for (int i = 0; i < packed.m; ++i) {
        kept += mask[g + i] != 0.0f ? 1 : 0;
        packed.masked[g + i] = mask[g + i] != 0.0f ? weight[g + i] : 0.0f;
      }
      if (kept > packed.n) {
        return Invalid(
            "PackSparseWeight", "mask",
            absl::StrCat("row ", g / packed.cols, " keeps ", kept, " of the ", packed.m,
                         " weights from column ", g % packed.cols, " (at most ", packed.n, ")"));
      }
    }
    return absl::OkStatus();
  }

  // memmove: a copy onto itself or between overlapping host ranges stays well defined.
  static void CopyBytes(void* dst, const void* src, size_t bytes) {
    if (bytes > 0 && dst != src) {
      std::memmove(dst, src, bytes);
    }
  }

  // Every named size must be >= 1; names and values alternate.
  template <typename... Rest>
  static absl::Status Positive(const char* op, const char* arg, int64_t value, Rest... rest) {
    RETURN_IF_ERROR(AtLeast(op, arg, value, 1));
    if constexpr (sizeof...(rest) > 0) {
      return Positive(op, rest...);
    } else {
      return absl::OkStatus();
    }
  }

  int threads_;
};

}  // namespace

std::unique_ptr<Ops> MakeCpuOps(int threads) { return std::make_unique<CpuOps>(threads); }

}  // namespace sparsescale::kernels
