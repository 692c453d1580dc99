// A real cluster over TLS with tokens: a coordinator and two worker processes (each with its
// own worker token) run a sweep to the end; then every RPC of both services is called with no
// token, a revoked token and each role that may not call it: the expected code every time, and
// no table but the audit log gains a row.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/coordinator_client.h"
#include "client/local_cluster.h"
#include "coordinator/auth/roles.h"
#include "google/protobuf/descriptor.h"
#include "tests/e2e/e2e_support.h"
#include "tests/security/security_support.h"

namespace sparsescale::security_test {
namespace {

namespace fs = std::filesystem;
namespace v1 = sparsescale::v1;

class SecureClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / absl::StrCat("sparsescale_sec_", getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto shards = e2e::PrepareCorpusSlice(dir_.string(), 200'000);
    ASSERT_TRUE(shards.ok()) << shards.status();
    shards_ = *shards;
    ASSERT_TRUE(MakeCerts((dir_ / "certs").string(), {}).ok());
    ca_ = (dir_ / "certs" / "ca.pem").string();
  }

  void TearDown() override {
    cluster_.reset();
    unsetenv("SPARSESCALE_TOKEN");
    if (HasFailure()) {
      std::fprintf(stderr, "security test: logs kept in %s\n", dir_.c_str());
    } else {
      fs::remove_all(dir_);
    }
  }

  // A coordinator with the certificate and key in `certs` (default: the test's own).
  void StartCoordinator(const std::string& certs_dir = "") {
    client::LocalClusterOptions o;
    o.work_dir = (dir_ / "cluster").string();
    o.workers = 0;
    o.device = "cpu";
    o.threads = 1;
    const std::string certs = certs_dir.empty() ? (dir_ / "certs").string() : certs_dir;
    o.coordinator_args = {"--auth",
                          "tokens",
                          "--tls-cert",
                          certs + "/server.pem",
                          "--tls-key",
                          certs + "/server.key",
                          "--lease-ttl-ms",
                          "3000",
                          "--heartbeat-period-ms",
                          "250"};
    o.worker_args = {"--tls-ca", ca_};
    auto cluster = client::LocalCluster::Start(o);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
  }

  std::unique_ptr<client::CoordinatorClient> Client(const std::string& token) {
    client::ClientOptions options;
    options.security.token = token;
    options.security.tls_ca_file = ca_;
    return std::make_unique<client::CoordinatorClient>(cluster_->address(), options);
  }

  // A new token of `role`: its bearer string.
  std::string NewToken(client::CoordinatorClient& admin, v1::Role role) {
    v1::CreateTokenRequest request;
    request.set_role(role);
    auto created = admin.CreateToken(request);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->secret() : "";
  }

  fs::path dir_;
  std::string shards_;
  std::string ca_;
  std::unique_ptr<client::LocalCluster> cluster_;
};

// The expected refusal of `method` for a caller of `role` (UNSPECIFIED: no or a revoked token).
grpc::StatusCode Expected(const auth::RpcRule& rule, v1::Role role) {
  if (role == v1::ROLE_UNSPECIFIED) {
    return grpc::StatusCode::UNAUTHENTICATED;
  }
  return auth::RoleAllows(role, rule.role) ? grpc::StatusCode::OK
                                           : grpc::StatusCode::PERMISSION_DENIED;
}

TEST_F(SecureClusterTest, ASweepRunsOverTlsAndEveryRpcRefusesTheWrongToken) {
  StartCoordinator();
  // The first start wrote the admin token, readable by its owner only.
  const std::string admin_file = cluster_->options().db_path + ".admin-token";
  struct stat st {};
  ASSERT_EQ(stat(admin_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(admin_file);
  std::string admin_token;
  std::getline(in, admin_token);
  auto admin = Client(admin_token);

  std::map<v1::Role, std::string> tokens;
  for (v1::Role role : {v1::ROLE_SUBMITTER, v1::ROLE_VIEWER, v1::ROLE_WORKER}) {
    tokens[role] = NewToken(*admin, role);
  }
  for (int i = 0; i < 2; ++i) {  // each worker its own token, handed over by environment
    setenv("SPARSESCALE_TOKEN", NewToken(*admin, v1::ROLE_WORKER).c_str(), 1);
    ASSERT_TRUE(cluster_->AddWorker().ok());
  }
  unsetenv("SPARSESCALE_TOKEN");

  auto submitter = Client(tokens[v1::ROLE_SUBMITTER]);
  v1::CreateSweepRequest sweep;
  sweep.set_request_id(client::NewClientRequestId());
  *sweep.mutable_base() = e2e::TinySpec(shards_, 6, 3);
  sweep.mutable_axes()->add_sparsities(0.5);
  sweep.mutable_axes()->add_sparsities(0.75);
  auto created = submitter->CreateSweep(sweep);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string sweep_id = created->sweep().id();
  auto viewer = Client(tokens[v1::ROLE_VIEWER]);
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        auto jobs = viewer->ListJobs(sweep_id);
        return jobs.ok() && jobs->size() == 2 &&
               std::all_of(jobs->begin(), jobs->end(),
                           [](const v1::Job& j) { return j.state() == v1::JOB_STATE_SUCCEEDED; });
      },
      std::chrono::seconds(90)));
  auto status = viewer->GetClusterStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->workers_size(), 2);

