#include "common/log_repeat.h"

#include "gtest/gtest.h"

namespace sparsescale {
namespace {

TEST(RepeatedLinesTest, FirstLineIsWrittenAndRepeatsWithinTheWindowAreHeldBack) {
  RepeatedLines lines(/*window_ms=*/10'000);
  EXPECT_EQ(lines.Admit("store", "disk full", 1'000), "disk full");
  for (int i = 0; i < 571; ++i) {
    EXPECT_EQ(lines.Admit("store", "disk full", 1'000 + i * 10), std::nullopt);
  }
  EXPECT_EQ(lines.HeldBack("store"), 571);
}

TEST(RepeatedLinesTest, FirstLineAfterTheWindowCarriesTheCountAndOpensANewWindow) {
  RepeatedLines lines(/*window_ms=*/10'000);
  ASSERT_TRUE(lines.Admit("store", "disk full", 0).has_value());
  for (int i = 0; i < 5; ++i) {
    ASSERT_FALSE(lines.Admit("store", "disk full", 100 + i).has_value());
  }
  EXPECT_EQ(lines.Admit("store", "disk full", 12'000), "disk full (repeated 5 times in 12s)");
  EXPECT_EQ(lines.HeldBack("store"), 0);
  EXPECT_EQ(lines.Admit("store", "disk full", 12'500), std::nullopt);
}

TEST(RepeatedLinesTest, ALineAfterAQuietWindowIsWrittenPlain) {
  RepeatedLines lines(/*window_ms=*/1'000);
  ASSERT_TRUE(lines.Admit("k", "a", 0).has_value());
  EXPECT_EQ(lines.Admit("k", "a", 5'000), "a");
}

TEST(RepeatedLinesTest, KeysAreCountedApart) {
  RepeatedLines lines(/*window_ms=*/10'000);
  EXPECT_TRUE(lines.Admit("store", "x", 0).has_value());
  EXPECT_TRUE(lines.Admit("checkpoint", "y", 1).has_value());
  EXPECT_FALSE(lines.Admit("store", "x", 2).has_value());
  EXPECT_EQ(lines.HeldBack("checkpoint"), 0);
  EXPECT_EQ(lines.HeldBack("store"), 1);
}

}  // namespace
}  // namespace sparsescale
