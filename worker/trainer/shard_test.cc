#include "worker/trainer/shard.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "worker/trainer/test_util.h"

namespace sparsescale::trainer {
namespace {

// Writes an llm.c-layout shard by hand: 256 int32 header words, then uint16 tokens.
void WriteLlmcShard(const std::string& path, const std::vector<uint16_t>& tokens, int32_t magic,
                    int32_t version, int32_t count) {
  std::vector<int32_t> header(256, 0);
  header[0] = magic;
  header[1] = version;
  header[2] = count;
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(header.data()), 1024);
  out.write(reinterpret_cast<const char*>(tokens.data()),
            static_cast<std::streamsize>(tokens.size() * 2));
}

TEST(ShardTest, WriteThenReadRoundTrips) {
  const std::string dir = testing::MakeTempDir("shard");
  const std::vector<uint16_t> tokens = {0, 1, 255, 256, 50256, 65535, 7};
  ASSERT_TRUE(WriteShard(dir + "/a.bin", tokens).ok());
  auto back = ReadShard(dir + "/a.bin");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, tokens);
  EXPECT_EQ(*ReadShardHeader(dir + "/a.bin"), 7);
  EXPECT_EQ(std::filesystem::file_size(dir + "/a.bin"), 1024u + 14u);
}

TEST(ShardTest, ReadsAShardInLlmcLayoutMadeByHand) {
  const std::string dir = testing::MakeTempDir("shard");
  const std::vector<uint16_t> tokens = {15496, 995, 0, 50256, 42};
  WriteLlmcShard(dir + "/gpt2_val.bin", tokens, 20240520, 1, 5);
  auto back = ReadShard(dir + "/gpt2_val.bin");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, tokens);
}

TEST(ShardTest, TruncatedShardIsAnErrorNamingTheFile) {
  const std::string dir = testing::MakeTempDir("shard");
  WriteLlmcShard(dir + "/cut.bin", {1, 2, 3}, 20240520, 1, 10);
  auto back = ReadShard(dir + "/cut.bin");
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(back.status().message().find(dir + "/cut.bin"), std::string::npos);
  EXPECT_NE(back.status().message().find("truncated"), std::string::npos) << back.status();
  testing::WriteText(dir + "/tiny.bin", "abc");
  EXPECT_NE(ReadShard(dir + "/tiny.bin").status().message().find("truncated"), std::string::npos);
}

TEST(ShardTest, WrongMagicOrVersionIsAnErrorNamingTheFile) {
  const std::string dir = testing::MakeTempDir("shard");
  WriteLlmcShard(dir + "/magic.bin", {1, 2}, 20240801, 1, 2);
  auto status = ReadShard(dir + "/magic.bin").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find(dir + "/magic.bin"), std::string::npos);
  EXPECT_NE(status.message().find("magic"), std::string::npos) << status;
  WriteLlmcShard(dir + "/version.bin", {1, 2}, 20240520, 2, 2);
  EXPECT_NE(ReadShard(dir + "/version.bin").status().message().find("version"), std::string::npos);
}

TEST(ShardTest, MissingShardIsNotFound) {
  auto status = ReadShard("/nonexistent/shard.bin").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.message().find("/nonexistent/shard.bin"), std::string::npos);
}

TEST(ShardTest, PrepareWritesTrainAndHeldOutTail) {
  const std::string dir = testing::MakeTempDir("prepare");
  testing::WriteText(dir + "/a.txt", "hello ");
  testing::WriteText(dir + "/b.txt", "world, 0123456789");
  PrepareOptions options;
  options.inputs = {dir + "/a.txt", dir + "/b.txt"};
  options.out_dir = dir + "/out";
  options.eval_fraction = 0.5;
  options.shard_tokens = 4;
  auto result = PrepareShards(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->train_tokens + result->eval_tokens, 23);
  EXPECT_EQ(result->eval_tokens, 11);
  EXPECT_EQ(result->train_shards.size(), 3u);  // 12 tokens in shards of 4
  auto eval = ReadShard(result->eval_shards.at(0));
  ASSERT_TRUE(eval.ok());
  EXPECT_EQ(std::string(eval->begin(), eval->end()), " 0123456789");
  auto first = ReadShard(result->train_shards.at(0));
  EXPECT_EQ(std::string(first->begin(), first->end()), "hell");
}

TEST(ShardTest, PrepareRejectsMissingInputAndWritesNothing) {
  const std::string dir = testing::MakeTempDir("prepare");
  PrepareOptions options;
  options.inputs = {dir + "/missing.txt"};
  options.out_dir = dir + "/out";
  auto result = PrepareShards(options);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(result.status().message().find("missing.txt"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir + "/out"));
}

}  // namespace
}  // namespace sparsescale::trainer
