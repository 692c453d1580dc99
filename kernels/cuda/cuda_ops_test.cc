// Parity of every CUDA op with the CPU backend on fresh random inputs. Tolerances (relative,
// see ExpectClose): 1e-2 for products (bf16 operands, fp32 accumulation); 1e-5 for element-wise
// fp32 ops; 1e-4 where long fp32 sums run in a different order (attention's online softmax,
// cross-entropy over the vocabulary, layer-norm parameter gradients over rows).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_test_util.h"

namespace sparsescale::kernels::cuda {
namespace {

using testing::CudaTest;
using testing::ExpectClose;
using testing::ExpectCloseNormwise;
using testing::QkvGradientPart;
using testing::RandomFloats;
using testing::RandomTokens;

constexpr double kBf16Tol = 1e-2;
constexpr double kFp32Tol = 1e-5;
constexpr double kLongSumTol = 1e-4;

using CudaOpsTest = CudaTest;

TEST_F(CudaOpsTest, MatmulForwardMatchesCpuWithinBf16Tolerance) {
  const int BT = 70, C = 96, OC = 80;
  auto inp = RandomFloats(size_t(BT) * C, 1), w = RandomFloats(size_t(OC) * C, 2);
  auto bias = RandomFloats(OC, 3);
  std::vector<float> want(size_t(BT) * OC);
  ASSERT_TRUE(cpu_->MatmulForward(want.data(), inp.data(), w.data(), bias.data(), BT, C, OC).ok());
  auto d_inp = Up(inp), d_w = Up(w), d_bias = Up(bias), d_out = Up(std::vector<float>(want.size()));
  ASSERT_TRUE(
      gpu_->MatmulForward(d_out->f32(), d_inp->f32(), d_w->f32(), d_bias->f32(), BT, C, OC).ok());
  EXPECT_EQ(ExpectClose(Down(*d_out, want.size()), want, kBf16Tol, "out"), 0);
}

TEST_F(CudaOpsTest, MatmulForwardWithUnalignedBiasMatchesCpu) {
  const int BT = 32, C = 64, OC = 40;
  auto inp = RandomFloats(size_t(BT) * C, 11), w = RandomFloats(size_t(OC) * C, 12);
  auto padded_bias = RandomFloats(OC + 1, 13);  // the bias starts 4 bytes into its buffer
  const std::vector<float> bias(padded_bias.begin() + 1, padded_bias.end());
  std::vector<float> want(size_t(BT) * OC);
  ASSERT_TRUE(cpu_->MatmulForward(want.data(), inp.data(), w.data(), bias.data(), BT, C, OC).ok());
  auto d_inp = Up(inp), d_w = Up(w), d_bias = Up(padded_bias);
  auto d_out = Up(std::vector<float>(want.size()));
  ASSERT_TRUE(
      gpu_->MatmulForward(d_out->f32(), d_inp->f32(), d_w->f32(), d_bias->f32() + 1, BT, C, OC)
          .ok());
  EXPECT_EQ(ExpectClose(Down(*d_out, want.size()), want, kBf16Tol, "out"), 0);
}

TEST_F(CudaOpsTest, MatmulBackwardAccumulatesLikeCpu) {
  const int BT = 64, C = 48, OC = 72;
  auto inp = RandomFloats(size_t(BT) * C, 4), w = RandomFloats(size_t(OC) * C, 5);
  auto dout = RandomFloats(size_t(BT) * OC, 6);
  auto dinp = RandomFloats(inp.size(), 7), dw = RandomFloats(w.size(), 8);
  auto db = RandomFloats(OC, 9);
  auto g_dinp = Up(dinp), g_dw = Up(dw), g_db = Up(db);
  auto g_dout = Up(dout), g_inp = Up(inp), g_w = Up(w);
  ASSERT_TRUE(cpu_->MatmulBackward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(),
                                   w.data(), BT, C, OC)
                  .ok());
  ASSERT_TRUE(gpu_->MatmulBackward(g_dinp->f32(), g_dw->f32(), g_db->f32(), g_dout->f32(),
                                   g_inp->f32(), g_w->f32(), BT, C, OC)
                  .ok());
  EXPECT_EQ(ExpectClose(Down(*g_dinp, dinp.size()), dinp, kBf16Tol, "dinp"), 0);
  EXPECT_EQ(ExpectClose(Down(*g_dw, dw.size()), dw, kBf16Tol, "dweight"), 0);
  EXPECT_EQ(ExpectClose(Down(*g_db, db.size()), db, kFp32Tol, "dbias"), 0);
}

TEST_F(CudaOpsTest, GemmMatchesCpuForEveryTransposeWithPaddedLeadingDimensions) {
  const int M = 33, N = 45, K = 27, pad = 3;
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      const int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
      auto A = RandomFloats(size_t(ta ? K : M) * lda, 10 + ta);
      auto B = RandomFloats(size_t(tb ? N : K) * ldb, 20 + tb);
      auto Cm = RandomFloats(size_t(M) * ldc, 30);
      auto gA = Up(A), gB = Up(B), gC = Up(Cm);
      ASSERT_TRUE(
          cpu_->Gemm(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, 2.0f, Cm.data(), ldc)
              .ok());
      ASSERT_TRUE(
          gpu_->Gemm(ta, tb, M, N, K, 0.5f, gA->f32(), lda, gB->f32(), ldb, 2.0f, gC->f32(), ldc)
              .ok());
      EXPECT_EQ(
          ExpectClose(Down(*gC, Cm.size()), Cm, kBf16Tol,
                      "C(trans_a=" + std::to_string(ta) + ",trans_b=" + std::to_string(tb) + ")"),
          0);
    }
  }
}

