// The GPU pruning masks against the CPU backend: exact equality (the selection is exact and
// ties go to the lower index on both), exact keep counts, and exact n:m structure.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/cuda/cuda_test_util.h"

namespace sparsescale::kernels::cuda {
namespace {

using testing::CudaTest;
using testing::RandomFloats;

using CudaMasksTest = CudaTest;

// Values drawn from a small set so that many ties sit at the selection threshold.
std::vector<float> TiedWeights(size_t n, uint32_t seed) {
  auto w = RandomFloats(n, seed, -1.0f, 1.0f);
  for (float& x : w) {
    x = static_cast<float>(static_cast<int>(x * 8.0f)) / 8.0f;
  }
  return w;
}

size_t Ones(const std::vector<float>& mask) {
  size_t count = 0;
  for (float m : mask) {
    count += m == 1.0f ? 1 : 0;
  }
  return count;
}

TEST_F(CudaMasksTest, MagnitudeMaskEqualsCpuWithManyTies) {
  const size_t n = 200003;
  const auto w = TiedWeights(n, 1);
  auto gw = Up(w), gmask = Up(std::vector<float>(n));
  for (size_t keep : {size_t{0}, size_t{1}, n / 3, n / 2 + 7, n - 1, n}) {
    std::vector<float> want(n);
    ASSERT_TRUE(cpu_->MagnitudeMask(want.data(), w.data(), n, keep).ok());
    ASSERT_TRUE(gpu_->MagnitudeMask(gmask->f32(), gw->f32(), n, keep).ok());
    const auto got = Down(*gmask, n);
    EXPECT_EQ(Ones(got), keep) << "keep=" << keep;
    EXPECT_TRUE(got == want) << "GPU and CPU masks differ for keep=" << keep;
  }
}

TEST_F(CudaMasksTest, ExactTwoFourMaskKeepsTwoOfEveryFourAndEqualsCpu) {
  const int rows = 96, cols = 256;
  const size_t n = size_t(rows) * cols;
  const auto w = TiedWeights(n, 2);
  std::vector<float> want(n);
  ASSERT_TRUE(cpu_->NmMask(want.data(), w.data(), rows, cols, 2, 4, n / 2).ok());
  auto gw = Up(w), gmask = Up(std::vector<float>(n));
  ASSERT_TRUE(gpu_->NmMask(gmask->f32(), gw->f32(), rows, cols, 2, 4, n / 2).ok());
  const auto got = Down(*gmask, n);
  for (size_t g = 0; g < n / 4; ++g) {
    const float kept = got[4 * g] + got[4 * g + 1] + got[4 * g + 2] + got[4 * g + 3];
    ASSERT_EQ(kept, 2.0f) << "group " << g;
  }
  EXPECT_TRUE(got == want);
}

TEST_F(CudaMasksTest, GradualNmMaskKeepsBudgetAndEqualsCpu) {
  const int rows = 64, cols = 384;
  const size_t n = size_t(rows) * cols;
  const auto w = TiedWeights(n, 3);
  auto gw = Up(w), gmask = Up(std::vector<float>(n));
  for (size_t keep : {n / 4, n / 4 + 1, n / 2 + 333, n}) {
    std::vector<float> want(n);
    ASSERT_TRUE(cpu_->NmMask(want.data(), w.data(), rows, cols, 1, 4, keep).ok());
    ASSERT_TRUE(gpu_->NmMask(gmask->f32(), gw->f32(), rows, cols, 1, 4, keep).ok());
    const auto got = Down(*gmask, n);
    EXPECT_EQ(Ones(got), keep);
    EXPECT_TRUE(got == want) << "keep=" << keep;
  }
}

TEST_F(CudaMasksTest, MaskedWeightsHaveExactlyKeepNonZeros) {
  const size_t n = 1 << 20;
  auto w = RandomFloats(n, 4);
  auto gw = Up(w), gmask = Up(std::vector<float>(n));
  const size_t keep = n / 10;
  ASSERT_TRUE(gpu_->MagnitudeMask(gmask->f32(), gw->f32(), n, keep).ok());
  ASSERT_TRUE(gpu_->ApplyMask(gw->f32(), gmask->f32(), n).ok());
  int64_t nonzeros = -1;
  ASSERT_TRUE(gpu_->CountNonZero(&nonzeros, gw->f32(), n).ok());
  EXPECT_EQ(nonzeros, static_cast<int64_t>(keep));
}

}  // namespace
}  // namespace sparsescale::kernels::cuda
