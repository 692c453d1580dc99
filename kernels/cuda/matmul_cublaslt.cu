// Matrix products through cuBLASLt with bf16 operands and fp32 accumulation and output.
//
// The Ops interface passes fp32 arrays (fp32 master weights, fp32 activations), so every
// product first converts its operands to bf16 in one fused launch into cached scratch buffers,
// then runs cuBLASLt. That conversion reads 4 bytes and writes 2 per operand element: for the
// GPT's weight products it costs roughly as much memory traffic as the product itself reads.
// A bf16-activation path (activations kept in bf16 by the trainer, weights converted once per
// optimiser step) would remove it; it needs bf16 variants of the layer ops, not just here.
//
// Row-major to column-major: cuBLASLt is column-major, and a row-major C = op(A) op(B) is the
// column-major C^T = op(B)^T op(A)^T, so the product is issued with the operands swapped.
#include <cuda_bf16.h>

#include <memory>
#include <string>

#include "common/status.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace sparsescale::kernels::cuda {
namespace {

constexpr size_t kLtWorkspaceBytes = size_t{32} << 20;
constexpr int kBiasRowChunks = 64;

struct ConvertJob {
  const float* src;
  __nv_bfloat16* dst;
  size_t n;
};
struct ConvertJobs {
  ConvertJob job[3];
};

// One launch converts up to three arrays (blockIdx.y picks the array).
__global__ void ConvertToBf16Kernel(ConvertJobs jobs) {
  const ConvertJob job = jobs.job[blockIdx.y];
  const size_t n2 = job.n / 2;
  const float2* src2 = reinterpret_cast<const float2*>(job.src);
  __nv_bfloat162* dst2 = reinterpret_cast<__nv_bfloat162*>(job.dst);
  const bool aligned = (reinterpret_cast<uintptr_t>(job.src) % 8 == 0);
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n2;
       i += size_t{gridDim.x} * blockDim.x) {
    if (aligned) {
      dst2[i] = __float22bfloat162_rn(src2[i]);
    } else {
      dst2[i] = __floats2bfloat162_rn(job.src[2 * i], job.src[2 * i + 1]);
    }
  }
  if (job.n % 2 == 1 && blockIdx.x == 0 && threadIdx.x == 0) {
    job.dst[job.n - 1] = __float2bfloat16_rn(job.src[job.n - 1]);
  }
}

// partial[chunk][c] = column sums of dout over the chunk's rows (fixed order).
__global__ void BiasPartialKernel(float* partial, const float* dout, int rows, int cols) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) {
    return;
  }
  const int per_chunk = (rows + kBiasRowChunks - 1) / kBiasRowChunks;
  const int r0 = blockIdx.y * per_chunk;
  const int r1 = min(rows, r0 + per_chunk);
  float sum = 0.0f;
  for (int r = r0; r < r1; ++r) {
    sum += dout[static_cast<size_t>(r) * cols + c];
  }
  partial[static_cast<size_t>(blockIdx.y) * cols + c] = sum;
}

__global__ void BiasFinishKernel(float* dbias, const float* partial, int cols) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) {
    return;
  }
  float sum = 0.0f;
  for (int k = 0; k < kBiasRowChunks; ++k) {
    sum += partial[static_cast<size_t>(k) * cols + c];
  }
  dbias[c] += sum;
}

// out[r, c] += bias[c]: the fallback for a bias that cuBLASLt's epilogue cannot read (it
// assumes a 16-byte aligned vector).
__global__ void AddBiasKernel(float* out, const float* bias, size_t rows, int cols) {
  const size_t total = rows * static_cast<size_t>(cols);
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < total;
       i += size_t{gridDim.x} * blockDim.x) {
    out[i] += bias[i % cols];
  }
}

// Elements spanned by a row-major [rows, cols] matrix with leading dimension ld.
size_t Span(int rows, int cols, int ld) {
  return static_cast<size_t>(rows - 1) * static_cast<size_t>(ld) + static_cast<size_t>(cols);
}

absl::Status Convert(CudaContext& ctx, int count, const ConvertJob* jobs) {
  ConvertJobs all{};
  size_t longest = 0;
  for (int i = 0; i < count; ++i) {
    all.job[i] = jobs[i];
    longest = jobs[i].n > longest ? jobs[i].n : longest;
  }
  constexpr unsigned int kThreads = 256;
  unsigned int blocks = BlocksFor((longest + 1) / 2, kThreads);
  blocks = blocks < 4096u ? blocks : 4096u;
  ConvertToBf16Kernel<<<dim3(blocks, count), kThreads, 0, ctx.stream()>>>(all);
  RETURN_IF_LAUNCH_FAILED();
  return absl::OkStatus();
}

