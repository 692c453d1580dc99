// Runs the `sparsescale law` commands as a user would and checks output and exit codes. Where
// an answer is computed (predictions, optimal sparsity, contour tables) the printed values are
// parsed and compared with what the law library itself returns for the same law and options.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "law/fit_report.h"
#include "law/optimal_sparsity.h"
#include "law/paper_data_for_test.h"
#include "law/scaling_law.h"

namespace {

namespace fs = std::filesystem;
using sparsescale::law::testing::PaperDataFile;

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class LawCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("law_cli_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `sparsescale ARGS` and captures stdout, stderr and the exit code.
  CommandResult Run(const std::string& args) {
    const fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    const std::string command =
        std::string(SPARSESCALE_CLI_PATH) + " " + args + " >" + out.string() + " 2>" + err.string();
    const int status = std::system(command.c_str());
    CommandResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = ReadAll(out);
    result.err = ReadAll(err);
    return result;
  }

  fs::path dir_;
};

// The options the CLI builds from its defaults (--cost sparse, pruning 0.25 .. 0.75, cubic)
// for a law whose data unit is `tokens_per_data_unit` tokens.
sparsescale::law::CostOptions DefaultCost(double tokens_per_data_unit,
                                          sparsescale::law::CostModel model) {
  sparsescale::law::CostOptions cost;
  cost.model = model;
  cost.tokens_per_data_unit = tokens_per_data_unit;
  return cost;
}

// Checks `law optimal-sparsity ... --json` output against the library's answer for `law`.
void ExpectOptimalSparsityJson(const std::string& out, const sparsescale::law::PaperCoeffs& law,
                               double nonzeros, double compute,
                               const sparsescale::law::CostOptions& cost) {
  const nlohmann::json doc = nlohmann::json::parse(out);
  const auto want = sparsescale::law::FindOptimalSparsity(law, nonzeros, compute, cost);
  ASSERT_TRUE(want.ok()) << want.status();
  // The CLI calls the same functions on the same doubles and JSON keeps all 17 digits.
  EXPECT_DOUBLE_EQ(doc["optimal_sparsity"].get<double>(), want->sparsity);
  EXPECT_DOUBLE_EQ(doc["loss"].get<double>(), want->loss);
  EXPECT_DOUBLE_EQ(doc["data"].get<double>(), want->data);
  EXPECT_DOUBLE_EQ(doc["dense_optimal_nonzeros"].get<double>(),
                   sparsescale::law::DenseOptimalNonzeros(law, compute, cost));
  EXPECT_DOUBLE_EQ(doc["dense_optimal_compute_for_nonzeros"].get<double>(),
                   sparsescale::law::DenseOptimalCompute(law, nonzeros, cost));
}

// The numbers of each whitespace-separated line of `text` that parses as numbers only.
std::vector<std::vector<double>> NumericRows(const std::string& text) {
  std::vector<std::vector<double>> rows;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream cells(line);
    std::vector<double> row;
    std::string cell;
    bool numeric = true;
    while (cells >> cell) {
      char* end = nullptr;
      const double value = std::strtod(cell.c_str(), &end);
      numeric = numeric && end != cell.c_str() && *end == '\0';
      row.push_back(value);
    }
    if (numeric && !row.empty()) {
      rows.push_back(row);
    }
  }
  return rows;
}

TEST_F(LawCliTest, FitJsonHasPaperKeysObjectiveStartsAndIntervals) {
  const CommandResult r =
      Run("law fit " + PaperDataFile("vit-jft.json") + " --json --starts 60 --bootstrap 8");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json doc = nlohmann::json::parse(r.out);
  for (const char* key : {"a_S", "b_S", "c_S", "b_N", "a_D", "b_D", "c", "objective"}) {
    ASSERT_TRUE(doc.contains(key) && doc[key].is_number()) << key;
  }
  EXPECT_EQ(doc["starts"], 60);
  EXPECT_LE(doc["objective"].get<double>(), 4.93e-4);  // ViT defaults: abs residuals, 1e-2
  EXPECT_EQ(doc["residual"], "abs");
  EXPECT_EQ(doc["intervals"]["resamples"], 8);
  EXPECT_EQ(doc["intervals"]["b_N"].size(), 2u);
  EXPECT_EQ(doc["residuals"].size(), 112u);
  EXPECT_NEAR(doc["b_N"].get<double>(), 0.3922, 2e-3);
}