TEST_F(CudaOpsTest, LayerNormForwardAndBackwardMatchCpu) {
  const int N = 50, C = 200;
  auto x = RandomFloats(size_t(N) * C, 40, -2.0f, 3.0f), w = RandomFloats(C, 41),
       b = RandomFloats(C, 42);
  auto dout = RandomFloats(x.size(), 43);
  std::vector<float> out(x.size()), mean(N), rstd(N);
  auto dinp = RandomFloats(x.size(), 44), dw = RandomFloats(C, 45), db = RandomFloats(C, 46);
  auto gx = Up(x), gw = Up(w), gb = Up(b), gout = Up(out), gmean = Up(mean), grstd = Up(rstd);
  auto gdout = Up(dout), gdinp = Up(dinp), gdw = Up(dw), gdb = Up(db);
  ASSERT_TRUE(cpu_->LayerNormForward(out.data(), mean.data(), rstd.data(), x.data(), w.data(),
                                     b.data(), N, C, 1e-5f)
                  .ok());
  ASSERT_TRUE(cpu_->LayerNormBackward(dinp.data(), dw.data(), db.data(), dout.data(), x.data(),
                                      w.data(), mean.data(), rstd.data(), N, C)
                  .ok());
  ASSERT_TRUE(gpu_->LayerNormForward(gout->f32(), gmean->f32(), grstd->f32(), gx->f32(), gw->f32(),
                                     gb->f32(), N, C, 1e-5f)
                  .ok());
  ASSERT_TRUE(gpu_->LayerNormBackward(gdinp->f32(), gdw->f32(), gdb->f32(), gdout->f32(), gx->f32(),
                                      gw->f32(), gmean->f32(), grstd->f32(), N, C)
                  .ok());
  EXPECT_EQ(ExpectClose(Down(*gout, out.size()), out, kFp32Tol * 10, "out"), 0);
  EXPECT_EQ(ExpectClose(Down(*grstd, N), rstd, kFp32Tol * 10, "rstd"), 0);
  EXPECT_EQ(ExpectClose(Down(*gdinp, dinp.size()), dinp, kLongSumTol, "dinp"), 0);
  EXPECT_EQ(ExpectClose(Down(*gdw, C), dw, kLongSumTol, "dweight"), 0);
  EXPECT_EQ(ExpectClose(Down(*gdb, C), db, kLongSumTol, "dbias"), 0);
}

