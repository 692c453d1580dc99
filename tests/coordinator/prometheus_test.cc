// A real Prometheus (Debian's `prometheus`, installed by deploy/setup.sh) scrapes the
// coordinator's /metrics over loopback every second; the test asks it with PromQL through its
// HTTP API what it saw after a job ran.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <cctype>
#include <chrono>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/coordinator/coordinator_fixture.h"
#include "tests/coordinator/http_client.h"

extern char** environ;

namespace sparsescale::coordinator::testing {
namespace {

using nlohmann::json;

constexpr char kPrometheus[] = "/usr/bin/prometheus";

int FreeLoopbackPort() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += absl::StrCat("%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

class PrometheusTest : public CoordinatorFixture {
 protected:
  void SetUp() override {
    CoordinatorFixture::SetUp();
    ASSERT_EQ(access(kPrometheus, X_OK), 0)
        << kPrometheus << " is missing: run deploy/setup.sh (Debian package prometheus)";
    options().http_listen = "127.0.0.1:0";
    StartServer();
  }

  void TearDown() override {
    if (prometheus_pid_ > 0) {
      kill(prometheus_pid_, SIGTERM);
      int status = 0;
      waitpid(prometheus_pid_, &status, 0);
    }
    CoordinatorFixture::TearDown();
  }

  void StartPrometheus() {
    prometheus_port_ = FreeLoopbackPort();
    const std::string config = dir_ + "/prometheus.yml";
    std::ofstream(config) << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                          << "scrape_configs:\n  - job_name: sparsescale\n"
                          << "    static_configs:\n      - targets: ['127.0.0.1:"
                          << server_->http_port() << "']\n";
    std::vector<std::string> args = {
        kPrometheus, "--config.file=" + config, "--storage.tsdb.path=" + dir_ + "/tsdb",
        absl::StrCat("--web.listen-address=127.0.0.1:", prometheus_port_), "--log.level=warn"};
    std::vector<char*> argv;
    for (std::string& arg : args) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    ASSERT_EQ(posix_spawn(&prometheus_pid_, kPrometheus, nullptr, nullptr, argv.data(), environ),
              0);
  }

  // The vector result of `query` once it is non-empty (within 30 s), else empty.
  json Query(const std::string& query) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      HttpAnswer answer = HttpGet(prometheus_port_, "/api/v1/query?query=" + UrlEncode(query));
      json body = answer.Json();
      if (answer.status == 200 && !body.is_discarded() && body["status"] == "success" &&
          !body["data"]["result"].empty()) {
        return body["data"]["result"];
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // Prometheus's own pace
    }
    return json::array();
  }

  static double ValueOf(const json& result) {
    return std::stod(result[0]["value"][1].get<std::string>());
  }

  pid_t prometheus_pid_ = 0;
  int prometheus_port_ = 0;
};

TEST_F(PrometheusTest, PrometheusScrapesJobStatesAndIngestedPoints) {
  const std::string job = Submit(TinySpec(), "job").job().id();
  Submit(TinySpec(4096, 2), "queued");
  const std::string worker_id = RegisterWorker("w");
  ASSERT_EQ(Acquire(worker_id).size(), 1u);
  ASSERT_TRUE(Report(worker_id, job, 1, MakePoints(1, 32)).ok());
  ASSERT_TRUE(Complete(worker_id, job, 1, v1::JOB_STATE_SUCCEEDED, "done").ok());
  StartPrometheus();

  json up = Query("up{job=\"sparsescale\"} == 1");
  ASSERT_EQ(up.size(), 1u) << "Prometheus never scraped the coordinator";
  json succeeded = Query("sparsescale_jobs{state=\"SUCCEEDED\"}");
  ASSERT_EQ(succeeded.size(), 1u);
  EXPECT_EQ(ValueOf(succeeded), 1);
  EXPECT_EQ(ValueOf(Query("sparsescale_jobs{state=\"QUEUED\"}")), 1);
  json points = Query("sparsescale_points_ingested_total > 0");
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(ValueOf(points), 32);
  json commits = Query("sum(sparsescale_sqlite_commit_seconds_count)");
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_GT(ValueOf(commits), 0);
  json report_calls =
      Query("sparsescale_rpc_seconds_count{method=\"/sparsescale.v1.WorkerService/ReportPoints\"}");
  ASSERT_EQ(report_calls.size(), 1u);
  EXPECT_EQ(ValueOf(report_calls), 1);
}

}  // namespace
}  // namespace sparsescale::coordinator::testing
