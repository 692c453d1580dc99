#include "law/run_io.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <optional>

#include "law/paper_data_for_test.h"

namespace sparsescale::law {
namespace {

using testing::LoadPaperRuns;
using testing::PaperDataFile;

std::string ErrorOf(const std::string& text) {
  const absl::StatusOr<RunSet> set = ParseRuns(text);
  EXPECT_FALSE(set.ok()) << "expected an error for:\n" << text;
  return set.ok() ? "" : std::string(set.status().message());
}

constexpr const char* kExportHeader =
    "job_id,sweep_id,structure,n,m,sparsity,nonzeros,tokens,final_eval_loss\n";

TEST(RunIoTest, ReadsReleasedT5FileWithPaperConvention) {
  const std::optional<RunSet> set_file = LoadPaperRuns("t5-c4.csv");
  ASSERT_TRUE(set_file.has_value());
  const RunSet& set = *set_file;
  EXPECT_EQ(set.format, "t5-csv");
  EXPECT_EQ(set.data_unit, "steps");
  ASSERT_EQ(set.runs.size(), 48u);
  EXPECT_DOUBLE_EQ(set.scales.n_scale, 1e6);
  EXPECT_DOUBLE_EQ(set.scales.d_scale, 1e5);
  EXPECT_DOUBLE_EQ(set.tokens_per_data_unit, 65536);
  // Row 1: sparsity 0.5, scale 0.015625, 250k steps.
  EXPECT_DOUBLE_EQ(set.runs[1].sparsity, 0.5);
  EXPECT_DOUBLE_EQ(set.runs[1].nonzeros, 169869312.0 * 0.015625 * 0.5);
  EXPECT_DOUBLE_EQ(set.runs[1].data, 250000);
  EXPECT_DOUBLE_EQ(set.runs[1].loss, 2.8416964346902414);
}

TEST(RunIoTest, ReadsReleasedVitFileWithPaperConvention) {
  const std::optional<RunSet> set_file = LoadPaperRuns("vit-jft.json");
  ASSERT_TRUE(set_file.has_value());
  const RunSet& set = *set_file;
  EXPECT_EQ(set.format, "vit-json");
  EXPECT_EQ(set.data_unit, "images");
  ASSERT_EQ(set.runs.size(), 112u);
  EXPECT_DOUBLE_EQ(set.scales.d_scale, 1e9);
  // Row "0": scale 0.25 at sparsity 0.75.
  EXPECT_EQ(set.runs[0].label, "row 0");
  EXPECT_DOUBLE_EQ(set.runs[0].nonzeros, 84934656.0 * 0.25 * 0.25);
}

TEST(RunIoTest, DataScaleOverrideReplacesDefault) {
  const absl::StatusOr<RunSet> set = LoadRuns(PaperDataFile("t5-c4.csv"), 1e6);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_DOUBLE_EQ(set->scales.d_scale, 1e6);
  EXPECT_EQ(LoadRuns(PaperDataFile("t5-c4.csv"), -1.0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RunIoTest, ExportCsvIsHeaderDrivenInAnyColumnOrder) {
  const RunSet set = *ParseRuns(
      "final_eval_loss,tokens,nonzeros,sparsity,m,n,structure,sweep_id,job_id,extra\n"
      "3.5,2e8,1e6,0,0,0,dense,sw1,j1,x\n"
      "3.4,2e8,1e6,0.5,4,2,nm,sw1,j2,x\n"
      "3.3,4e8,2e6,0.75,,,unstructured,sw1,j3,x\n");
  EXPECT_EQ(set.format, "sparsescale-csv");
  EXPECT_EQ(set.data_unit, "tokens");
  ASSERT_EQ(set.runs.size(), 3u);
  EXPECT_EQ(set.runs[1].structure, "2:4");
  EXPECT_EQ(set.runs[1].n, 2);
  EXPECT_EQ(set.runs[1].m, 4);
  EXPECT_EQ(set.runs[2].job_id, "j3");
  EXPECT_DOUBLE_EQ(set.runs[2].data, 4e8);
  EXPECT_DOUBLE_EQ(set.scales.d_scale, 1e8);  // nearest power of ten to the geometric mean
}

TEST(RunIoTest, ExportRoundTripsThroughFormatExportCsv) {
  const RunSet set = *ParseRuns(std::string(kExportHeader) +
                                "a,s,dense,0,0,0,1e6,1e8,3.5\n"
                                "b,s,nm,1,4,0.75,1e6,1e8,3.25\n");
  const RunSet again = *ParseRuns(FormatExportCsv(set.runs));
  ASSERT_EQ(again.runs.size(), 2u);
  EXPECT_EQ(again.runs[1].structure, "1:4");
  EXPECT_EQ(again.runs[1].job_id, "b");
  EXPECT_DOUBLE_EQ(again.runs[1].loss, 3.25);
}

TEST(RunIoTest, MissingColumnIsNamed) {
  EXPECT_NE(ErrorOf("job_id,sweep_id,structure,n,m,sparsity,nonzeros,final_eval_loss\n"
                    "a,s,dense,0,0,0,1e6,3\n")
                .find("missing column 'tokens'"),
            std::string::npos);
  EXPECT_NE(ErrorOf(",sparsity,scale,val-loss\n0,0.5,1,3\n").find("missing column 'steps'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"scale\":{\"0\":1},\"sparsity\":{\"0\":0},\"val-loss\":{\"0\":5}}")
                .find("missing column 'total_examples'"),
            std::string::npos);
}

TEST(RunIoTest, NonPositiveNonzerosNamesRowAndField) {
  const std::string error = ErrorOf(std::string(kExportHeader) +
                                    "a,s,dense,0,0,0,1e6,1e8,3.5\nb,s,dense,0,0,0,-5,1e8,3\n");
  EXPECT_NE(error.find("line 3"), std::string::npos) << error;
  EXPECT_NE(error.find("'nonzeros'"), std::string::npos) << error;
}

TEST(RunIoTest, NonPositiveDataNamesRowAndField) {
  const std::string error = ErrorOf(",sparsity,scale,val-loss,steps\n0,0.5,1,3,0\n");
  EXPECT_NE(error.find("line 2"), std::string::npos) << error;
  EXPECT_NE(error.find("'data'"), std::string::npos) << error;
}

TEST(RunIoTest, SparsityOutsideUnitIntervalNamesRowAndField) {
  for (const char* s : {"1", "1.2", "-0.1"}) {
    const std::string error =
        ErrorOf(std::string(kExportHeader) + "a,s,unstructured,0,0," + s + ",1e6,1e8,3.5\n");
    EXPECT_NE(error.find("line 2"), std::string::npos) << error;
    EXPECT_NE(error.find("'sparsity' must be in [0, 1)"), std::string::npos) << error;
  }
}

TEST(RunIoTest, NanLossNamesRowAndField) {
  const std::string error = ErrorOf(std::string(kExportHeader) + "a,s,dense,0,0,0,1e6,1e8,nan\n");
  EXPECT_NE(error.find("line 2"), std::string::npos) << error;
  EXPECT_NE(error.find("'loss'"), std::string::npos) << error;
  const std::string json_error = ErrorOf(
      "{\"scale\":{\"3\":null},\"sparsity\":{\"3\":0},\"total_examples\":{\"3\":1e9},"
      "\"val-loss\":{\"3\":5}}");
  EXPECT_NE(json_error.find("row 3: field 'scale'"), std::string::npos) << json_error;
}

TEST(RunIoTest, NonNumericFieldIsNamed) {
  const std::string error = ErrorOf(std::string(kExportHeader) + "a,s,dense,0,0,zero,1e6,1e8,3\n");
  EXPECT_NE(error.find("line 2: field 'sparsity' is not a number: 'zero'"), std::string::npos)
      << error;
}

TEST(RunIoTest, BadStructureIsNamed) {
  EXPECT_NE(ErrorOf(std::string(kExportHeader) + "a,s,blocky,0,0,0.5,1e6,1e8,3\n")
                .find("field 'structure'"),
            std::string::npos);
  EXPECT_NE(ErrorOf(std::string(kExportHeader) + "a,s,nm,4,4,0.5,1e6,1e8,3\n").find("0 < n < m"),
            std::string::npos);
}

TEST(RunIoTest, UnrecognisedOrMissingFileIsAnError) {
  EXPECT_NE(ErrorOf("a,b,c\n1,2,3\n").find("unrecognised run file"), std::string::npos);
  EXPECT_NE(ErrorOf("").find("empty"), std::string::npos);
  EXPECT_EQ(LoadRuns("/nonexistent/runs.csv").status().code(), absl::StatusCode::kNotFound);
}

TEST(RunIoTest, TooFewRunsForTheFitIsAnError) {
  std::vector<RunRecord> runs(3);
  for (int i = 0; i < 3; ++i) {
    runs[i].label = "run " + std::to_string(i);
    runs[i].nonzeros = 1e6;
    runs[i].data = 1e8;
    runs[i].loss = 3;
  }
  const absl::Status status = ValidateRuns(runs, 7);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("3 runs are too few"), std::string::npos) << status;
}

}  // namespace
}  // namespace sparsescale::law
