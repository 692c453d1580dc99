// Deployment behaviour of the real daemons: workers dial the coordinator by a DNS name or over
// loopback when it listens on every interface, and a worker of another protocol version is
// refused and exits non-zero saying why instead of retrying for ever.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/coordinator_client.h"
#include "client/local_cluster.h"
#include "common/version.h"
#include "tests/e2e/e2e_support.h"

namespace sparsescale::e2e {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

class DeployE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           absl::StrCat("sparsescale_deploy_e2e_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) {
      fs::remove_all(dir_);
    }
  }

  std::unique_ptr<client::LocalCluster> Start(const std::string& host, int workers) {
    client::LocalClusterOptions o;
    o.work_dir = (dir_ / "cluster").string();
    o.host = host;
    o.workers = workers;
    o.device = "cpu";
    if (host == "0.0.0.0") {
      o.coordinator_args = {"--auth", "none", "--insecure"};  // what `up --insecure` passes
    }
    auto cluster = client::LocalCluster::Start(o);
    EXPECT_TRUE(cluster.ok()) << cluster.status();
    return cluster.ok() ? std::move(*cluster) : nullptr;
  }

  // True once `count` workers have registered with the coordinator at `address`.
  static bool WaitForWorkers(const std::string& address, int count) {
    client::CoordinatorClient c(address);
    return WaitFor(
        [&] {
          auto status = c.GetClusterStatus();
          return status.ok() && status->workers_size() == count;
        },
        seconds(30));
  }

  fs::path dir_;
};

TEST_F(DeployE2eTest, WorkersDialTheCoordinatorByItsDnsName) {
  auto cluster = Start("localhost", 1);
  ASSERT_NE(cluster, nullptr);
  EXPECT_TRUE(absl::StartsWith(cluster->address(), "localhost:")) << cluster->address();
  EXPECT_TRUE(WaitForWorkers(cluster->address(), 1));
  EXPECT_TRUE(cluster->Stop().ok());
}

TEST_F(DeployE2eTest, ACoordinatorOnEveryInterfaceIsDialledOverLoopback) {
  auto cluster = Start("0.0.0.0", 1);
  ASSERT_NE(cluster, nullptr);
  EXPECT_TRUE(absl::StartsWith(cluster->address(), "127.0.0.1:")) << cluster->address();
  EXPECT_TRUE(WaitForWorkers(cluster->address(), 1));
  EXPECT_TRUE(cluster->Stop().ok());
}

TEST_F(DeployE2eTest, AWorkerOfAnotherProtocolVersionExitsNonZeroSayingWhy) {
  auto cluster = Start("127.0.0.1", 0);
  ASSERT_NE(cluster, nullptr);
  agent::SpawnOptions spawn;
  spawn.argv = {cluster->options().worker_bin, "--coordinator", cluster->address(),
                "--device", "cpu", "--protocol-version", absl::StrCat(kProtocolVersion + 1)};
  const std::string log = (dir_ / "worker.log").string();
  spawn.stdout_path = log;
  spawn.stderr_path = log;
  spawn.kill_on_parent_death = true;
  absl::StatusOr<agent::Subprocess> worker = agent::Subprocess::Spawn(spawn);
  ASSERT_TRUE(worker.ok()) << worker.status();
  std::optional<agent::ExitInfo> exit = worker->WaitFor(seconds(30));  // not retrying for ever
  ASSERT_TRUE(exit.has_value()) << "the refused worker kept running";
  EXPECT_EQ(exit->exit_code, 1);
  std::stringstream text;
  text << std::ifstream(log).rdbuf();
  EXPECT_NE(text.str().find(absl::StrCat("speaks worker protocol ", kProtocolVersion + 1)),
            std::string::npos)
      << text.str();
  EXPECT_NE(text.str().find(absl::StrCat("this coordinator speaks protocol ", kProtocolVersion)),
            std::string::npos)
      << text.str();
  EXPECT_TRUE(WaitForWorkers(cluster->address(), 0));
  EXPECT_TRUE(cluster->Stop().ok());
}

}  // namespace
}  // namespace sparsescale::e2e
