// A worker on another test host: a network namespace joined to this one by a veth pair
// (10.77.N.1 here, 10.77.N.2 inside; the namespace has nothing else but loopback). The
// coordinator listens on 10.77.N.1 with TLS, tokens and worker certificates required; a worker
// inside the namespace with a certificate for its address runs a job; one with a certificate
// from another CA is refused. Needs root and iproute2: when the namespace cannot be made, the
// test fails with the command's output (it does not skip).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/coordinator_client.h"
#include "client/local_cluster.h"
#include "tests/e2e/e2e_support.h"
#include "tests/security/security_support.h"
#include "worker/agent/subprocess.h"

namespace sparsescale::security_test {
namespace {

namespace fs = std::filesystem;
namespace v1 = sparsescale::v1;

constexpr char kIp[] = "/usr/sbin/ip";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class NetnsWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const int id = getpid();
    dir_ = fs::temp_directory_path() / absl::StrCat("sparsescale_netns_", id);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ns_ = absl::StrCat("ss_sec_", id);
    host_if_ = absl::StrCat("ssa", id % 1'000'000);
    ns_if_ = absl::StrCat("ssb", id % 1'000'000);
    const std::string subnet = absl::StrCat("10.77.", id % 200 + 20, ".");
    here_ = subnet + "1";
    there_ = subnet + "2";
    ASSERT_EQ(geteuid(), 0u) << "this test makes a network namespace: it needs root";
    IpOrFail({"netns", "add", ns_});
    made_ns_ = true;
    IpOrFail({"link", "add", host_if_, "type", "veth", "peer", "name", ns_if_});
    made_link_ = true;
    IpOrFail({"link", "set", ns_if_, "netns", ns_});
    IpOrFail({"addr", "add", here_ + "/24", "dev", host_if_});
    IpOrFail({"link", "set", host_if_, "up"});
    IpOrFail({"netns", "exec", ns_, kIp, "addr", "add", there_ + "/24", "dev", ns_if_});
    IpOrFail({"netns", "exec", ns_, kIp, "link", "set", ns_if_, "up"});
    IpOrFail({"netns", "exec", ns_, kIp, "link", "set", "lo", "up"});
    ProbeTcpOrFail();
    auto shards = e2e::PrepareCorpusSlice(dir_.string(), 200'000);
    ASSERT_TRUE(shards.ok()) << shards.status();
    shards_ = *shards;
  }

  void TearDown() override {
    for (auto& worker : workers_) {
      worker.Signal(SIGKILL);
      worker.Wait();
    }
    cluster_.reset();
    if (made_link_) {
      RunCommand({kIp, "link", "del", host_if_});
    }
    if (made_ns_) {
      RunCommand({kIp, "netns", "del", ns_});
    }
    if (HasFailure()) {
      std::fprintf(stderr, "netns test: logs kept in %s\n", dir_.c_str());
    } else {
      fs::remove_all(dir_);
    }
  }

  // Runs `ip ARGS`; a fatal failure with the command and its output when it fails.
  void IpOrFail(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kIp};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string log = (dir_ / "ip.log").string();
    std::error_code ec;
    fs::remove(log, ec);
    const int code = RunCommand(argv, log);
    std::string line;
    for (const std::string& a : argv) {
      absl::StrAppend(&line, a, " ");
    }
    ASSERT_EQ(code, 0) << "cannot set up the test host: `" << line << "` exited " << code << ": "
                       << ReadAll(log);
  }

  // A TCP connection from inside the namespace to here_ (python3 on both ends): the test host
  // must carry TCP across the veth pair (some sandboxes do not), else the test fails saying so.
  void ProbeTcpOrFail() {
    const std::string listen = absl::StrCat(
        "import socket,sys; s=socket.socket(); s.bind(('", here_, "', 0)); s.listen(1); ",
        "print(s.getsockname()[1], flush=True); s.settimeout(10); s.accept()");
    agent::SpawnOptions spawn;
    spawn.argv = {"/usr/bin/python3", "-c", listen};
    spawn.capture_stdout = true;
    auto server = agent::Subprocess::Spawn(spawn);
    ASSERT_TRUE(server.ok()) << server.status();
    std::vector<std::string> lines;
    for (int i = 0; i < 50 && lines.empty(); ++i) {
      if (!server->ReadLines(std::chrono::milliseconds(200), &lines)) {
        break;
      }
    }
    ASSERT_FALSE(lines.empty()) << "the TCP probe's listener did not start";
    const std::string connect =
        absl::StrCat("import socket; s=socket.socket(); s.settimeout(5); s.connect(('", here_,
                     "', ", lines[0], "))");
    const std::string log = (dir_ / "probe.log").string();
    const int code =
        RunCommand({kIp, "netns", "exec", ns_, "/usr/bin/python3", "-c", connect}, log);
    server->Signal(SIGKILL);
    server->Wait();
    ASSERT_EQ(code, 0) << "this host does not carry TCP across a veth pair into a network "
                       << "namespace (" << here_ << " from inside " << ns_
                       << " did not connect): " << ReadAll(log);
  }

