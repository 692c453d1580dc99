// Every fp32 CpuOps method against the double-precision reference on fresh random inputs,
// with one and two threads (the threaded paths must agree with the reference too).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <vector>

#include "kernels/cpu/reference.h"
#include "kernels/cpu/test_util.h"
#include "kernels/ops.h"

namespace sparsescale::kernels {
namespace {

using testing::ExpectClose;
using testing::RandomTokens;
using testing::RandomVector;
using testing::RoundToFloat;
using testing::ToFloat;
using Vec = std::vector<double>;
using FVec = std::vector<float>;

constexpr double kRelTol = 1e-4;

// Random data already rounded to float, so both sides see identical inputs.
Vec Data(size_t n, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  return RoundToFloat(RandomVector(n, seed, lo, hi));
}

class CpuOpsTest : public ::testing::TestWithParam<int> {
 protected:
  std::unique_ptr<Ops> ops_ = MakeCpuOps(GetParam());
};

INSTANTIATE_TEST_SUITE_P(Threads, CpuOpsTest, ::testing::Values(1, 2));

TEST_P(CpuOpsTest, MatmulForwardMatchesReferenceWithAndWithoutBias) {
  const int BT = 37, C = 40, OC = 24;
  const Vec inp = Data(BT * C, 1), weight = Data(OC * C, 2), bias = Data(OC, 3);
  for (bool with_bias : {true, false}) {
    Vec want(BT * OC);
    reference::MatmulForward(want.data(), inp.data(), weight.data(),
                             with_bias ? bias.data() : nullptr, BT, C, OC);
    FVec got(BT * OC, 7.0f);
    const FVec fbias = ToFloat(bias);
    ASSERT_TRUE(ops_->MatmulForward(got.data(), ToFloat(inp).data(), ToFloat(weight).data(),
                                    with_bias ? fbias.data() : nullptr, BT, C, OC)
                    .ok());
    ExpectClose(got, want, kRelTol, with_bias ? "out (bias)" : "out (no bias)");
  }
}

TEST_P(CpuOpsTest, PackedTwoFourProductEqualsTheDenseProductOfTheMaskedWeight) {
  const int BT = 19, C = 32, OC = 12;
  const FVec inp = ToFloat(Data(BT * C, 11)), weight = ToFloat(Data(OC * C, 12));
  const FVec bias = ToFloat(Data(OC, 13));
  FVec mask(OC * C, 0.0f), masked(OC * C, 0.0f);
  for (int i = 0; i < OC * C; ++i) {
    if ((i * 7 + i / 4) % 4 < 2) {  // two kept in every group of four, varying positions
      mask[i] = 1.0f;
      masked[i] = weight[i];
    }
  }
  EXPECT_FALSE(ops_->HasSparseMatmul(OC, C, 2, 4));  // no faster kernel on the CPU
  auto packed = ops_->PackSparseWeight(weight.data(), mask.data(), OC, C, 2, 4);
  ASSERT_TRUE(packed.ok()) << packed.status();
  FVec want(BT * OC), got(BT * OC, 7.0f);
  ASSERT_TRUE(
      ops_->MatmulForward(want.data(), inp.data(), masked.data(), bias.data(), BT, C, OC).ok());
  ASSERT_TRUE(ops_->SparseMatmulForward(got.data(), inp.data(), **packed, bias.data(), BT).ok());
  EXPECT_EQ(got, want);
  // New values under the same mask: the repacked product follows them.
  FVec doubled = weight;
  for (float& w : doubled) {
    w *= 2.0f;
  }
  ASSERT_TRUE(ops_->RepackSparseWeight(**packed, doubled.data(), mask.data()).ok());
  ASSERT_TRUE(ops_->SparseMatmulForward(got.data(), inp.data(), **packed, nullptr, BT).ok());
  for (float& w : masked) {
    w *= 2.0f;
  }
  ASSERT_TRUE(ops_->MatmulForward(want.data(), inp.data(), masked.data(), nullptr, BT, C, OC).ok());
  EXPECT_EQ(got, want);
}

TEST_P(CpuOpsTest, PackingRefusesAMaskThatIsNotNm) {
  const int C = 8, OC = 2;
  const FVec weight = ToFloat(Data(OC * C, 14));
  FVec mask(OC * C, 0.0f);
  mask[8] = mask[9] = mask[10] = 1.0f;  // row 1 keeps 3 of its first 4
  auto packed = ops_->PackSparseWeight(weight.data(), mask.data(), OC, C, 2, 4);
  ASSERT_FALSE(packed.ok());
  EXPECT_EQ(packed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(packed.status().message().find("mask: row 1 keeps 3"), std::string::npos)
      << packed.status();
  auto bad_m = ops_->PackSparseWeight(weight.data(), mask.data(), OC, C, 2, 3);
  ASSERT_FALSE(bad_m.ok());
  EXPECT_NE(bad_m.status().message().find("m: must exceed n"), std::string::npos);
}

TEST_P(CpuOpsTest, MatmulBackwardAccumulatesLikeReference) {
  const int BT = 33, C = 20, OC = 28;
  const Vec inp = Data(BT * C, 4), weight = Data(OC * C, 5), dout = Data(BT * OC, 6);
  Vec dinp = Data(BT * C, 7), dw = Data(OC * C, 8), db = Data(OC, 9);
  FVec fdinp = ToFloat(dinp), fdw = ToFloat(dw), fdb = ToFloat(db);
  reference::MatmulBackward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(),
                            weight.data(), BT, C, OC);
  ASSERT_TRUE(ops_->MatmulBackward(fdinp.data(), fdw.data(), fdb.data(), ToFloat(dout).data(),
                                   ToFloat(inp).data(), ToFloat(weight).data(), BT, C, OC)
                  .ok());
  ExpectClose(fdinp, dinp, kRelTol, "dinp");
  ExpectClose(fdw, dw, kRelTol, "dweight");
  ExpectClose(fdb, db, kRelTol, "dbias");
}

TEST_P(CpuOpsTest, MatmulBackwardSkipsNullDinpAndDbias) {
  const int BT = 9, C = 8, OC = 5;
  const Vec inp = Data(BT * C, 10), dout = Data(BT * OC, 11);
  Vec dw(OC * C, 0.0), unused_dinp(BT * C, 0.0);
  reference::MatmulBackward<double>(unused_dinp.data(), dw.data(), nullptr, dout.data(), inp.data(),
                                    Vec(OC * C, 0.0).data(), BT, C, OC);
  FVec fdw(OC * C, 0.0f);
  ASSERT_TRUE(ops_->MatmulBackward(nullptr, fdw.data(), nullptr, ToFloat(dout).data(),
                                   ToFloat(inp).data(), nullptr, BT, C, OC)
                  .ok());
  ExpectClose(fdw, dw, kRelTol, "dweight");
}

TEST_P(CpuOpsTest, LayerNormForwardAndBackwardMatchReference) {
  const int N = 19, C = 48;
  const Vec inp = Data(N * C, 12, -3, 3), weight = Data(C, 13), bias = Data(C, 14);
  const Vec dout = Data(N * C, 15);
  Vec out(N * C), mean(N), rstd(N);
  reference::LayerNormForward(out.data(), mean.data(), rstd.data(), inp.data(), weight.data(),
                              bias.data(), N, C, 1e-5);
  FVec fout(N * C), fmean(N), frstd(N);
  const FVec finp = ToFloat(inp), fweight = ToFloat(weight);
  ASSERT_TRUE(ops_->LayerNormForward(fout.data(), fmean.data(), frstd.data(), finp.data(),
                                     fweight.data(), ToFloat(bias).data(), N, C, 1e-5f)
                  .ok());
  ExpectClose(fout, out, kRelTol, "out");
  ExpectClose(fmean, mean, kRelTol, "mean");
  ExpectClose(frstd, rstd, kRelTol, "rstd");

  Vec dinp = Data(N * C, 16), dw = Data(C, 17), db = Data(C, 18);
  FVec fdinp = ToFloat(dinp), fdw = ToFloat(dw), fdb = ToFloat(db);
  reference::LayerNormBackward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(),
                               weight.data(), mean.data(), rstd.data(), N, C);
  ASSERT_TRUE(ops_->LayerNormBackward(fdinp.data(), fdw.data(), fdb.data(), ToFloat(dout).data(),
                                      finp.data(), fweight.data(), fmean.data(), frstd.data(), N, C)
                  .ok());
  ExpectClose(fdinp, dinp, kRelTol, "dinp");
  ExpectClose(fdw, dw, kRelTol, "dweight");
  ExpectClose(fdb, db, kRelTol, "dbias");
}

TEST_P(CpuOpsTest, GeluForwardAndBackwardMatchReference) {
  const size_t n = 1001;
  const Vec inp = Data(n, 20, -8, 8), dout = Data(n, 21);
  Vec out(n);
  reference::GeluForward(out.data(), inp.data(), n);
  FVec fout(n);
  ASSERT_TRUE(ops_->GeluForward(fout.data(), ToFloat(inp).data(), n).ok());
  ExpectClose(fout, out, kRelTol, "out");
  Vec dinp = Data(n, 22);
  FVec fdinp = ToFloat(dinp);
  reference::GeluBackward(dinp.data(), inp.data(), dout.data(), n);
  ASSERT_TRUE(ops_->GeluBackward(fdinp.data(), ToFloat(inp).data(), ToFloat(dout).data(), n).ok());
  ExpectClose(fdinp, dinp, kRelTol, "dinp");
}

TEST_P(CpuOpsTest, ResidualAccumulateAndFillMatchReference) {
  const size_t n = 77;
  const Vec a = Data(n, 23), b = Data(n, 24);
  Vec sum(n);
  reference::ResidualForward(sum.data(), a.data(), b.data(), n);
  FVec fa = ToFloat(a);
  ASSERT_TRUE(ops_->ResidualForward(fa.data(), fa.data(), ToFloat(b).data(), n).ok());  // aliased
  ExpectClose(fa, sum, 1e-7, "residual");
  Vec y = Data(n, 25);
  FVec fy = ToFloat(y);
  reference::Accumulate(y.data(), a.data(), n);
  ASSERT_TRUE(ops_->Accumulate(fy.data(), ToFloat(a).data(), n).ok());
  ExpectClose(fy, y, 1e-7, "accumulate");
  ASSERT_TRUE(ops_->Fill(fy.data(), 2.5f, n).ok());
  ExpectClose(fy, Vec(n, 2.5), 0, "fill");
}

TEST_P(CpuOpsTest, EncoderForwardAndBackwardMatchReference) {
  const int B = 3, T = 7, C = 10, V = 5;
  const std::vector<int32_t> tokens = RandomTokens(B * T, V, 26);
  const Vec wte = Data(V * C, 27), wpe = Data(T * C, 28), dout = Data(B * T * C, 29);
  Vec out(B * T * C);
  reference::EncoderForward(out.data(), tokens.data(), wte.data(), wpe.data(), B, T, C);
  FVec fout(out.size());
  ASSERT_TRUE(ops_->EncoderForward(fout.data(), tokens.data(), ToFloat(wte).data(),
                                   ToFloat(wpe).data(), B, T, C, V)
                  .ok());
  ExpectClose(fout, out, 1e-7, "out");
  Vec dwte = Data(V * C, 30), dwpe = Data(T * C, 31);
  FVec fdwte = ToFloat(dwte), fdwpe = ToFloat(dwpe);
  reference::EncoderBackward(dwte.data(), dwpe.data(), dout.data(), tokens.data(), B, T, C);
  ASSERT_TRUE(ops_->EncoderBackward(fdwte.data(), fdwpe.data(), ToFloat(dout).data(), tokens.data(),
                                    B, T, C)
                  .ok());
  ExpectClose(fdwte, dwte, kRelTol, "dwte");
  ExpectClose(fdwpe, dwpe, kRelTol, "dwpe");
}

TEST_P(CpuOpsTest, AttentionForwardAndBackwardMatchReference) {
  const int B = 2, T = 17, NH = 3, HS = 8, C = NH * HS;
  const AttentionShape s{B, T, NH, HS};
  const Vec qkv = Data(B * T * 3 * C, 32, -2, 2), dout = Data(B * T * C, 33);
  Vec out(B * T * C), att(B * NH * T * T);
  reference::AttentionForward(out.data(), att.data(), qkv.data(), B, T, NH, HS);
  const FVec fqkv = ToFloat(qkv);
  FVec fout(out.size(), 9.0f), fatt(att.size(), 9.0f), fdatt(att.size(), 9.0f);
  ASSERT_TRUE(ops_->AttentionForward(fout.data(), fatt.data(), fqkv.data(), s).ok());
  ExpectClose(fout, out, kRelTol, "out");

  Vec dqkv = Data(qkv.size(), 34);
  FVec fdqkv = ToFloat(dqkv);
  reference::AttentionBackward(dqkv.data(), dout.data(), qkv.data(), att.data(), B, T, NH, HS);
  ASSERT_TRUE(ops_->AttentionBackward(fdqkv.data(), fdatt.data(), ToFloat(dout).data(), fqkv.data(),
                                      fout.data(), fatt.data(), s)
                  .ok());
  ExpectClose(fdqkv, dqkv, kRelTol, "dqkv");
}

TEST_P(CpuOpsTest, CrossEntropyMatchesReferenceSeparateAndAliased) {
  const int BT = 13, V = 50, Vp = 64;
  const float scale = 1.0f / BT;
  const Vec logits = Data(BT * Vp, 35, -6, 6);
  const std::vector<int32_t> targets = RandomTokens(BT, V, 36);
  Vec losses(BT), dlogits(BT * Vp);
  reference::CrossEntropyForwardBackward<double>(losses.data(), dlogits.data(), logits.data(),
                                                 targets.data(), BT, V, Vp, scale);
  FVec flosses(BT), fdlogits(BT * Vp, 5.0f);
  ASSERT_TRUE(ops_->CrossEntropyForwardBackward(flosses.data(), fdlogits.data(),
                                                ToFloat(logits).data(), targets.data(), BT, V, Vp,
                                                scale)
                  .ok());
  ExpectClose(flosses, losses, kRelTol, "losses");
  ExpectClose(fdlogits, dlogits, kRelTol, "dlogits");

  FVec in_place = ToFloat(logits);
  FVec alias_losses(BT);
  ASSERT_TRUE(ops_->CrossEntropyForwardBackward(alias_losses.data(), in_place.data(),
                                                in_place.data(), targets.data(), BT, V, Vp, scale)
                  .ok());
  EXPECT_EQ(alias_losses, flosses);
  EXPECT_EQ(in_place, fdlogits);

  FVec loss_only(BT);
  ASSERT_TRUE(ops_->CrossEntropyForwardBackward(loss_only.data(), nullptr, ToFloat(logits).data(),
                                                targets.data(), BT, V, Vp, scale)
                  .ok());
  EXPECT_EQ(loss_only, flosses);
}

TEST_P(CpuOpsTest, SumSquaresAddsToAccumulator) {
  const size_t n = 1000;
  const Vec x = Data(n, 37);
  double want = 0.5;
  reference::SumSquares(&want, x.data(), n);
  float accum = 0.5f;
  ASSERT_TRUE(ops_->SumSquares(&accum, ToFloat(x).data(), n).ok());
  EXPECT_NEAR(accum, want, 1e-6 * want);
}

TEST_P(CpuOpsTest, AdamWMatchesReference) {
  const size_t n = 300;
  const Vec grads = Data(n, 38);
  AdamWParams p;
  p.lr = 1e-3f;
  p.weight_decay = 0.1f;
  p.step = 3;
  p.grad_scale = 0.5f;
  Vec params = Data(n, 39), m = Data(n, 40, -0.1, 0.1), v = Data(n, 41, 0, 0.01);
  FVec fparams = ToFloat(params), fm = ToFloat(m), fv = ToFloat(v);
  reference::AdamW<double>(params.data(), grads.data(), m.data(), v.data(), nullptr, n, p.lr,
                           p.beta1, p.beta2, p.eps, p.weight_decay, p.step, p.grad_scale);
  ASSERT_TRUE(
      ops_->AdamW(fparams.data(), ToFloat(grads).data(), fm.data(), fv.data(), nullptr, n, p).ok());
  ExpectClose(fparams, params, kRelTol, "params");
  ExpectClose(fm, m, kRelTol, "m");
  ExpectClose(fv, v, kRelTol, "v");
}

TEST_P(CpuOpsTest, AllocateReturnsZeroedAlignedMemoryAndCopiesRoundTrip) {
  for (size_t bytes : {size_t{0}, size_t{4}, size_t{1000}}) {
    auto buf = ops_->Allocate(bytes);
    ASSERT_TRUE(buf.ok());
    EXPECT_EQ((*buf)->bytes(), bytes);
    EXPECT_EQ(reinterpret_cast<uintptr_t>((*buf)->data()) % 64, 0u);
    const char* p = static_cast<const char*>((*buf)->data());
    EXPECT_EQ(std::count(p, p + bytes, 0), static_cast<std::ptrdiff_t>(bytes));
  }
  auto a = ops_->Allocate(40);
  auto b = ops_->Allocate(40);
  ASSERT_TRUE(a.ok() && b.ok());
  const FVec src = ToFloat(Data(10, 42));
  FVec back(10);
  ASSERT_TRUE(ops_->CopyToDevice((*a)->data(), src.data(), 40).ok());
  ASSERT_TRUE(ops_->CopyDeviceToDevice((*b)->data(), (*a)->data(), 40).ok());
  ASSERT_TRUE(ops_->CopyToHost(back.data(), (*b)->data(), 40).ok());
  EXPECT_EQ(back, src);
  EXPECT_EQ(ops_->name(), "cpu");
}

}  // namespace
}  // namespace sparsescale::kernels
