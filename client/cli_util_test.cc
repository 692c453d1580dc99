#include "client/cli_util.h"

#include <gtest/gtest.h>

#include "client/command.h"
#include "client/local_cluster.h"

namespace sparsescale::client {
namespace {

TEST(CliUtilTest, ExitCodesFollowTheStatusCode) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), cli::kExitOk);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("x")), cli::kExitUsage);
  EXPECT_EQ(ExitCodeFor(absl::UnavailableError("x")), cli::kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(absl::DeadlineExceededError("x")), cli::kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(absl::NotFoundError("x")), cli::kExitNotFound);
  EXPECT_EQ(ExitCodeFor(absl::InternalError("x")), cli::kExitFailure);
}

TEST(CliUtilTest, FailThrowsWithTheExitCode) {
  try {
    Fail(absl::NotFoundError("job x does not exist"));
    FAIL() << "Fail returned";
  } catch (const CLI::RuntimeError& e) {
    EXPECT_EQ(e.get_exit_code(), cli::kExitNotFound);
  }
}

TEST(CliUtilTest, MissingFilesAndBinariesAreNotFoundAndNamed) {
  auto file = ReadTextFile("/nonexistent/sweep.json");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(file.status().message().find("/nonexistent/sweep.json"), std::string::npos);
  auto bin = FindBinary("sparsescale-no-such-binary");
  EXPECT_EQ(bin.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(bin.status().message().find("sparsescale-no-such-binary"), std::string::npos);
}

TEST(CliUtilTest, LocalClusterNeedsAWorkDir) {
  EXPECT_EQ(LocalCluster::Start({}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sparsescale::client
