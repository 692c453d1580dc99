// The CUDA backend's LayerNorm, fused cross-entropy, deterministic reductions and masked AdamW
// (kernels/cuda/*_kernels.cuh), run on the host through the CUDA emulator with their real launch
// sequences, against the CPU backend. Tolerances as kernels/cuda/cuda_ops_test.cc: 1e-5 for
// element-wise fp32 arithmetic, 1e-4 where long fp32 sums run in another order.
#include "kernels/cuda_emu/cuda_emu.h"

// The device code, compiled for the emulator (-Wno-unknown-pragmas, see CMakeLists.txt).
#include "kernels/cuda/adamw_kernels.cuh"
#include "kernels/cuda/cross_entropy_kernels.cuh"
#include "kernels/cuda/layernorm_kernels.cuh"
#include "kernels/cuda/reductions_kernels.cuh"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/parity_checks.h"
#include "kernels/ops.h"

namespace sparsescale::kernels::cuda_emu {
namespace {

using ::sparsescale::kernels::cuda::KernelLauncher;

constexpr double kFp32Tol = 1e-5;
constexpr double kLongSumTol = 1e-4;

using ::sparsescale::kernels::cuda::testing::ExpectClose;
using ::sparsescale::kernels::cuda::testing::RandomFloats;

class ElementwiseEmuTest : public ::testing::Test {
 protected:
  std::unique_ptr<Ops> cpu_ = MakeCpuOps(1);
};

TEST_F(ElementwiseEmuTest, LayerNormForwardAndBackwardMatchTheCpu) {
  const int N = 37, C = 200;  // rows not a multiple of the 8 per block; C not of the warp
  const auto inp = RandomFloats(size_t(N) * C, 1, -2.0f, 3.0f);
  const auto w = RandomFloats(C, 2), b = RandomFloats(C, 3);
  const auto dout = RandomFloats(size_t(N) * C, 4);
  std::vector<float> out(inp.size()), mean(N), rstd(N);
  std::vector<float> g_out(inp.size(), NAN), g_mean(N, NAN), g_rstd(N, NAN);
  ASSERT_TRUE(cpu_->LayerNormForward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(),
                                     b.data(), N, C, 1e-5f)
                  .ok());
  ASSERT_TRUE(cuda::layernorm::RunForward(KernelLauncher{}, g_out.data(), g_mean.data(),
                                          g_rstd.data(), inp.data(), w.data(), b.data(), N, C,
                                          1e-5f)
                  .ok());
  EXPECT_EQ(ExpectClose(g_out, out, kFp32Tol * 10, "out"), 0);
  EXPECT_EQ(ExpectClose(g_mean, mean, kLongSumTol, "mean"), 0);
  EXPECT_EQ(ExpectClose(g_rstd, rstd, kLongSumTol, "rstd"), 0);

  // Backward accumulates into dinp, dweight, dbias: start both sides from the same values.
  auto dinp = RandomFloats(inp.size(), 5), dw = RandomFloats(C, 6), db = RandomFloats(C, 7);
  auto g_dinp = dinp, g_dw = dw, g_db = db;
  ASSERT_TRUE(cpu_->LayerNormBackward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(),
                                      w.data(), mean.data(), rstd.data(), N, C)
                  .ok());
  std::vector<float> scratch(cuda::layernorm::ParamScratchFloats(C), NAN);
  ASSERT_TRUE(cuda::layernorm::RunBackward(KernelLauncher{}, g_dinp.data(), g_dw.data(),
                                           g_db.data(), dout.data(), inp.data(), w.data(),
                                           mean.data(), rstd.data(), N, C, scratch.data())
                  .ok());
  EXPECT_EQ(ExpectClose(g_dinp, dinp, kLongSumTol, "dinp"), 0);
  EXPECT_EQ(ExpectClose(g_dw, dw, kLongSumTol, "dweight"), 0);
  EXPECT_EQ(ExpectClose(g_db, db, kLongSumTol, "dbias"), 0);
}