TEST_F(CudaOpsTest, GeluForwardAndBackwardMatchCpu) {
  const size_t n = 10007;
  auto x = RandomFloats(n, 50, -5.0f, 5.0f), dout = RandomFloats(n, 51);
  auto dinp = RandomFloats(n, 52);
  std::vector<float> out(n);
  auto gx = Up(x), gout = Up(out), gdout = Up(dout), gdinp = Up(dinp);
  ASSERT_TRUE(cpu_->GeluForward(out.data(), x.data(), n).ok());
  ASSERT_TRUE(cpu_->GeluBackward(dinp.data(), x.data(), dout.data(), n).ok());
  ASSERT_TRUE(gpu_->GeluForward(gout->f32(), gx->f32(), n).ok());
  ASSERT_TRUE(gpu_->GeluBackward(gdinp->f32(), gx->f32(), gdout->f32(), n).ok());
  EXPECT_EQ(ExpectClose(Down(*gout, n), out, kFp32Tol, "gelu"), 0);
  EXPECT_EQ(ExpectClose(Down(*gdinp, n), dinp, kFp32Tol, "dgelu"), 0);
}

TEST_F(CudaOpsTest, ResidualAccumulateApplyMaskAndFillAreExact) {
  const size_t n = 4099;
  auto a = RandomFloats(n, 60), b = RandomFloats(n, 61), mask = RandomFloats(n, 62, 0.0f, 1.0f);
  for (float& m : mask) {
    m = m < 0.5f ? 0.0f : 1.0f;
  }
  auto ga = Up(a), gb = Up(b), gmask = Up(mask), gout = Up(std::vector<float>(n));
  std::vector<float> out(n);
  ASSERT_TRUE(cpu_->ResidualForward(out.data(), a.data(), b.data(), n).ok());
  ASSERT_TRUE(gpu_->ResidualForward(gout->f32(), ga->f32(), gb->f32(), n).ok());
  EXPECT_EQ(Down(*gout, n), out);
  ASSERT_TRUE(cpu_->Accumulate(a.data(), b.data(), n).ok());
  ASSERT_TRUE(gpu_->Accumulate(ga->f32(), gb->f32(), n).ok());
  EXPECT_EQ(Down(*ga, n), a);
  ASSERT_TRUE(cpu_->ApplyMask(a.data(), mask.data(), n).ok());
  ASSERT_TRUE(gpu_->ApplyMask(ga->f32(), gmask->f32(), n).ok());
  EXPECT_EQ(Down(*ga, n), a);
  ASSERT_TRUE(gpu_->Fill(ga->f32(), 2.5f, n).ok());
  EXPECT_EQ(Down(*ga, n), std::vector<float>(n, 2.5f));
}

TEST_F(CudaOpsTest, EncoderMatchesCpuAndBackwardIsDeterministic) {
  const int B = 3, T = 17, C = 40, V = 11;  // a small vocabulary forces repeated tokens
  auto tokens = RandomTokens(size_t(B) * T, V, 70);
  auto wte = RandomFloats(size_t(V) * C, 71), wpe = RandomFloats(size_t(T) * C, 72);
  auto dout = RandomFloats(size_t(B) * T * C, 73);
  std::vector<float> out(dout.size()), dwte(wte.size()), dwpe(wpe.size());
  auto gtok = Up(tokens), gwte = Up(wte), gwpe = Up(wpe), gdout = Up(dout), gout = Up(out);
  ASSERT_TRUE(
      cpu_->EncoderForward(out.data(), tokens.data(), wte.data(), wpe.data(), B, T, C, V).ok());
  ASSERT_TRUE(
      gpu_->EncoderForward(gout->f32(), gtok->i32(), gwte->f32(), gwpe->f32(), B, T, C, V).ok());
  EXPECT_EQ(Down(*gout, out.size()), out);
  ASSERT_TRUE(
      cpu_->EncoderBackward(dwte.data(), dwpe.data(), dout.data(), tokens.data(), B, T, C).ok());
  std::vector<float> first;
  for (int run = 0; run < 2; ++run) {
    auto gdwte = Up(std::vector<float>(wte.size())), gdwpe = Up(std::vector<float>(wpe.size()));
    ASSERT_TRUE(
        gpu_->EncoderBackward(gdwte->f32(), gdwpe->f32(), gdout->f32(), gtok->i32(), B, T, C).ok());
    auto got = Down(*gdwte, dwte.size());
    EXPECT_EQ(ExpectClose(got, dwte, kFp32Tol, "dwte"), 0);
    EXPECT_EQ(ExpectClose(Down(*gdwpe, dwpe.size()), dwpe, kFp32Tol, "dwpe"), 0);
    if (run == 0) {
      first = got;
    } else {
      EXPECT_EQ(got, first) << "encoder backward is not bitwise reproducible";
    }
  }
}

