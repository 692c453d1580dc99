// `sparsescale train` / `prepare` as a user runs them: exit codes, messages that name the
// field or file, and nothing written to --out on bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "worker/trainer/shard.h"
#include "worker/trainer/test_util.h"

namespace sparsescale::trainer {
namespace {

class TrainCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("cli");
    shard_ = testing::WriteTextShard(dir_, "train.bin", testing::SyntheticText(8000, 5));
  }

  // Writes `json` as the config, runs train into dir_/out, expects failure naming `needle`
  // and an untouched (absent) output directory.
  void ExpectRejected(const std::string& json, const std::string& needle, int exit_code = 2) {
    testing::WriteText(dir_ + "/job.json", json);
    const std::string out = dir_ + "/out";
    testing::CommandResult r = testing::RunCli("train --config " + dir_ + "/job.json --out " + out);
    EXPECT_EQ(r.exit_code, exit_code) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(out)) << "bad input wrote " << out;
  }

  // A valid config with `model` and `pruning` JSON bodies substituted.
  std::string Config(const std::string& model = R"("layers": 1, "width": 16, "heads": 2,
                                                     "context": 8)",
                     const std::string& pruning = R"("sparsity": 0.5)",
                     const std::string& shards = "") {
    return R"({"model": {)" + model + R"(}, "pruning": {)" + pruning +
           R"(}, "data": {"train_shards": [")" + (shards.empty() ? shard_ : shards) +
           R"("], "batch_size": 2, "tokens": 160}, "device": "cpu"})";
  }

  std::string dir_;
  std::string shard_;
};

TEST_F(TrainCliTest, ValidConfigTrainsAndWritesPointsAndCheckpoint) {
  testing::WriteText(dir_ + "/job.json", Config());
  testing::CommandResult r =
      testing::RunCli("train --config " + dir_ + "/job.json --out " + dir_ + "/out");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/out/ckpt-10.safetensors"));
  const std::string csv = testing::ReadAll(dir_ + "/out/points.csv");
  EXPECT_EQ(csv.rfind("step,tokens,train_loss,eval_loss,sparsity,lr,", 0), 0u) << csv;
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 11);  // header + 10 steps
  const std::string jsonl = testing::ReadAll(dir_ + "/out/points.jsonl");
  EXPECT_EQ(std::count(jsonl.begin(), jsonl.end(), '\n'), 10);
  EXPECT_NE(r.output.find("step 10/10"), std::string::npos) << r.output;
}

TEST_F(TrainCliTest, UnknownFieldIsRejected) {
  std::string json = Config();
  json.insert(1, R"("learning_rate": 0.1, )");
  ExpectRejected(json, "learning_rate");
}

TEST_F(TrainCliTest, ZeroOrNegativeSizesAreRejected) {
  ExpectRejected(Config(R"("layers": 0, "width": 16, "heads": 2, "context": 8)"), "model.layers");
  ExpectRejected(Config(R"("layers": 1, "width": -16, "heads": 2, "context": 8)"), "model.width");
  ExpectRejected(Config(R"("layers": 1, "width": 16, "heads": 2, "context": 0)"), "model.context");
}

TEST_F(TrainCliTest, SparsityOutsideRangeIsRejected) {
  ExpectRejected(
      Config(R"("layers": 1, "width": 16, "heads": 2, "context": 8)", R"("sparsity": 1.0)"),
      "pruning.sparsity");
  ExpectRejected(
      Config(R"("layers": 1, "width": 16, "heads": 2, "context": 8)", R"("sparsity": -0.5)"),
      "pruning.sparsity");
}

TEST_F(TrainCliTest, NmWithNNotBelowMIsRejected) {
  ExpectRejected(Config(R"("layers": 1, "width": 16, "heads": 2, "context": 8)",
                        R"("structure": "SPARSITY_STRUCTURE_NM", "n": 4, "m": 4)"),
                 "pruning.n");
}

TEST_F(TrainCliTest, WidthNotDivisibleByHeadsIsRejected) {
  ExpectRejected(Config(R"("layers": 1, "width": 18, "heads": 4, "context": 8)"), "model.width");
}

TEST_F(TrainCliTest, MissingShardIsRejectedNamingIt) {
  ExpectRejected(Config(R"("layers": 1, "width": 16, "heads": 2, "context": 8)",
                        R"("sparsity": 0.5)", dir_ + "/nope_*.bin"),
                 "nope_*.bin", /*exit_code=*/4);
}

TEST_F(TrainCliTest, TruncatedShardIsRejectedNamingIt) {
  const std::string bytes = testing::ReadAll(shard_);
  const std::string cut = dir_ + "/cut.bin";
  testing::WriteText(cut, bytes.substr(0, bytes.size() - 10));
  ExpectRejected(
      Config(R"("layers": 1, "width": 16, "heads": 2, "context": 8)", R"("sparsity": 0.5)", cut),
      cut);
}

TEST_F(TrainCliTest, WrongMagicIsRejectedNamingTheFile) {
  std::string bytes = testing::ReadAll(shard_);
  bytes[0] = 'X';
  const std::string bad = dir_ + "/bad_magic.bin";
  testing::WriteText(bad, bytes);
  ExpectRejected(
      Config(R"("layers": 1, "width": 16, "heads": 2, "context": 8)", R"("sparsity": 0.5)", bad),
      "bad_magic.bin: not a token shard");
}

TEST_F(TrainCliTest, TokenOutsideVocabularyIsRejected) {
  const std::string big = dir_ + "/gpt2.bin";
  ASSERT_TRUE(WriteShard(big, std::vector<uint16_t>(200, 50256)).ok());
  ExpectRejected(
      Config(R"("layers": 1, "width": 16, "heads": 2, "context": 8)", R"("sparsity": 0.5)", big),
      "model.vocab");
}

TEST_F(TrainCliTest, MissingConfigFileIsRejected) {
  testing::CommandResult r =
      testing::RunCli("train --config " + dir_ + "/absent.json --out " + dir_ + "/out");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("absent.json"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/out"));
}

TEST_F(TrainCliTest, PrepareMakesShardsTrainCanRead) {
  testing::WriteText(dir_ + "/a.txt", testing::SyntheticText(5000, 9));
  testing::CommandResult r = testing::RunCli("prepare --input " + dir_ + "/a.txt --out " + dir_ +
                                             "/data --eval-fraction 0.2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto train = ReadShardHeader(dir_ + "/data/train_000000.bin");
  auto eval = ReadShardHeader(dir_ + "/data/val_000000.bin");
  ASSERT_TRUE(train.ok() && eval.ok());
  EXPECT_EQ(*train, 4000);
  EXPECT_EQ(*eval, 1000);
  r = testing::RunCli("prepare --input " + dir_ + "/a.txt --out " + dir_ +
                      "/data2 --eval-fraction 1.5");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--eval-fraction"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace sparsescale::trainer