// Largest power of two (<= 256) dividing the address: cuBLASLt must not assume more.
int64_t AlignmentOf(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  int64_t align = 256;
  while (align > 1 && a % static_cast<uintptr_t>(align) != 0) {
    align /= 2;
  }
  return align;
}

struct LtMatmulDescDeleter {
  void operator()(cublasLtMatmulDescOpaque_t* d) const { cublasLtMatmulDescDestroy(d); }
};
struct LtLayoutDeleter {
  void operator()(cublasLtMatrixLayoutOpaque_t* d) const { cublasLtMatrixLayoutDestroy(d); }
};
struct LtPreferenceDeleter {
  void operator()(cublasLtMatmulPreferenceOpaque_t* d) const { cublasLtMatmulPreferenceDestroy(d); }
};
using LtMatmulDesc = std::unique_ptr<cublasLtMatmulDescOpaque_t, LtMatmulDescDeleter>;
using LtLayout = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LtLayoutDeleter>;
using LtPreference = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, LtPreferenceDeleter>;

absl::StatusOr<LtLayout> MakeLayout(cudaDataType_t type, int rows, int cols, int ld) {
  cublasLtMatrixLayout_t raw = nullptr;
  CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&raw, type, rows, cols, ld));
  return LtLayout(raw);
}

// A column-major product D[m,n] = alpha * op(A) op(B) + beta * D (+ bias[m] per row) with
// bf16 A and B and fp32 D, through cuBLASLt.
struct LtProduct {
  bool trans_a, trans_b;
  int m, n, k;
  float alpha;
  const __nv_bfloat16* A;
  int lda;
  const __nv_bfloat16* B;
  int ldb;
  float beta;
  float* D;
  int ldd;
  const float* bias;
};

absl::StatusOr<cublasLtMatmulAlgo_t> ChooseAlgo(CudaContext& ctx, const LtProduct& p,
                                                cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a,
                                                cublasLtMatrixLayout_t b,
                                                cublasLtMatrixLayout_t d) {
  const CudaContext::LtKey key = {p.trans_a,
                                  p.trans_b,
                                  p.m,
                                  p.n,
                                  p.k,
                                  p.lda,
                                  p.ldb,
                                  p.ldd,
                                  p.bias != nullptr,
                                  AlignmentOf(p.A) * 1000 + AlignmentOf(p.B),
                                  AlignmentOf(p.D),
                                  p.beta != 0.0f};
  auto it = ctx.lt_algo_cache().find(key);
  if (it != ctx.lt_algo_cache().end()) {
    return it->second;
  }
  cublasLtMatmulPreference_t raw_pref = nullptr;
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&raw_pref));
  LtPreference pref(raw_pref);
  const uint64_t ws = kLtWorkspaceBytes;
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceSetAttribute(
      raw_pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  const uint32_t align_a = static_cast<uint32_t>(AlignmentOf(p.A));
  const uint32_t align_b = static_cast<uint32_t>(AlignmentOf(p.B));
  const uint32_t align_d = static_cast<uint32_t>(AlignmentOf(p.D));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceSetAttribute(
      raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof(align_a)));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceSetAttribute(
      raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof(align_b)));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceSetAttribute(
      raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_d, sizeof(align_d)));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceSetAttribute(
      raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d, sizeof(align_d)));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulAlgoGetHeuristic(ctx.lt(), desc, a, b, d, d, raw_pref, 1, &result, &found));
  if (found == 0) {
    return absl::InternalError("cuBLASLt found no algorithm for m=" + std::to_string(p.m) +
                               " n=" + std::to_string(p.n) + " k=" + std::to_string(p.k));
  }
  ctx.lt_algo_cache().emplace(key, result.algo);
  return result.algo;
}

absl::Status RunLt(CudaContext& ctx, const LtProduct& p) {
  cublasLtMatmulDesc_t raw_desc = nullptr;
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&raw_desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  LtMatmulDesc desc(raw_desc);
  const cublasOperation_t op_a = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(raw_desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)));
  CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(raw_desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)));
  if (p.bias != nullptr) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(raw_desc, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                          &epilogue, sizeof(epilogue)));
    CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
        raw_desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &p.bias, sizeof(p.bias)));
  }
  ASSIGN_OR_RETURN(LtLayout a,
                   MakeLayout(CUDA_R_16BF, p.trans_a ? p.k : p.m, p.trans_a ? p.m : p.k, p.lda));
  ASSIGN_OR_RETURN(LtLayout b,
                   MakeLayout(CUDA_R_16BF, p.trans_b ? p.n : p.k, p.trans_b ? p.k : p.n, p.ldb));
  ASSIGN_OR_RETURN(LtLayout d, MakeLayout(CUDA_R_32F, p.m, p.n, p.ldd));
  ASSIGN_OR_RETURN(cublasLtMatmulAlgo_t algo,
                   ChooseAlgo(ctx, p, raw_desc, a.get(), b.get(), d.get()));
  ASSIGN_OR_RETURN(void* ws, ctx.Scratch(ScratchSlot::kLtWorkspace, kLtWorkspaceBytes));
  CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(ctx.lt(), raw_desc, &p.alpha, p.A, a.get(), p.B, b.get(),
                                        &p.beta, p.D, d.get(), p.D, d.get(), &algo, ws,
                                        kLtWorkspaceBytes, ctx.stream()));
  return absl::OkStatus();
}