TEST_F(LawCliTest, FitTableAndPlotForT5) {
  const fs::path plot = dir_ / "fit.svg";
  const CommandResult r =
      Run("law fit " + PaperDataFile("t5-c4.csv") + " --starts 100 --plot " + plot.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("objective"), std::string::npos);
  EXPECT_NE(r.out.find("leave-largest-out"), std::string::npos);
  const std::string svg = ReadAll(plot);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("S = 0.875"), std::string::npos);
}

TEST_F(LawCliTest, FittedCoefficientFileDrivesPredictAndOptimalSparsity) {
  const CommandResult fit =
      Run("law fit " + PaperDataFile("t5-c4.csv") + " --json --starts 40 --no-extrapolation");
  ASSERT_EQ(fit.exit_code, 0) << fit.err;
  const fs::path coeffs = dir_ / "t5.json";
  std::ofstream(coeffs) << fit.out;
  const auto file = sparsescale::law::LoadLawFile(coeffs.string());
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->tokens_per_data_unit, 65536);  // T5 steps of 128 x 512 tokens
  const CommandResult predict = Run("law predict --coeffs " + coeffs.string() +
                                    " --sparsity 0.5 --nonzeros 1e7 --data 1e6 --json");
  ASSERT_EQ(predict.exit_code, 0) << predict.err;
  const nlohmann::json p = nlohmann::json::parse(predict.out);
  EXPECT_DOUBLE_EQ(p["loss"].get<double>(),
                   sparsescale::law::PredictLoss(file->paper, 0.5, 1e7, 1e6));
  EXPECT_NEAR(p["loss"].get<double>(), 2.11, 0.03);  // the fit itself stays near the data
  EXPECT_EQ(p["data_unit"], "steps");
  using sparsescale::law::CostModel;
  const CommandResult sparse = Run("law optimal-sparsity --coeffs " + coeffs.string() +
                                   " --nonzeros 1e7 --compute 1e20 --json");
  ASSERT_EQ(sparse.exit_code, 0) << sparse.err;
  ExpectOptimalSparsityJson(sparse.out, file->paper, 1e7, 1e20,
                            DefaultCost(file->tokens_per_data_unit, CostModel::kSparse));
  const CommandResult dense = Run("law optimal-sparsity --coeffs " + coeffs.string() +
                                  " --nonzeros 1e7 --compute 1e20 --cost dense --json");
  ASSERT_EQ(dense.exit_code, 0) << dense.err;
  ExpectOptimalSparsityJson(dense.out, file->paper, 1e7, 1e20,
                            DefaultCost(file->tokens_per_data_unit, CostModel::kDense));
}

// The README's example, in both output forms.
TEST_F(LawCliTest, PresetOptimalSparsityIsTheLibrarysAnswer) {
  const auto preset = sparsescale::law::FindPreset("t5");
  ASSERT_TRUE(preset.ok()) << preset.status();
  const auto cost = DefaultCost(preset->tokens_per_data_unit, sparsescale::law::CostModel::kSparse);
  const CommandResult json =
      Run("law optimal-sparsity --preset t5 --nonzeros 1e8 --compute 1e20 --json");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  ExpectOptimalSparsityJson(json.out, preset->paper, 1e8, 1e20, cost);
  const auto want = sparsescale::law::FindOptimalSparsity(preset->paper, 1e8, 1e20, cost);
  ASSERT_TRUE(want.ok()) << want.status();
  EXPECT_GT(want->sparsity, 0.0);  // so the comparison is not one of two zeros
  // The table form prints "S_opt(N=1e+08, C=1e+20, sparse cost) = 0.xxxx  (loss y.yyyyy ...".
  const CommandResult table = Run("law optimal-sparsity --preset t5 --nonzeros 1e8 --compute 1e20");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  const size_t at = table.out.find(") = ");
  ASSERT_NE(at, std::string::npos) << table.out;
  double printed_sparsity = 0, printed_loss = 0;
  ASSERT_EQ(
      std::sscanf(table.out.c_str() + at, ") = %lf  (loss %lf", &printed_sparsity, &printed_loss),
      2)
      << table.out;
  EXPECT_NEAR(printed_sparsity, want->sparsity, 0.5e-4);  // printed with %.4f
  EXPECT_NEAR(printed_loss, want->loss, 0.5e-5);          // printed with %.5f
}

