#include "law/svg_plot.h"

#include <gtest/gtest.h>

#include "law/law_plots.h"
#include "law/synthetic_runs_for_test.h"

namespace sparsescale::law {
namespace {

int Count(const std::string& text, const std::string& what) {
  int count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++count;
  }
  return count;
}

TEST(SvgPlotTest, LogAxisOverSeveralDecadesTicksAtPowersOfTen) {
  const std::vector<double> ticks = AxisTicks(3e5, 2e9, true);
  EXPECT_EQ(ticks, (std::vector<double>{1e6, 1e7, 1e8, 1e9}));
}

TEST(SvgPlotTest, NarrowLogAxisGetsRoundLinearTicks) {
  const std::vector<double> ticks = AxisTicks(1.55, 3.2, true);
  ASSERT_EQ(ticks.size(), 3u);
  EXPECT_DOUBLE_EQ(ticks[0], 2.0);
  EXPECT_DOUBLE_EQ(ticks[1], 2.5);
  EXPECT_DOUBLE_EQ(ticks[2], 3.0);
  EXPECT_EQ(AxisTicks(0.2, 0.9, false).size(), 4u);  // 0.2, 0.4, 0.6, 0.8
}

TEST(SvgPlotTest, RendersTitleAxesLegendAndEveryPoint) {
  SvgPlot plot("Loss & fit", {"x <label>", true}, {"y", false});
  plot.AddSeries({"first", "#f00", {{1, 1}, {10, 2}, {100, 3}}, true, true, false});
  plot.AddSeries({"", "#00f", {{-1, 5}, {50, 2.5}}, true, false, false});  // -1: not on log x
  const std::string svg = plot.Render();
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("Loss &amp; fit"), std::string::npos);
  EXPECT_NE(svg.find("x &lt;label&gt;"), std::string::npos);
  EXPECT_NE(svg.find(">first</text>"), std::string::npos);
  EXPECT_EQ(Count(svg, "<circle"), 3 + 1 + 1);  // 3 + 1 shown points, 1 legend marker
  EXPECT_EQ(Count(svg, "<path d="), 2);         // the line and its legend sample
}

TEST(SvgPlotTest, FitPlotHasOneSeriesPerSparsity) {
  const LawPreset truth = *FindPreset("t5");
  FitResult fit;
  fit.norm = truth.norm;
  fit.scales = truth.scales;
  ScoreFit(testing::SyntheticRuns(truth.norm, truth.scales, 0.01, 1), fit);
  const std::string svg = FitPlotSvg(fit, "fit");
  for (const char* name :
       {"S = 0<", "S = 0.5<", "S = 0.75<", "S = 0.875<", "predicted = measured"}) {
    EXPECT_NE(svg.find(name), std::string::npos) << name;
  }
  EXPECT_EQ(Count(svg, "<circle"), 120 + 4);
}

TEST(SvgPlotTest, ContourPlotDrawsFrontierAndLevels) {
  const LawPreset vit = *FindPreset("vit");
  const std::string svg =
      *ContourPlotSvg(vit.paper, CostOptions{}, {1e-9, 0.5, 0.75}, 1e6, 1e9, "contours");
  EXPECT_NE(svg.find("dense compute-optimal"), std::string::npos);
  EXPECT_NE(svg.find("S_opt &gt; 0 from here"), std::string::npos);
  EXPECT_NE(svg.find("S_opt = 0.75"), std::string::npos);
  EXPECT_EQ(Count(svg, "<path d="), 2 * 4);  // four lines, each with a legend sample
  EXPECT_FALSE(ContourPlotSvg(vit.paper, CostOptions{}, {0.5}, 0, 1e9, "x").ok());
}

TEST(SvgPlotTest, LossPlotDrawsTheLawPerSparsityAndBudgetAndMarksHeldOutRuns) {
  const LawPreset truth = *FindPreset("t5");
  const std::vector<RunRecord> runs = testing::SyntheticRuns(truth.norm, truth.scales, 0.01, 1);
  const std::string svg = LossVsNonzerosSvg(truth.norm, truth.scales, runs, 3e8, "loss");
  EXPECT_NE(svg.find("held out (N = 3e+08)"), std::string::npos);
  EXPECT_NE(svg.find("S = 0.875<"), std::string::npos);
  // 100 fitted and 20 held-out runs, plus five legend markers.
  EXPECT_EQ(Count(svg, "<circle"), 120 + 5);
  EXPECT_EQ(Count(svg, "<path d="), 4 * 5);  // a law line per sparsity and budget
  EXPECT_EQ(Count(svg, "stroke-dasharray"), 4 * 4);
}

TEST(SvgPlotTest, ContourPlotWithSamplesDrawsABandAroundEachLevel) {
  const LawPreset vit = *FindPreset("vit");
  std::vector<PaperCoeffs> samples;
  for (double scale : {0.97, 0.99, 1.0, 1.01, 1.03}) {
    PaperCoeffs sample = vit.paper;
    sample.b_s *= scale;
    samples.push_back(sample);
  }
  const std::string svg =
      *ContourPlotSvg(vit.paper, CostOptions{}, {0.5, 0.75}, 1e6, 1e9, "contours", samples);
  EXPECT_EQ(Count(svg, "<path d="), 2 * 3 + 2 * 2);  // three lines with legend, two bands
}

TEST(SvgPlotTest, WriteFileFailsOnUnwritablePath) {
  SvgPlot plot("t", {"x", true}, {"y", true});
  EXPECT_EQ(plot.WriteFile("/nonexistent-dir/plot.svg").code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace sparsescale::law