TEST_F(ElementwiseEmuTest, CrossEntropyInPlaceMatchesTheCpuAndMarksBadTargets) {
  const int BT = 5, V = 1000, Vp = 1024;
  const auto logits = RandomFloats(size_t(BT) * Vp, 8, -4.0f, 4.0f);
  std::vector<int32_t> targets = {3, 999, 0, 512, 17};
  std::vector<float> losses(BT), dlogits(logits.size());
  ASSERT_TRUE(cpu_->CrossEntropyForwardBackward(losses.data(), dlogits.data(), logits.data(),
                                                targets.data(), BT, V, Vp, 1.0f / BT)
                  .ok());
  std::vector<float> g_losses(BT, NAN), in_place = logits;  // dlogits aliases logits
  ASSERT_TRUE(cuda::cross_entropy::Run(KernelLauncher{}, g_losses.data(), in_place.data(),
                                       in_place.data(), targets.data(), BT, V, Vp, 1.0f / BT)
                  .ok());
  EXPECT_EQ(ExpectClose(g_losses, losses, kLongSumTol, "loss"), 0);
  EXPECT_EQ(ExpectClose(in_place, dlogits, kLongSumTol, "dlogits"), 0);

  targets[2] = V;  // out of range: the loss is NaN, never a number
  std::vector<float> bad_losses(BT, 0.0f);
  ASSERT_TRUE(cuda::cross_entropy::Run(KernelLauncher{}, bad_losses.data(), nullptr,
                                       logits.data(), targets.data(), BT, V, Vp, 1.0f)
                  .ok());
  EXPECT_TRUE(std::isnan(bad_losses[2]));
  EXPECT_NEAR(bad_losses[1], losses[1], kLongSumTol * std::fabs(losses[1]));
}

TEST_F(ElementwiseEmuTest, ReductionsMatchTheCpuAndCountExactly) {
  const size_t n = 140000;  // more than the 512 x 256 threads of the partial grid
  auto x = RandomFloats(n, 9);
  for (size_t i = 0; i < n; i += 7) {
    x[i] = 0.0f;
  }
  float want_sq = 0.25f, got_sq = 0.25f;  // SumSquares adds to the accumulator
  ASSERT_TRUE(cpu_->SumSquares(&want_sq, x.data(), n).ok());
  std::vector<double> partial(cuda::reductions::kBlocks, NAN);
  ASSERT_TRUE(
      cuda::reductions::RunSumSquares(KernelLauncher{}, &got_sq, x.data(), n, partial.data())
          .ok());
  EXPECT_NEAR(got_sq, want_sq, 1e-6 * want_sq);

  int64_t want_count = 0;
  ASSERT_TRUE(cpu_->CountNonZero(&want_count, x.data(), n).ok());
  std::vector<unsigned long long> counts(cuda::reductions::kBlocks + 1, ~0ull);
  ASSERT_TRUE(
      cuda::reductions::RunCountNonZero(KernelLauncher{}, x.data(), n, counts.data()).ok());
  EXPECT_EQ(static_cast<int64_t>(counts[cuda::reductions::kBlocks]), want_count);
  EXPECT_EQ(want_count, static_cast<int64_t>(n - (n + 6) / 7));
}

TEST_F(ElementwiseEmuTest, MaskedAdamWMatchesTheCpuAndZeroesMaskedEntries) {
  const size_t n = 5000;
  auto params = RandomFloats(n, 10), grads = RandomFloats(n, 11), m = RandomFloats(n, 12);
  auto v = RandomFloats(n, 13, 0.0f, 1.0f);
  std::vector<float> mask(n, 1.0f);
  for (size_t i = 0; i < n; i += 3) {
    mask[i] = 0.0f;
  }
  AdamWParams p;
  p.lr = 1e-3f;
  p.weight_decay = 0.1f;
  p.step = 7;
  p.grad_scale = 0.5f;
  auto g_params = params, g_m = m, g_v = v;
  ASSERT_TRUE(
      cpu_->AdamW(params.data(), grads.data(), m.data(), v.data(), mask.data(), n, p).ok());
  ASSERT_TRUE(cuda::adamw::Run(KernelLauncher{}, g_params.data(), grads.data(), g_m.data(),
                               g_v.data(), mask.data(), n, cuda::adamw::MakeConstants(p))
                  .ok());
  EXPECT_EQ(ExpectClose(g_params, params, kFp32Tol, "params"), 0);
  EXPECT_EQ(ExpectClose(g_m, m, kFp32Tol, "m"), 0);
  EXPECT_EQ(ExpectClose(g_v, v, kFp32Tol, "v"), 0);
  for (size_t i = 0; i < n; i += 3) {
    ASSERT_EQ(g_params[i], 0.0f);
    ASSERT_EQ(g_m[i], 0.0f);
    ASSERT_EQ(g_v[i], 0.0f);
  }
}

}  // namespace
}  // namespace sparsescale::kernels::cuda_emu