  // A revoked token, then the workers stop, so that nothing else writes while we count.
  const std::string revoked = NewToken(*admin, v1::ROLE_ADMIN);
  ASSERT_TRUE(admin->RevokeToken(revoked.substr(0, revoked.find('.'))).ok());
  for (int i = 0; i < 2; ++i) {
    cluster_->SignalWorker(i, SIGTERM);
    ASSERT_TRUE(cluster_->WaitWorker(i, std::chrono::seconds(30)).has_value());
  }
  ASSERT_TRUE(admin->ListAudit({}).ok());  // writes what the audit buffer holds
  auto before = CountRows(cluster_->options().db_path);
  ASSERT_TRUE(before.ok()) << before.status();

  auto channel = TlsChannel(cluster_->address(), ca_);
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  int calls = 0;
  for (const auth::RpcRule& rule : auth::RpcRules()) {
    std::string name(rule.method);
    ASSERT_NE(pool->FindMethodByName("sparsescale.v1." + name), nullptr) << name;
    const std::string path = "/sparsescale.v1." + absl::StrReplaceAll(name, {{".", "/"}});
    std::vector<std::pair<v1::Role, std::string>> callers = {{v1::ROLE_UNSPECIFIED, ""},
                                                             {v1::ROLE_UNSPECIFIED, revoked}};
    for (const auto& [role, token] : tokens) {
      if (!auth::RoleAllows(role, rule.role)) {
        callers.emplace_back(role, token);
      }
    }
    for (const auto& [role, token] : callers) {
      grpc::Status got = CallRaw(channel, path, token);
      ++calls;
      EXPECT_EQ(got.error_code(), Expected(rule, role))
          << rule.method << " as " << auth::RoleName(role) << ": " << got.error_message();
      if (got.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
        EXPECT_TRUE(
            absl::StrContains(got.error_message(), "needs role " + auth::RoleName(rule.role)))
            << got.error_message();
      }
    }
  }
  EXPECT_GT(calls, 3 * static_cast<int>(auth::RpcRules().size()));
  ASSERT_TRUE(admin->ListAudit({}).ok());
  auto after = CountRows(cluster_->options().db_path);
  ASSERT_TRUE(after.ok()) << after.status();
  for (const auto& [table, rows] : *before) {
    if (table != "audit") {  // refused calls are audited (summarised), nothing else is stored
      EXPECT_EQ(after->at(table), rows) << "table " << table;
    }
  }