TEST_F(LawCliTest, PresetPredictionMatchesPaperCheckValue) {
  const CommandResult r =
      Run("law predict --preset vit --sparsity 0.75 --nonzeros 1e8 --data 4e9 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NEAR(nlohmann::json::parse(r.out)["loss"].get<double>(), 5.00726, 5e-5);
}

// Every cell of the contour table, in JSON and as printed, against SparsityContourTable on the
// CLI's default grid: N from 1e6 to 1e9, C from a tenth of the dense-optimal compute of the
// smallest N to 1e4 times that of the largest.
TEST_F(LawCliTest, ContoursPrintTheLibrarysTableAndWritePlot) {
  const auto preset = sparsescale::law::FindPreset("t5");
  ASSERT_TRUE(preset.ok()) << preset.status();
  const auto cost = DefaultCost(preset->tokens_per_data_unit, sparsescale::law::CostModel::kSparse);
  const double c_min = 0.1 * sparsescale::law::DenseOptimalCompute(preset->paper, 1e6, cost);
  const double c_max = 1e4 * sparsescale::law::DenseOptimalCompute(preset->paper, 1e9, cost);
  const auto want =
      sparsescale::law::SparsityContourTable(preset->paper, sparsescale::law::LogSpace(1e6, 1e9, 3),
                                             sparsescale::law::LogSpace(c_min, c_max, 4), cost);
  ASSERT_TRUE(want.ok()) << want.status();

  const CommandResult json = Run("law contours --preset t5 --rows 3 --columns 4 --json");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json doc = nlohmann::json::parse(json.out);
  ASSERT_EQ(doc["nonzeros"].size(), 3u);
  ASSERT_EQ(doc["compute"].size(), 4u);
  double largest = 0;
  for (size_t r = 0; r < 3; ++r) {
    EXPECT_DOUBLE_EQ(doc["nonzeros"][r].get<double>(), want->nonzeros[r]);
    for (size_t c = 0; c < 4; ++c) {
      EXPECT_DOUBLE_EQ(doc["optimal_sparsity"][r][c].get<double>(), want->sparsity[r][c])
          << "row " << r << " column " << c;
      largest = std::max(largest, want->sparsity[r][c]);
    }
  }
  for (size_t c = 0; c < 4; ++c) {
    EXPECT_DOUBLE_EQ(doc["compute"][c].get<double>(), want->computes[c]);
  }
  EXPECT_GT(largest, 0.5);  // the grid reaches the sparse region, not only dense cells

  const fs::path plot = dir_ / "contours.svg";
  const CommandResult r =
      Run("law contours --preset t5 --rows 3 --columns 4 --plot " + plot.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("S_opt by non-zeros"), std::string::npos) << r.out;
  // Rows "N  S(c0) .. S(c3)": N printed with %.3g, sparsities with %.4f.
  const std::vector<std::vector<double>> rows = NumericRows(r.out);
  ASSERT_EQ(rows.size(), 3u) << r.out;
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(rows[i].size(), 5u) << r.out;
    EXPECT_NEAR(rows[i][0] / want->nonzeros[i], 1.0, 5e-3) << r.out;
    for (size_t c = 0; c < 4; ++c) {
      EXPECT_NEAR(rows[i][c + 1], want->sparsity[i][c], 0.5e-4) << "row " << i << " column " << c;
    }
  }
  EXPECT_NE(ReadAll(plot).find("dense compute-optimal"), std::string::npos);
}

TEST_F(LawCliTest, MissingFileExitsNotFound) {
  const CommandResult r = Run("law fit " + (dir_ / "none.csv").string());
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("cannot open run file"), std::string::npos) << r.err;
}

TEST_F(LawCliTest, BadRunExitsUsageNamingRowAndField) {
  const fs::path runs = dir_ / "runs.csv";
  std::ofstream(runs) << "job_id,sweep_id,structure,n,m,sparsity,nonzeros,tokens,final_eval_loss\n"
                         "j1,s,dense,0,0,0,1e6,nan,3.5\n";
  const CommandResult r = Run("law fit " + runs.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("line 2 (job j1): field 'data'"), std::string::npos) << r.err;
}

TEST_F(LawCliTest, LawWithoutCoefficientsExitsUsage) {
  const CommandResult r = Run("law optimal-sparsity --nonzeros 1e7 --compute 1e20");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--coeffs"), std::string::npos) << r.err;
  EXPECT_EQ(Run("law predict --preset t5 --sparsity 1.5 --nonzeros 1e7 --data 1e6").exit_code, 2);
}

}  // namespace
