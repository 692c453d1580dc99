#include "common/log.h"

#include "gtest/gtest.h"

namespace sparsescale {
namespace {

TEST(LogTest, LineCarriesUtcMillisecondsLevelAndComponent) {
  // 2026-12-02T03:24:32.007Z
  const int64_t unix_ms = 1796181872007;
  EXPECT_EQ(FormatLogLine(LogLevel::kWarning, "worker", unix_ms, "lease lost"),
            "2026-12-02T03:24:32.007Z W worker: lease lost\n");
  EXPECT_EQ(FormatLogLine(LogLevel::kInfo, "coordinator", unix_ms, "x"),
            "2026-12-02T03:24:32.007Z I coordinator: x\n");
}

TEST(LogTest, ParsesTheFourLevelNamesAndRejectsOthers) {
  LogLevel level = LogLevel::kInfo;
  EXPECT_TRUE(ParseLogLevel("debug", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_TRUE(ParseLogLevel("error", &level));
  EXPECT_EQ(level, LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("verbose", &level));
  EXPECT_EQ(level, LogLevel::kError);
}

TEST(LogTest, LinesBelowTheMinimumLevelAreDisabled) {
  SetLogLevel(LogLevel::kWarning);
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  SetLogLevel(LogLevel::kInfo);
  EXPECT_TRUE(LogEnabled(LogLevel::kInfo));
  EXPECT_FALSE(LogEnabled(LogLevel::kDebug));
}

}  // namespace
}  // namespace sparsescale