TEST_F(CudaOpsTest, Fp32AttentionForwardAndBackwardMatchCpu) {
  ASSERT_TRUE(SetFp32Attention(*gpu_, true).ok());
  AttentionShape s;
  s.B = 2;
  s.T = 70;  // not a multiple of the 32-row tiles
  s.NH = 3;
  s.HS = 16;
  const size_t C = size_t(s.NH) * s.HS;
  const size_t n_qkv = size_t(s.B) * s.T * 3 * C, n_out = size_t(s.B) * s.T * C;
  const size_t n_att = size_t(s.B) * s.NH * s.T * s.T;
  auto qkv = RandomFloats(n_qkv, 80, -2.0f, 2.0f), dout = RandomFloats(n_out, 81);
  auto dqkv = RandomFloats(n_qkv, 82);
  std::vector<float> out(n_out), att(n_att), datt(n_att);
  auto gqkv = Up(qkv), gdout = Up(dout), gdqkv = Up(dqkv), gout = Up(out), gatt = Up(att),
       gdatt = Up(datt);
  ASSERT_TRUE(cpu_->AttentionForward(out.data(), att.data(), qkv.data(), s).ok());
  ASSERT_TRUE(
      cpu_->AttentionBackward(dqkv.data(), datt.data(), dout.data(), qkv.data(), out.data(),
                              att.data(), s)
          .ok());
  ASSERT_TRUE(gpu_->AttentionForward(gout->f32(), gatt->f32(), gqkv->f32(), s).ok());
  ASSERT_TRUE(
      gpu_->AttentionBackward(gdqkv->f32(), gdatt->f32(), gdout->f32(), gqkv->f32(), gout->f32(),
                              gatt->f32(), s)
          .ok());
  EXPECT_EQ(ExpectClose(Down(*gout, n_out), out, kLongSumTol, "out"), 0);
  EXPECT_EQ(ExpectClose(Down(*gdqkv, n_qkv), dqkv, kLongSumTol, "dqkv"), 0);
}

// The default attention: bf16 operands on tensor cores, fp32 softmax and accumulation. A host
// emulation of its rounding points (Q, K, V, dO, P and dS to bf16) against fp64 gave largest
// errors of 3-5e-3 of each output's largest magnitude for these shapes (6.2e-3 for dK at
// HS = 128), so 1e-2 normwise leaves a 1.6-3x margin.
TEST_F(CudaOpsTest, TensorCoreAttentionMatchesCpuWithinBf16Tolerance) {
  if (ContextOf(*gpu_)->compute_major() < 8) {
    GTEST_SKIP() << "the tensor-core attention needs compute capability 8.0 or newer";
  }
  struct Case {
    int B, T, NH, HS;
  };
  // T not a multiple of the 64-row tiles, and one shorter than a tile; every head size.
  for (const Case& c : {Case{2, 70, 3, 16}, Case{1, 130, 2, 32}, Case{2, 130, 2, 64},
                        Case{1, 40, 1, 64}, Case{1, 200, 2, 128}}) {
    const std::string where = " (T=" + std::to_string(c.T) + " HS=" + std::to_string(c.HS) + ")";
    const AttentionShape s{c.B, c.T, c.NH, c.HS};
    const size_t C = size_t(s.NH) * s.HS;
    const size_t n_qkv = size_t(s.B) * s.T * 3 * C, n_out = size_t(s.B) * s.T * C;
    const size_t n_att = size_t(s.B) * s.NH * s.T * s.T;
    auto qkv = RandomFloats(n_qkv, 80, -2.0f, 2.0f), dout = RandomFloats(n_out, 81);
    const auto start = RandomFloats(n_qkv, 82);  // dqkv accumulates onto it on both sides
    std::vector<float> dqkv = start, out(n_out), att(n_att), datt(n_att);
    ASSERT_TRUE(cpu_->AttentionForward(out.data(), att.data(), qkv.data(), s).ok());
    ASSERT_TRUE(
        cpu_->AttentionBackward(dqkv.data(), datt.data(), dout.data(), qkv.data(), out.data(),
                                att.data(), s)
            .ok());
    const size_t n_state = gpu_->AttentionStateFloats(s);
    auto gqkv = Up(qkv), gdout = Up(dout), gout = Up(std::vector<float>(n_out));
    auto gdqkv = Up(start), glse = Up(std::vector<float>(n_state)),
         gscratch = Up(std::vector<float>(n_state));
    ASSERT_TRUE(gpu_->AttentionForward(gout->f32(), glse->f32(), gqkv->f32(), s).ok());
    ASSERT_TRUE(gpu_->AttentionBackward(gdqkv->f32(), gscratch->f32(), gdout->f32(), gqkv->f32(),
                                        gout->f32(), glse->f32(), s)
                    .ok());
    EXPECT_EQ(ExpectCloseNormwise(Down(*gout, n_out), out, kBf16Tol, "out" + where), 0);
    // The gradients alone (what was added to `start`), and dq, dk, dv each against its own
    // scale: each third of every row on its own.
    const std::vector<float> got = Down(*gdqkv, n_qkv);
    const size_t rows = size_t(s.B) * s.T;
    for (int part = 0; part < 3; ++part) {
      EXPECT_EQ(ExpectCloseNormwise(QkvGradientPart(got, start, part, rows, C),
                                    QkvGradientPart(dqkv, start, part, rows, C), kBf16Tol,
                                    std::string("d") + "qkv"[part] + where),
                0);
    }
  }
}

