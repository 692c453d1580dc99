#include "common/rendezvous.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace sparsescale {
namespace {

TEST(RendezvousTest, StringsNameTheirChannel) {
  auto file = ParseRendezvous("file:/tmp/x.addr");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->kind, RendezvousChannel::Kind::kFile);
  EXPECT_EQ(file->target, "/tmp/x.addr");
  auto tcp = ParseRendezvous("tcp:127.0.0.1:7070");
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  EXPECT_EQ(tcp->kind, RendezvousChannel::Kind::kTcp);
  EXPECT_EQ(tcp->target, "127.0.0.1:7070");
}

TEST(RendezvousTest, EnvReadsTheAddressOrFileFromTheEnvironment) {
  ::setenv("SPARSESCALE_RENDEZVOUS", "localhost:9000", 1);
  auto tcp = ParseRendezvous("env");
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  EXPECT_EQ(tcp->kind, RendezvousChannel::Kind::kTcp);
  EXPECT_EQ(tcp->target, "localhost:9000");
  ::setenv("SPARSESCALE_RENDEZVOUS", "file:/tmp/r.addr", 1);
  auto file = ParseRendezvous("env");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->kind, RendezvousChannel::Kind::kFile);
  ::unsetenv("SPARSESCALE_RENDEZVOUS");
  EXPECT_NE(ParseRendezvous("env").status().message().find("SPARSESCALE_RENDEZVOUS"),
            std::string::npos);
}

TEST(RendezvousTest, BadStringsAreInvalidArguments) {
  EXPECT_TRUE(absl::IsInvalidArgument(ParseRendezvous("file:").status()));
  auto pigeon = ParseRendezvous("carrier-pigeon");
  EXPECT_TRUE(absl::IsInvalidArgument(pigeon.status()));
  EXPECT_NE(pigeon.status().message().find("rendezvous"), std::string::npos);
  EXPECT_TRUE(absl::IsInvalidArgument(CheckRendezvousRank(2, 2)));
  EXPECT_TRUE(absl::IsInvalidArgument(CheckRendezvousRank(0, 0)));
  EXPECT_TRUE(CheckRendezvousRank(1, 2).ok());
}

TEST(RendezvousTest, PublishedAddressReadsBackAndAMissingFileIsNotYet) {
  const std::string path = absl::StrCat(::testing::TempDir(), "rendezvous-", ::getpid(), ".addr");
  std::remove(path.c_str());
  EXPECT_TRUE(absl::IsUnavailable(ReadRendezvousAddress(path).status()));
  std::ofstream(path) << "";
  EXPECT_TRUE(absl::IsUnavailable(ReadRendezvousAddress(path).status()));
  ASSERT_TRUE(PublishRendezvousAddress(path, "127.0.0.1:4242").ok());
  auto address = ReadRendezvousAddress(path);
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(*address, "127.0.0.1:4242");
  std::remove(path.c_str());
}

TEST(RendezvousTest, ConfigFromEnvReadsRankAndWorldSize) {
  ::setenv("SPARSESCALE_RANK", "1", 1);
  ::setenv("SPARSESCALE_WORLD_SIZE", "3", 1);
  auto config = RendezvousConfigFromEnv();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->rank, 1);
  EXPECT_EQ(config->world_size, 3);
  EXPECT_EQ(config->rendezvous, "env");
  ::setenv("SPARSESCALE_RANK", "3", 1);
  EXPECT_TRUE(absl::IsInvalidArgument(RendezvousConfigFromEnv().status()));
  ::setenv("SPARSESCALE_RANK", "x", 1);
  EXPECT_TRUE(absl::IsInvalidArgument(RendezvousConfigFromEnv().status()));
  ::unsetenv("SPARSESCALE_RANK");
  ::unsetenv("SPARSESCALE_WORLD_SIZE");
}

}  // namespace
}  // namespace sparsescale
