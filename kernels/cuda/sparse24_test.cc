// The 2:4 sparse tensor-core forward product against the CPU dense product of the masked
// weight (relative tolerance 1e-2: bf16 operands, fp32 accumulation).
#include "kernels/cuda/sparse24.h"

#include <gtest/gtest.h>

#include <vector>

#include "kernels/cuda/cuda_test_util.h"

namespace sparsescale::kernels::cuda {
namespace {

using testing::CudaTest;
using testing::ExpectClose;
using testing::RandomFloats;

using Sparse24Test = CudaTest;

TEST(Sparse24ShapeTest, OnlyMultiplesOf64AreSupported) {
  EXPECT_TRUE(Sparse24ShapeSupported(768, 3072));
  EXPECT_TRUE(Sparse24ShapeSupported(64, 64));
  EXPECT_FALSE(Sparse24ShapeSupported(768, 100));
  EXPECT_FALSE(Sparse24ShapeSupported(0, 64));
}

TEST_F(Sparse24Test, ForwardMatchesCpuDenseProductOfMaskedWeight) {
  const int OC = 128, C = 192, BT = 200;  // BT is not a multiple of the 128-token tile
  auto w = RandomFloats(size_t(OC) * C, 1), inp = RandomFloats(size_t(BT) * C, 2);
  auto bias = RandomFloats(OC, 3);
  std::vector<float> mask(w.size()), masked(w.size()), want(size_t(BT) * OC);
  ASSERT_TRUE(cpu_->NmMask(mask.data(), w.data(), OC, C, 2, 4, w.size() / 2).ok());
  for (size_t i = 0; i < w.size(); ++i) {
    masked[i] = w[i] * mask[i];
  }
  ASSERT_TRUE(
      cpu_->MatmulForward(want.data(), inp.data(), masked.data(), bias.data(), BT, C, OC).ok());
  auto gw = Up(w), gmask = Up(mask), ginp = Up(inp), gbias = Up(bias), gout = Up(want);
  auto compressed = CompressSparse24(*gpu_, gw->f32(), gmask->f32(), OC, C);
  ASSERT_TRUE(compressed.ok()) << compressed.status().ToString();
  ASSERT_TRUE(
      Sparse24MatmulForward(*gpu_, gout->f32(), ginp->f32(), *compressed, gbias->f32(), BT).ok());
  EXPECT_EQ(ExpectClose(Down(*gout, want.size()), want, 1e-2, "sparse out"), 0);
}

TEST_F(Sparse24Test, MaskWithFewerThanTwoPerGroupStillMatches) {
  const int OC = 64, C = 64, BT = 33;
  auto w = RandomFloats(size_t(OC) * C, 4), inp = RandomFloats(size_t(BT) * C, 5);
  std::vector<float> mask(w.size(), 0.0f), masked(w.size(), 0.0f), want(size_t(BT) * OC);
  for (size_t i = 0; i < w.size(); i += 4) {
    mask[i + 3] = 1.0f;  // one kept element per group, in the last position
    masked[i + 3] = w[i + 3];
  }
  ASSERT_TRUE(cpu_->MatmulForward(want.data(), inp.data(), masked.data(), nullptr, BT, C, OC).ok());
  auto gw = Up(w), gmask = Up(mask), ginp = Up(inp), gout = Up(want);
  auto compressed = CompressSparse24(*gpu_, gw->f32(), gmask->f32(), OC, C);
  ASSERT_TRUE(compressed.ok()) << compressed.status().ToString();
  ASSERT_TRUE(
      Sparse24MatmulForward(*gpu_, gout->f32(), ginp->f32(), *compressed, nullptr, BT).ok());
  EXPECT_EQ(ExpectClose(Down(*gout, want.size()), want, 1e-2, "sparse out"), 0);
}

TEST_F(Sparse24Test, CompressRejectsThreeOfFour) {
  const int OC = 64, C = 64;
  std::vector<float> w(size_t(OC) * C, 1.0f), mask(w.size(), 0.0f);
  mask[0] = mask[1] = mask[2] = 1.0f;
  auto gw = Up(w), gmask = Up(mask);
  auto compressed = CompressSparse24(*gpu_, gw->f32(), gmask->f32(), OC, C);
  EXPECT_TRUE(absl::IsInvalidArgument(compressed.status())) << compressed.status().ToString();
}

TEST_F(Sparse24Test, CpuBackendIsRejected) {
  std::vector<float> w(64 * 64, 1.0f);
  auto compressed = CompressSparse24(*cpu_, w.data(), w.data(), 64, 64);
  EXPECT_TRUE(absl::IsInvalidArgument(compressed.status()));
}

}  // namespace
}  // namespace sparsescale::kernels::cuda
