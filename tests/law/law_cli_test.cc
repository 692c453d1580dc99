// Runs the `sparsescale law` commands as a user would and checks output and exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

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
    const char* source = std::getenv("SPARSESCALE_SOURCE_DIR");
    data_ = fs::path(source != nullptr ? source : ".") / ".." / "shared" / "data" / "paper";
    ASSERT_TRUE(fs::exists(data_ / "t5-c4.csv"))
        << "released data missing at " << data_ << " (expected ../shared beside the repo)";
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

  fs::path dir_, data_;
};

TEST_F(LawCliTest, FitJsonHasPaperKeysObjectiveStartsAndIntervals) {
  const CommandResult r =
      Run("law fit " + (data_ / "vit-jft.json").string() + " --json --starts 60 --bootstrap 8");
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
      Run("law fit " + (data_ / "t5-c4.csv").string() + " --starts 100 --plot " + plot.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("objective"), std::string::npos);
  EXPECT_NE(r.out.find("leave-largest-out"), std::string::npos);
  const std::string svg = ReadAll(plot);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("S = 0.875"), std::string::npos);
}

TEST_F(LawCliTest, FittedCoefficientFileDrivesPredictAndOptimalSparsity) {
  const CommandResult fit =
      Run("law fit " + (data_ / "t5-c4.csv").string() + " --json --starts 40 --no-extrapolation");
  ASSERT_EQ(fit.exit_code, 0) << fit.err;
  const fs::path coeffs = dir_ / "t5.json";
  std::ofstream(coeffs) << fit.out;
  const CommandResult predict = Run("law predict --coeffs " + coeffs.string() +
                                    " --sparsity 0.5 --nonzeros 1e7 --data 1e6 --json");
  ASSERT_EQ(predict.exit_code, 0) << predict.err;
  const nlohmann::json p = nlohmann::json::parse(predict.out);
  EXPECT_NEAR(p["loss"].get<double>(), 2.11, 0.03);
  EXPECT_EQ(p["data_unit"], "steps");
  const CommandResult sparse = Run("law optimal-sparsity --coeffs " + coeffs.string() +
                                   " --nonzeros 1e7 --compute 1e20 --json");
  const CommandResult dense = Run("law optimal-sparsity --coeffs " + coeffs.string() +
                                  " --nonzeros 1e7 --compute 1e20 --cost dense --json");
  ASSERT_EQ(sparse.exit_code, 0) << sparse.err;
  ASSERT_EQ(dense.exit_code, 0) << dense.err;
  EXPECT_LE(nlohmann::json::parse(dense.out)["optimal_sparsity"].get<double>(),
            nlohmann::json::parse(sparse.out)["optimal_sparsity"].get<double>());
}

TEST_F(LawCliTest, PresetPredictionMatchesPaperCheckValue) {
  const CommandResult r =
      Run("law predict --preset vit --sparsity 0.75 --nonzeros 1e8 --data 4e9 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NEAR(nlohmann::json::parse(r.out)["loss"].get<double>(), 5.00726, 5e-5);
}

TEST_F(LawCliTest, ContoursPrintTableAndWritePlot) {
  const fs::path plot = dir_ / "contours.svg";
  const CommandResult r =
      Run("law contours --preset t5 --rows 3 --columns 4 --plot " + plot.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("S_opt by non-zeros"), std::string::npos);
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