// Row-major C[M,N] = alpha op(A) op(B) + beta C (+ bias[N] per column) from bf16 operands.
absl::Status RowMajorProduct(CudaContext& ctx, bool trans_a, bool trans_b, int M, int N, int K,
                             float alpha, const __nv_bfloat16* A, int lda, const __nv_bfloat16* B,
                             int ldb, float beta, float* C, int ldc, const float* bias) {
  const bool epilogue_bias = bias != nullptr && AlignmentOf(bias) >= 16;
  const LtProduct p{trans_b, trans_a, N,   M,    K, alpha, B,
                    ldb,     A,       lda, beta, C, ldc,   epilogue_bias ? bias : nullptr};
  RETURN_IF_ERROR(RunLt(ctx, p));
  if (bias != nullptr && !epilogue_bias) {
    if (ldc != N) {
      return absl::InvalidArgumentError("Gemm: a bias needs ldc == N");
    }
    constexpr unsigned int kThreads = 256;
    const size_t total = static_cast<size_t>(M) * N;
    const unsigned int blocks =
        BlocksFor(total, kThreads) < 65536u ? BlocksFor(total, kThreads) : 65536u;
    AddBiasKernel<<<blocks, kThreads, 0, ctx.stream()>>>(C, bias, static_cast<size_t>(M), N);
    RETURN_IF_LAUNCH_FAILED();
  }
  return absl::OkStatus();
}

absl::Status CheckGemmShape(bool trans_a, bool trans_b, int M, int N, int K, int lda, int ldb,
                            int ldc) {
  if (M <= 0 || N <= 0 || K <= 0) {
    return absl::InvalidArgumentError(
        "Gemm: M, N and K must be positive, got M=" + std::to_string(M) +
        " N=" + std::to_string(N) + " K=" + std::to_string(K));
  }
  if (lda < (trans_a ? M : K) || ldb < (trans_b ? K : N) || ldc < N) {
    return absl::InvalidArgumentError(
        "Gemm: leading dimension too small (lda=" + std::to_string(lda) +
        " ldb=" + std::to_string(ldb) + " ldc=" + std::to_string(ldc) + ")");
  }
  return absl::OkStatus();
}

absl::StatusOr<__nv_bfloat16*> Bf16Scratch(CudaContext& ctx, ScratchSlot slot, size_t n) {
  ASSIGN_OR_RETURN(void* p, ctx.Scratch(slot, n * sizeof(__nv_bfloat16)));
  return static_cast<__nv_bfloat16*>(p);
}

}  // namespace

absl::Status LaunchGemm(CudaContext& ctx, bool trans_a, bool trans_b, int M, int N, int K,
                        float alpha, const float* A, int lda, const float* B, int ldb, float beta,
                        float* C, int ldc) {
  RETURN_IF_ERROR(CheckGemmShape(trans_a, trans_b, M, N, K, lda, ldb, ldc));
  if (A == nullptr || B == nullptr || C == nullptr) {
    return absl::InvalidArgumentError("Gemm: A, B and C must be non-null");
  }
  const size_t span_a = trans_a ? Span(K, M, lda) : Span(M, K, lda);
  const size_t span_b = trans_b ? Span(N, K, ldb) : Span(K, N, ldb);
  ASSIGN_OR_RETURN(__nv_bfloat16 * a16, Bf16Scratch(ctx, ScratchSlot::kBf16A, span_a));
  ASSIGN_OR_RETURN(__nv_bfloat16 * b16, Bf16Scratch(ctx, ScratchSlot::kBf16B, span_b));
  const ConvertJob jobs[2] = {{A, a16, span_a}, {B, b16, span_b}};
  RETURN_IF_ERROR(Convert(ctx, 2, jobs));
  return RowMajorProduct(ctx, trans_a, trans_b, M, N, K, alpha, a16, lda, b16, ldb, beta, C, ldc,
                         nullptr);
}

