// 2:4 sparse tensor cores (kernels/cuda/sparse24) against dense cuBLASLt on the GPT-2-124M
// linear-layer shapes, forward product out[BT, OC] = inp[BT, C] @ W^T. Three timings per shape
// (median of 20 after 5 warm-ups, CUDA events): the backend's MatmulForward (fp32 in, bf16
// conversion included), cuBLASLt on operands already in bf16 (the dense baseline), and the 2:4
// kernel (fp32 input converted while loading, weight pre-compressed). Also checks the 2:4
// result against the dense product of the masked weight.
//
// Usage: sparse24_bench [BT]   (default 8192). Exits 0 with a message when no GPU is usable.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "common/status.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/sparse24.h"

namespace sparsescale::bench {
namespace {

using kernels::DeviceBuffer;
using kernels::Ops;

// Round-to-nearest-even fp32 -> bf16 bits on the host.
uint16_t ToBf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

std::vector<float> Random(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t s = seed * 2654435761u + 1u;
  for (float& x : v) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    x = static_cast<float>(s >> 8) / static_cast<float>(1 << 24) * 2.0f - 1.0f;
  }
  return v;
}

// Median milliseconds of `fn` on the backend's stream.
absl::StatusOr<double> TimeMs(kernels::cuda::CudaContext& ctx,
                              const std::function<absl::Status()>& fn) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<double> ms;
  for (int i = 0; i < 25; ++i) {
    cudaEventRecord(start, ctx.stream());
    RETURN_IF_ERROR(fn());
    cudaEventRecord(stop, ctx.stream());
    cudaEventSynchronize(stop);
    float t = 0.0f;
    cudaEventElapsedTime(&t, start, stop);
    if (i >= 5) {
      ms.push_back(t);
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

absl::StatusOr<std::unique_ptr<DeviceBuffer>> Upload(Ops& ops, const void* host, size_t bytes) {
  ASSIGN_OR_RETURN(std::unique_ptr<DeviceBuffer> b, ops.Allocate(bytes));
  RETURN_IF_ERROR(ops.CopyToDevice(b->data(), host, bytes));
  return b;
}

absl::Status BenchShape(Ops& ops, int BT, int C, int OC) {
  kernels::cuda::CudaContext& ctx = *kernels::cuda::ContextOf(ops);
  const auto w = Random(size_t(OC) * C, 1), inp = Random(size_t(BT) * C, 2);
  std::vector<uint16_t> inp16(inp.size());
  std::transform(inp.begin(), inp.end(), inp16.begin(), ToBf16);
  ASSIGN_OR_RETURN(auto g_w, Upload(ops, w.data(), w.size() * 4));
  ASSIGN_OR_RETURN(auto g_inp, Upload(ops, inp.data(), inp.size() * 4));
  ASSIGN_OR_RETURN(auto g_inp16, Upload(ops, inp16.data(), inp16.size() * 2));
  ASSIGN_OR_RETURN(auto g_mask, ops.Allocate(w.size() * 4));
  ASSIGN_OR_RETURN(auto g_dense, ops.Allocate(size_t(BT) * OC * 4));
  ASSIGN_OR_RETURN(auto g_sparse, ops.Allocate(size_t(BT) * OC * 4));
  RETURN_IF_ERROR(ops.NmMask(g_mask->f32(), g_w->f32(), OC, C, 2, 4, w.size() / 2));
  RETURN_IF_ERROR(ops.ApplyMask(g_w->f32(), g_mask->f32(), w.size()));
  std::vector<float> masked(w.size());
  RETURN_IF_ERROR(ops.CopyToHost(masked.data(), g_w->data(), w.size() * 4));
  std::vector<uint16_t> w16(w.size());
  std::transform(masked.begin(), masked.end(), w16.begin(), ToBf16);
  ASSIGN_OR_RETURN(auto g_w16, Upload(ops, w16.data(), w16.size() * 2));
  ASSIGN_OR_RETURN(kernels::cuda::Sparse24Weight sw,
                   kernels::cuda::CompressSparse24(ops, g_w->f32(), g_mask->f32(), OC, C));

  ASSIGN_OR_RETURN(double fp32_ms, TimeMs(ctx, [&] {
                     return ops.MatmulForward(g_dense->f32(), g_inp->f32(), g_w->f32(), nullptr, BT,
                                              C, OC);
                   }));
  ASSIGN_OR_RETURN(double bf16_ms, TimeMs(ctx, [&] {
                     return kernels::cuda::LaunchMatmulForwardBf16(
                         ctx, g_dense->f32(), g_inp16->data(), g_w16->data(), nullptr, BT, C, OC);
                   }));
  ASSIGN_OR_RETURN(double sparse_ms, TimeMs(ctx, [&] {
                     return kernels::cuda::Sparse24MatmulForward(ops, g_sparse->f32(), g_inp->f32(),
                                                                 sw, nullptr, BT);
                   }));
  std::vector<float> dense(size_t(BT) * OC), sparse(dense.size());
  RETURN_IF_ERROR(ops.CopyToHost(dense.data(), g_dense->data(), dense.size() * 4));
  RETURN_IF_ERROR(ops.CopyToHost(sparse.data(), g_sparse->data(), sparse.size() * 4));
  double max_ref = 0.0, max_diff = 0.0;
  for (size_t i = 0; i < dense.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(double{dense[i]}));
    const double d = std::fabs(double{dense[i]} - double{sparse[i]});
    max_diff = std::isnan(d) ? INFINITY : std::max(max_diff, d);
  }
  const double flops = 2.0 * BT * C * OC;
  std::printf(
      "| %5d x %4d -> %4d | %7.3f | %7.3f (%5.0f TF/s) | %7.3f (%5.0f TF/s) | %5.2fx | %.1e |\n",
      BT, C, OC, fp32_ms, bf16_ms, flops / bf16_ms / 1e9, sparse_ms, flops / sparse_ms / 1e9,
      bf16_ms / sparse_ms, max_diff / max_ref);
  std::fflush(stdout);
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  const int BT = argc > 1 ? std::max(128, std::atoi(argv[1])) : 8192;
  if (kernels::cuda::DeviceCount() == 0) {
    std::printf("sparse24_bench: no CUDA GPU is usable here; nothing to measure\n");
    return 0;
  }
  auto ops = kernels::cuda::MakeCudaOps(0);
  if (!ops.ok()) {
    std::fprintf(stderr, "sparse24_bench: %s\n", ops.status().ToString().c_str());
    return 1;
  }
  std::printf(
      "| BT x C -> OC        | fp32 API ms | dense bf16 cuBLASLt ms | 2:4 mma.sp ms       | "
      "2:4 speed-up | max rel err |\n");
  std::printf(
      "|--------------------|-------------|------------------------|---------------------|"
      "--------------|-------------|\n");
  const int shapes[4][2] = {{768, 2304}, {768, 3072}, {3072, 768}, {768, 768}};
  for (const auto& s : shapes) {
    const absl::Status st = BenchShape(**ops, BT, s[0], s[1]);
    if (!st.ok()) {
      std::fprintf(stderr, "sparse24_bench: %s\n", st.ToString().c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace sparsescale::bench

int main(int argc, char** argv) { return sparsescale::bench::Main(argc, argv); }
