#include "common/metrics.h"

#include "gtest/gtest.h"

namespace sparsescale::metrics {
namespace {

TEST(MetricsTest, CountersRenderWithHelpTypeAndLabels) {
  Registry registry;
  auto& retries = registry.AddCounter("sparsescale_retries_total", "Retries by class.");
  retries.With({{"failure_class", "INFRA"}}).Add(2);
  retries.With({{"failure_class", "JOB"}}).Add();
  const std::string text = registry.Render();
  EXPECT_NE(text.find("# HELP sparsescale_retries_total Retries by class.\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE sparsescale_retries_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("sparsescale_retries_total{failure_class=\"INFRA\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("sparsescale_retries_total{failure_class=\"JOB\"} 1\n"), std::string::npos);
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  Registry registry;
  auto& latency = registry.AddHistogram("lat_seconds", "Latency.", {0.25, 1});
  Histogram& h = latency.With({{"method", "A"}});
  h.Observe(0.125);
  h.Observe(0.25);  // a bound is inclusive (le)
  h.Observe(0.5);
  h.Observe(3);
  const std::string text = registry.Render();
  EXPECT_NE(text.find("lat_seconds_bucket{method=\"A\",le=\"0.25\"} 2\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("lat_seconds_bucket{method=\"A\",le=\"1\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_bucket{method=\"A\",le=\"+Inf\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_count{method=\"A\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_sum{method=\"A\"} 3.875\n"), std::string::npos) << text;
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(0.5), "0.5");
}

}  // namespace
}  // namespace sparsescale::metrics
