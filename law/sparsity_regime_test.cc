// CheckSparsityRegime: which pairs count, which disagree, the report, and the released runs.
#include "law/sparsity_regime.h"

#include <gtest/gtest.h>

#include "law/paper_data_for_test.h"
#include "law/synthetic_runs_for_test.h"

namespace sparsescale::law {
namespace {

RunRecord MakeRun(double sparsity, double nonzeros, double data, double loss) {
  RunRecord run;
  run.label = "run";
  run.structure = sparsity == 0 ? "dense" : "unstructured";
  run.sparsity = sparsity;
  run.nonzeros = nonzeros;
  run.data = data;
  run.loss = loss;
  return run;
}

TEST(SparsityRegimeTest, RunsDrawnFromTheLawAllAgree) {
  const LawPreset vit = *FindPreset("vit");
  const std::vector<RunRecord> runs = testing::SyntheticRuns(vit.norm, vit.scales, 0, 1);
  const SparsityRegime regime = CheckSparsityRegime(runs);
  // 6 sizes x 5 budgets, each with 4 sparsities at equal N: 6 pairs per group.
  EXPECT_EQ(regime.pairs, 6 * 5 * 6);
  EXPECT_TRUE(regime.violations.empty());
  EXPECT_NE(FormatSparsityRegime(regime).find("in 180 of 180 pairs"), std::string::npos);
}

TEST(SparsityRegimeTest, OnlyASparserRunWithAsManyNonzerosAndTheSameDataCounts) {
  std::vector<RunRecord> runs = {
      MakeRun(0, 1000, 1e5, 2.0),
      MakeRun(0.5, 1100, 1e5, 2.1),  // sparser, 1.1x the non-zeros, higher loss: a violation
      MakeRun(0.75, 900, 1e5, 2.5),  // sparser but fewer non-zeros: not comparable with either
      MakeRun(0.875, 1300, 1e5,
              1.5),  // 1.3x the dense run's non-zeros: too far; 1.18x S = 0.5: agrees
      MakeRun(0.5, 1000, 2e5, 2.4),  // other D: no pair with the dense run at 1e5
  };
  RunRecord nm = MakeRun(0.5, 1000, 1e5, 9.0);
  nm.structure = "n:m";
  nm.n = 2;
  nm.m = 4;
  runs.push_back(nm);  // n:m runs are left out
  const SparsityRegime regime = CheckSparsityRegime(runs);
  EXPECT_EQ(regime.pairs, 2);
  ASSERT_EQ(regime.violations.size(), 1u);
  EXPECT_EQ(regime.violations[0].denser.sparsity, 0);
  EXPECT_EQ(regime.violations[0].sparser.sparsity, 0.5);
  const std::string text = FormatSparsityRegime(regime);
  EXPECT_NE(text.find("in 1 of 2 pairs"), std::string::npos) << text;
  EXPECT_NE(text.find("S = 0.5, N = 1100: 2.1000 > S = 0, N = 1000: 2.0000 (+5.00%)"),
            std::string::npos)
      << text;
  // A wider ratio also takes in S = 0.875 against the dense run and against S = 0.75 (1.44x);
  // both agree.
  const SparsityRegime wider = CheckSparsityRegime(runs, 1.5);
  EXPECT_EQ(wider.pairs, 4);
  EXPECT_EQ(wider.violations.size(), 1u);
}

TEST(SparsityRegimeTest, ViolationsAreListedWorstFirstAndTruncated) {
  std::vector<RunRecord> runs;
  for (int i = 0; i < 4; ++i) {
    const double d = 1e5 * (i + 1);
    runs.push_back(MakeRun(0, 1000, d, 2.0));
    runs.push_back(MakeRun(0.5, 1000, d, 2.0 + 0.1 * (i + 1)));
  }
  const SparsityRegime regime = CheckSparsityRegime(runs);
  ASSERT_EQ(regime.violations.size(), 4u);
  EXPECT_DOUBLE_EQ(regime.violations[0].sparser.loss, 2.4);
  EXPECT_DOUBLE_EQ(regime.violations[3].sparser.loss, 2.1);
  const std::string text = FormatSparsityRegime(regime, 2);
  EXPECT_NE(text.find("... and 2 more"), std::string::npos) << text;
  EXPECT_EQ(FormatSparsityRegime(CheckSparsityRegime({MakeRun(0, 1000, 1e5, 2.0)})), "");
}

// The paper: "in every group of equal non-zeros and equal data, loss falls as sparsity rises".
TEST(SparsityRegimeTest, TheReleasedRunsAreInsideTheRegime) {
  for (const char* name : {"t5-c4.csv", "vit-jft.json"}) {
    std::optional<RunSet> set = testing::LoadPaperRuns(name);
    ASSERT_TRUE(set.has_value());
    const SparsityRegime regime = CheckSparsityRegime(set->runs);
    EXPECT_GT(regime.pairs, 0) << name;
    EXPECT_TRUE(regime.violations.empty()) << name << "\n" << FormatSparsityRegime(regime);
  }
}

}  // namespace
}  // namespace sparsescale::law