  // The audit log: the submitter's sweep, the workers' registrations and the refusals.
  v1::ListAuditRequest by_submitter;
  by_submitter.set_actor_token_id(
      tokens[v1::ROLE_SUBMITTER].substr(0, tokens[v1::ROLE_SUBMITTER].find('.')));
  auto audit = admin->ListAudit(by_submitter);
  ASSERT_TRUE(audit.ok()) << audit.status();
  ASSERT_FALSE(audit->records().empty());
  EXPECT_EQ(audit->records(0).action(), "CreateSweep");
  EXPECT_EQ(audit->records(0).object_id(), sweep_id);
  EXPECT_EQ(audit->records(0).actor_role(), v1::ROLE_SUBMITTER);
  auto all = admin->ListAudit({});
  ASSERT_TRUE(all.ok());
  int registrations = 0;
  int64_t refusals = 0;
  for (const v1::AuditRecord& r : all->records()) {
    registrations += r.action() == "RegisterWorker" && r.code() == 0;
    refusals += r.code() == grpc::StatusCode::UNAUTHENTICATED ? r.calls() : 0;
  }
  EXPECT_EQ(registrations, 2);
  EXPECT_GE(refusals, 2 * static_cast<int64_t>(auth::RpcRules().size()));
}

TEST_F(SecureClusterTest, TheCliManagesTokensAndShowsTheAuditLog) {
  StartCoordinator();
  const std::string admin_file = cluster_->options().db_path + ".admin-token";
  const std::vector<std::string> connect = {"--coordinator", cluster_->address(), "--tls-ca", ca_,
                                            "--token-file",  admin_file};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), connect.begin(), connect.end());
    return e2e::RunCli(args);
  };
  e2e::CliResult created = with({"token", "create", "--role", "viewer", "--expires", "1h"});
  ASSERT_EQ(created.exit_code, 0);
  const std::string viewer = std::string(absl::StripAsciiWhitespace(created.out));
  const std::string id = viewer.substr(0, viewer.find('.'));
  e2e::CliResult listed = with({"token", "list"});
  EXPECT_EQ(listed.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(listed.out, id)) << listed.out;
  EXPECT_FALSE(absl::StrContains(listed.out, viewer.substr(viewer.find('.') + 1)));
  // The viewer may read but not create tokens; the answer names the role needed.
  e2e::CliResult denied = e2e::RunCli({"token", "create", "--role", "admin", "--coordinator",
                                       cluster_->address(), "--tls-ca", ca_, "--token", viewer});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_EQ(with({"token", "revoke", id}).exit_code, 0);
  e2e::CliResult audit = with({"audit", "--since", "1h"});
  EXPECT_EQ(audit.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(audit.out, "CreateToken")) << audit.out;
  EXPECT_TRUE(absl::StrContains(audit.out, "RevokeToken")) << audit.out;
  EXPECT_TRUE(absl::StrContains(audit.out, "PERMISSION_DENIED")) << audit.out;
  // Plain text to a TLS port, and a CA that did not sign the server: refused, saying TLS.
  e2e::CliResult plain = e2e::RunCli({"status", "--coordinator", cluster_->address()});
  EXPECT_EQ(plain.exit_code, 3);
  ASSERT_TRUE(MakeCerts((dir_ / "other").string(), {}).ok());
  client::ClientOptions wrong;
  wrong.security.token = viewer;
  wrong.security.tls_ca_file = (dir_ / "other" / "ca.pem").string();
  client::CoordinatorClient stranger(cluster_->address(), wrong);
  auto refused = stranger.GetClusterStatus();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "TLS")) << refused.status();
}

// A server certificate past its validity, signed by the CA the client trusts: the client refuses
// the handshake and says it is a TLS failure; nothing reaches the service.
TEST_F(SecureClusterTest, AnExpiredServerCertificateIsRefusedByTheClient) {
  const std::string expired = (dir_ / "expired").string();
  ASSERT_TRUE(MakeCerts(expired, {}, {"--expired"}).ok());
  StartCoordinator(expired);
  client::ClientOptions options;
  options.security.tls_ca_file = expired + "/ca.pem";
  client::CoordinatorClient client(cluster_->address(), options);
  auto refused = client.GetClusterStatus();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "TLS")) << refused.status();
}

}  // namespace
}  // namespace sparsescale::security_test