  // Starts a worker inside the namespace with the client certificate in `certs`.
  void StartRemoteWorker(const std::string& name, const fs::path& certs,
                         const std::string& token_file) {
    auto bin = client::FindBinary("sparsescale-worker");
    ASSERT_TRUE(bin.ok()) << bin.status();
    agent::SpawnOptions spawn;
    spawn.argv = {kIp,
                  "netns",
                  "exec",
                  ns_,
                  *bin,
                  "--coordinator",
                  cluster_->address(),
                  "--name",
                  name,
                  "--device",
                  "cpu",
                  "--threads",
                  "1",
                  "--work-dir",
                  (dir_ / name).string(),
                  "--tls-ca",
                  (dir_ / "certs" / "ca.pem").string(),
                  "--tls-cert",
                  (certs / "worker.pem").string(),
                  "--tls-key",
                  (certs / "worker.key").string(),
                  "--token-file",
                  token_file};
    spawn.stderr_path = (dir_ / (name + ".log")).string();
    spawn.stdout_path = spawn.stderr_path;
    auto child = agent::Subprocess::Spawn(spawn);
    ASSERT_TRUE(child.ok()) << child.status();
    workers_.push_back(std::move(*child));
  }

  fs::path dir_;
  std::string ns_, host_if_, ns_if_, here_, there_, shards_;
  bool made_ns_ = false;
  bool made_link_ = false;
  std::unique_ptr<client::LocalCluster> cluster_;
  std::vector<agent::Subprocess> workers_;
};

TEST_F(NetnsWorkerTest, AWorkerOnAnotherHostRunsAJobOverMutualTlsAndAForeignCaIsRefused) {
  const fs::path certs = dir_ / "certs";
  ASSERT_TRUE(MakeCerts(certs.string(), {here_, there_}).ok());
  client::LocalClusterOptions o;
  o.work_dir = (dir_ / "cluster").string();
  o.host = here_;  // not loopback: TLS and tokens are required (auth defaults to tokens)
  o.workers = 0;
  o.coordinator_args = {"--tls-cert",      (certs / "server.pem").string(),
                        "--tls-key",       (certs / "server.key").string(),
                        "--tls-client-ca", (certs / "ca.pem").string()};
  auto cluster = client::LocalCluster::Start(o);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  cluster_ = std::move(*cluster);

  client::ClientOptions options;
  options.security.tls_ca_file = (certs / "ca.pem").string();
  options.security.token = ReadAll(o.work_dir + "/coordinator.db.admin-token");
  options.security.token.pop_back();  // the newline
  client::CoordinatorClient admin(cluster_->address(), options);
  v1::CreateTokenRequest worker_token;
  worker_token.set_role(v1::ROLE_WORKER);
  auto token = admin.CreateToken(worker_token);
  ASSERT_TRUE(token.ok()) << token.status();
  const std::string token_file = (dir_ / "worker.token").string();
  std::ofstream(token_file) << token->secret() << "\n";

  StartRemoteWorker("remote", certs, token_file);
  v1::SubmitJobRequest submit;
  submit.set_request_id(client::NewClientRequestId());
  *submit.mutable_spec() = e2e::TinySpec(shards_, 6, 3);
  auto job = admin.SubmitJob(submit);
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        auto j = admin.GetJob(job->job().id());
        return j.ok() && j->state() == v1::JOB_STATE_SUCCEEDED;
      },
      std::chrono::seconds(60)))
      << ReadAll((dir_ / "remote.log").string());
  auto status = admin.GetClusterStatus();
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(status->workers_size(), 1);
  v1::ListTokensResponse tokens;  // the one worker is the one the worker token registered
  ASSERT_TRUE(admin.ListTokens().ok());
  tokens = *admin.ListTokens();
  bool bound = false;
  for (const v1::TokenInfo& t : tokens.tokens()) {
    for (const std::string& w : t.worker_ids()) {
      bound = bound || w == status->workers(0).id();
    }
  }
  EXPECT_TRUE(bound);

  // A certificate from another CA: the handshake fails, the worker never registers.
  ASSERT_TRUE(MakeCerts((dir_ / "other").string(), {there_}).ok());
  StartRemoteWorker("stranger", dir_ / "other", token_file);
  const std::string log = (dir_ / "stranger.log").string();
  ASSERT_TRUE(e2e::WaitFor([&] { return absl::StrContains(ReadAll(log), "cannot register"); },
                           std::chrono::seconds(20)))
      << ReadAll(log);
  EXPECT_TRUE(absl::StrContains(ReadAll(log), "TLS")) << ReadAll(log);
  status = admin.GetClusterStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->workers_size(), 1);
}

}  // namespace
}  // namespace sparsescale::security_test