absl::Status LaunchMatmulForward(CudaContext& ctx, float* out, const float* inp,
                                 const float* weight, const float* bias, int BT, int C, int OC) {
  if (BT <= 0 || C <= 0 || OC <= 0) {
    return absl::InvalidArgumentError("MatmulForward: BT, C and OC must be positive");
  }
  if (out == nullptr || inp == nullptr || weight == nullptr) {
    return absl::InvalidArgumentError("MatmulForward: out, inp and weight must be non-null");
  }
  const size_t n_inp = static_cast<size_t>(BT) * C;
  const size_t n_w = static_cast<size_t>(OC) * C;
  ASSIGN_OR_RETURN(__nv_bfloat16 * inp16, Bf16Scratch(ctx, ScratchSlot::kBf16A, n_inp));
  ASSIGN_OR_RETURN(__nv_bfloat16 * w16, Bf16Scratch(ctx, ScratchSlot::kBf16B, n_w));
  const ConvertJob jobs[2] = {{inp, inp16, n_inp}, {weight, w16, n_w}};
  RETURN_IF_ERROR(Convert(ctx, 2, jobs));
  return RowMajorProduct(ctx, false, true, BT, OC, C, 1.0f, inp16, C, w16, C, 0.0f, out, OC, bias);
}

absl::Status LaunchMatmulForwardBf16(CudaContext& ctx, float* out, const void* inp16,
                                     const void* weight16, const float* bias, int BT, int C,
                                     int OC) {
  if (BT <= 0 || C <= 0 || OC <= 0) {
    return absl::InvalidArgumentError("MatmulForwardBf16: BT, C and OC must be positive");
  }
  if (out == nullptr || inp16 == nullptr || weight16 == nullptr) {
    return absl::InvalidArgumentError("MatmulForwardBf16: out, inp and weight must be non-null");
  }
  return RowMajorProduct(ctx, false, true, BT, OC, C, 1.0f,
                         static_cast<const __nv_bfloat16*>(inp16), C,
                         static_cast<const __nv_bfloat16*>(weight16), C, 0.0f, out, OC, bias);
}

absl::Status LaunchMatmulBackward(CudaContext& ctx, float* dinp, float* dweight, float* dbias,
                                  const float* dout, const float* inp, const float* weight, int BT,
                                  int C, int OC) {
  if (BT <= 0 || C <= 0 || OC <= 0) {
    return absl::InvalidArgumentError("MatmulBackward: BT, C and OC must be positive");
  }
  if (dweight == nullptr || dout == nullptr || inp == nullptr || weight == nullptr) {
    return absl::InvalidArgumentError(
        "MatmulBackward: dweight, dout, inp and weight must be non-null");
  }
  const size_t n_dout = static_cast<size_t>(BT) * OC;
  const size_t n_inp = static_cast<size_t>(BT) * C;
  const size_t n_w = static_cast<size_t>(OC) * C;
  ASSIGN_OR_RETURN(__nv_bfloat16 * dout16, Bf16Scratch(ctx, ScratchSlot::kBf16C, n_dout));
  ASSIGN_OR_RETURN(__nv_bfloat16 * inp16, Bf16Scratch(ctx, ScratchSlot::kBf16A, n_inp));
  ASSIGN_OR_RETURN(__nv_bfloat16 * w16, Bf16Scratch(ctx, ScratchSlot::kBf16B, n_w));
  const ConvertJob jobs[3] = {{dout, dout16, n_dout}, {inp, inp16, n_inp}, {weight, w16, n_w}};
  RETURN_IF_ERROR(Convert(ctx, dinp != nullptr ? 3 : 2, jobs));
  if (dinp != nullptr) {
    // dinp[BT,C] += dout[BT,OC] @ weight[OC,C]
    RETURN_IF_ERROR(RowMajorProduct(ctx, false, false, BT, C, OC, 1.0f, dout16, OC, w16, C, 1.0f,
                                    dinp, C, nullptr));
  }
  // dweight[OC,C] += dout^T[OC,BT] @ inp[BT,C]
  RETURN_IF_ERROR(RowMajorProduct(ctx, true, false, OC, C, BT, 1.0f, dout16, OC, inp16, C, 1.0f,
                                  dweight, C, nullptr));
  if (dbias != nullptr) {
    ASSIGN_OR_RETURN(void* scratch, ctx.Scratch(ScratchSlot::kReduce,
                                                sizeof(float) * kBiasRowChunks * size_t(OC)));
    float* partial = static_cast<float*>(scratch);
    constexpr unsigned int kThreads = 128;
    BiasPartialKernel<<<dim3((OC + kThreads - 1) / kThreads, kBiasRowChunks), kThreads, 0,
                        ctx.stream()>>>(partial, dout, BT, OC);
    RETURN_IF_LAUNCH_FAILED();
    BiasFinishKernel<<<(OC + kThreads - 1) / kThreads, kThreads, 0, ctx.stream()>>>(dbias, partial,
                                                                                    OC);
    RETURN_IF_LAUNCH_FAILED();
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::kernels::cuda