TEST_F(CudaOpsTest, TensorCoreAndFp32AttentionAgreeOnTheLogsumexp) {
  if (ContextOf(*gpu_)->compute_major() < 8) {
    GTEST_SKIP() << "the tensor-core attention needs compute capability 8.0 or newer";
  }
  const AttentionShape s{2, 100, 2, 64};
  const size_t C = size_t(s.NH) * s.HS;
  auto qkv = RandomFloats(size_t(s.B) * s.T * 3 * C, 83, -2.0f, 2.0f);
  const size_t n_state = gpu_->AttentionStateFloats(s);
  auto gqkv = Up(qkv), gout = Up(std::vector<float>(size_t(s.B) * s.T * C));
  auto lse_tc = Up(std::vector<float>(n_state)), lse_fp32 = Up(std::vector<float>(n_state));
  ASSERT_TRUE(gpu_->AttentionForward(gout->f32(), lse_tc->f32(), gqkv->f32(), s).ok());
  ASSERT_TRUE(SetFp32Attention(*gpu_, true).ok());
  ASSERT_TRUE(gpu_->AttentionForward(gout->f32(), lse_fp32->f32(), gqkv->f32(), s).ok());
  // The logsumexp is O(1) to O(10) here; bf16 scores move it by a few 1e-3.
  EXPECT_EQ(ExpectCloseNormwise(Down(*lse_tc, n_state), Down(*lse_fp32, n_state), kBf16Tol,
                                "lse"),
            0);
}

TEST(CudaOpsHostTest, SetFp32AttentionRefusesTheCpuBackend) {  // runs without a GPU
  auto cpu = MakeCpuOps(1);
  EXPECT_TRUE(absl::IsInvalidArgument(SetFp32Attention(*cpu, true)));
}

TEST_F(CudaOpsTest, CrossEntropyInPlaceMatchesCpu) {
  const int BT = 24, V = 1000, Vp = 1024;
  auto logits = RandomFloats(size_t(BT) * Vp, 90, -4.0f, 4.0f);
  auto targets = RandomTokens(BT, V, 91);
  std::vector<float> losses(BT), dlogits(logits.size());
  ASSERT_TRUE(cpu_->CrossEntropyForwardBackward(losses.data(), dlogits.data(), logits.data(),
                                                targets.data(), BT, V, Vp, 1.0f / BT)
                  .ok());
  auto glogits = Up(logits), gtargets = Up(targets), glosses = Up(losses);
  ASSERT_TRUE(gpu_->CrossEntropyForwardBackward(glosses->f32(), glogits->f32(), glogits->f32(),
                                                gtargets->i32(), BT, V, Vp, 1.0f / BT)
                  .ok());
  EXPECT_EQ(ExpectClose(Down(*glosses, BT), losses, kLongSumTol, "losses"), 0);
  EXPECT_EQ(ExpectClose(Down(*glogits, logits.size()), dlogits, kLongSumTol, "dlogits"), 0);
}

