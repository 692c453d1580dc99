#include "common/split_mix.h"

#include <gtest/gtest.h>

namespace sparsescale {
namespace {

// The published SplitMix64 outputs for seed 0: the law's fitter starts and the trainer's data
// sampling depend on exactly this stream.
TEST(SplitMix64Test, MatchesTheReferenceStream) {
  SplitMix64 rng(0);
  EXPECT_EQ(rng.Next(), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(rng.Next(), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(rng.Next(), 0x06C45D188009454Full);
}

TEST(SplitMix64Test, MixIsTheFirstOutputOfAGeneratorSeededWithItsInput) {
  for (uint64_t x : {0ull, 1ull, 42ull, 0xFFFFFFFFFFFFFFFFull}) {
    EXPECT_EQ(SplitMix64::Mix(x), SplitMix64(x).Next()) << x;
  }
  EXPECT_EQ(SplitMix64::StreamSeed(7, 3), SplitMix64::Mix(7 ^ (3 * 0xD1B54A32D192ED03ull)));
}

TEST(SplitMix64Test, UniformIsInTheHalfOpenUnitInterval) {
  SplitMix64 rng(5);
  for (int i = 0; i < 1000; ++i) {
    const double u = rng.Uniform();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

}  // namespace
}  // namespace sparsescale