TEST_F(CudaOpsTest, AdamWMatchesCpuAndZeroesMaskedEntries) {
  const size_t n = 5003;
  auto p = RandomFloats(n, 100), g = RandomFloats(n, 101), m = RandomFloats(n, 102, -0.1f, 0.1f);
  auto v = RandomFloats(n, 103, 0.0f, 0.01f), mask = RandomFloats(n, 104, 0.0f, 1.0f);
  for (float& x : mask) {
    x = x < 0.3f ? 0.0f : 1.0f;
  }
  AdamWParams params;
  params.lr = 1e-3f;
  params.weight_decay = 0.1f;
  params.step = 7;
  params.grad_scale = 0.5f;
  auto gp = Up(p), gg = Up(g), gm = Up(m), gv = Up(v), gmask = Up(mask);
  ASSERT_TRUE(cpu_->AdamW(p.data(), g.data(), m.data(), v.data(), mask.data(), n, params).ok());
  ASSERT_TRUE(
      gpu_->AdamW(gp->f32(), gg->f32(), gm->f32(), gv->f32(), gmask->f32(), n, params).ok());
  const auto got = Down(*gp, n);
  EXPECT_EQ(ExpectClose(got, p, kFp32Tol, "params"), 0);
  EXPECT_EQ(ExpectClose(Down(*gm, n), m, kFp32Tol, "m"), 0);
  EXPECT_EQ(ExpectClose(Down(*gv, n), v, kFp32Tol, "v"), 0);
  for (size_t i = 0; i < n; ++i) {
    if (mask[i] == 0.0f) {
      ASSERT_EQ(got[i], 0.0f) << "masked param " << i;
    }
  }
}

TEST_F(CudaOpsTest, SumSquaresAndCountNonZeroMatchCpu) {
  const size_t n = 300001;
  auto x = RandomFloats(n, 110);
  for (size_t i = 0; i < n; i += 3) {
    x[i] = 0.0f;
  }
  std::vector<float> acc = {1.5f};
  auto gx = Up(x), gacc = Up(acc);
  ASSERT_TRUE(cpu_->SumSquares(acc.data(), x.data(), n).ok());
  ASSERT_TRUE(gpu_->SumSquares(gacc->f32(), gx->f32(), n).ok());
  EXPECT_EQ(ExpectClose(Down(*gacc, 1), acc, kFp32Tol, "sum of squares"), 0);
  int64_t cpu_count = -1, gpu_count = -2;
  ASSERT_TRUE(cpu_->CountNonZero(&cpu_count, x.data(), n).ok());
  ASSERT_TRUE(gpu_->CountNonZero(&gpu_count, gx->f32(), n).ok());
  EXPECT_EQ(gpu_count, cpu_count);
}

TEST_F(CudaOpsTest, BadShapesAreInvalidArgument) {
  auto buf = Up(std::vector<float>(64));
  EXPECT_TRUE(absl::IsInvalidArgument(
      gpu_->MatmulForward(buf->f32(), buf->f32(), buf->f32(), nullptr, 0, 4, 4)));
  EXPECT_TRUE(absl::IsInvalidArgument(
      gpu_->Gemm(false, false, 4, 4, 4, 1.0f, buf->f32(), 2, buf->f32(), 4, 0.0f, buf->f32(), 4)));
  EXPECT_TRUE(absl::IsInvalidArgument(gpu_->NmMask(buf->f32(), buf->f32(), 2, 6, 2, 4, 6)));
  EXPECT_TRUE(absl::IsInvalidArgument(gpu_->MagnitudeMask(buf->f32(), buf->f32(), 8, 9)));
  AttentionShape s;
  s.B = 1;
  s.T = 2;
  s.NH = 1;
  s.HS = 6;  // not a multiple of 4
  EXPECT_TRUE(
      absl::IsInvalidArgument(gpu_->AttentionForward(buf->f32(), buf->f32(), buf->f32(), s)));
}

}  // namespace
}  // namespace sparsescale::kernels::cuda
