// Tokens, roles, worker binding, rate limits and the audit log against an in-process
// coordinator with --auth tokens (real gRPC on 127.0.0.1, real SQLite, fake clock).
#include <cstdlib>
#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/coordinator/coordinator_fixture.h"
#include "tests/coordinator/http_client.h"

namespace sparsescale::coordinator::testing {
namespace {

// Runs deploy/certs.sh into `dir`: a CA and a server certificate for 127.0.0.1 (asserts).
void MakeCerts(const std::string& dir) {
  const char* source = std::getenv("SPARSESCALE_SOURCE_DIR");
  const std::string command =
      absl::StrCat("bash '", source == nullptr ? "." : source, "/deploy/certs.sh' '", dir,
                   "' > '", dir, ".log' 2>&1");
  ASSERT_EQ(std::system(command.c_str()), 0) << "deploy/certs.sh failed: see " << dir << ".log";
}

class AuthTest : public CoordinatorFixture {
 protected:
  void StartWithTokens() {
    options().auth.tokens = true;
    StartServer();
    std::ifstream in(db_path() + ".admin-token");
    std::getline(in, admin_);
    ASSERT_FALSE(admin_.empty());
  }

  std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto ctx = Context();
    ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }

  // A new token's bearer string (asserts success).
  std::string NewToken(v1::Role role, int64_t ttl_ms = 0) {
    v1::CreateTokenRequest request;
    request.set_role(role);
    request.set_ttl_ms(ttl_ms);
    v1::CreateTokenResponse response;
    grpc::Status status = client().CreateToken(As(admin_).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.secret();
  }

  std::string Register(const std::string& token, const std::string& name) {
    v1::RegisterWorkerRequest request;
    request.set_request_id("register-" + name);
    request.set_name(name);
    request.mutable_resources()->set_device_kind("cpu");
    request.mutable_resources()->set_slots(1);
    v1::RegisterWorkerResponse response;
    grpc::Status status = worker().RegisterWorker(As(token).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.worker_id();
  }

  grpc::Status HeartbeatAs(const std::string& token, const std::string& worker_id) {
    v1::HeartbeatRequest request;
    request.set_worker_id(worker_id);
    v1::HeartbeatResponse response;
    return worker().Heartbeat(As(token).get(), request, &response);
  }

  grpc::Status SubmitAs(const std::string& token, uint64_t seed, v1::SubmitJobResponse* out) {
    v1::SubmitJobRequest request;
    request.set_request_id("submit-" + std::to_string(seed));
    *request.mutable_spec() = TinySpec(4096, seed);
    return client().SubmitJob(As(token).get(), request, out);
  }

  std::string admin_;
};

// The dashboard's HTTP routes take the same tokens: reads need viewer (or more), the refit
// submitter; a browser may carry the token in the `sparsescale_token` cookie.
TEST_F(AuthTest, TheDashboardTakesTheSameTokensAndRoles) {
  options().http_listen = "127.0.0.1:0";
  StartWithTokens();
  const int port = server_->http_port();
  ASSERT_GT(port, 0);
  const std::string viewer = NewToken(v1::ROLE_VIEWER);
  const std::string submitter = NewToken(v1::ROLE_SUBMITTER);
  const std::string worker_token = NewToken(v1::ROLE_WORKER);
  auto bearer = [](const std::string& token) {
    return std::map<std::string, std::string>{{"Authorization", "Bearer " + token}};
  };
  EXPECT_EQ(HttpGet(port, "/api/v1/cluster").status, 401);
  EXPECT_EQ(HttpGet(port, "/api/v1/cluster", bearer("not-a-token")).status, 401);
  HttpAnswer wrong_role = HttpGet(port, "/api/v1/cluster", bearer(worker_token));
  EXPECT_EQ(wrong_role.status, 403);
  EXPECT_TRUE(absl::StrContains(wrong_role.body, "viewer")) << wrong_role.body;
  EXPECT_EQ(HttpGet(port, "/api/v1/cluster", bearer(viewer)).status, 200);
  EXPECT_EQ(HttpGet(port, "/metrics", bearer(viewer)).status, 200);
  EXPECT_EQ(
      HttpGet(port, "/api/v1/cluster", {{"Cookie", "theme=dark; sparsescale_token=" + viewer}})
          .status,
      200);
  // The refit: a viewer is refused before anything runs; a submitter reaches the handler (which
  // then says the sweep does not exist).
  EXPECT_EQ(HttpFetch(port, "POST", "/api/v1/sweeps/nope/fit", bearer(viewer)).status, 403);
  EXPECT_EQ(HttpFetch(port, "POST", "/api/v1/sweeps/nope/fit", bearer(submitter)).status, 404);
}

// With --tls-cert/--tls-key the dashboard serves HTTPS with the same certificate: its JSON API
// answers over TLS with a token; plain HTTP to that port is answered 400 in clear and logged,
// a client that does not trust the CA fails verification, and the server goes on serving.
TEST_F(AuthTest, TheDashboardServesHttpsWithTheCoordinatorsCertificate) {
  const std::string certs = dir_ + "/certs";
  const std::string other = dir_ + "/other-ca";
  MakeCerts(certs);
  MakeCerts(other);
  options().tls.cert_file = certs + "/server.pem";
  options().tls.key_file = certs + "/server.key";
  options().http_listen = "127.0.0.1:0";
  tls_ca_file_ = certs + "/ca.pem";
  StartWithTokens();
  const std::string viewer = NewToken(v1::ROLE_VIEWER);  // over gRPC with TLS
  const std::map<std::string, std::string> as_viewer = {{"Authorization", "Bearer " + viewer}};
  const int port = server_->http_port();
  ASSERT_GT(port, 0);

  HttpAnswer cluster = HttpsFetch(port, tls_ca_file_, "GET", "/api/v1/cluster", as_viewer);
  ASSERT_EQ(cluster.status, 200) << cluster.error << cluster.body;
  EXPECT_TRUE(cluster.Json().is_object()) << cluster.body;
  EXPECT_EQ(HttpsFetch(port, tls_ca_file_, "GET", "/api/v1/cluster").status, 401);

  ::testing::internal::CaptureStderr();
  HttpAnswer plain = HttpGet(port, "/api/v1/cluster", as_viewer);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(plain.status, 400) << plain.error;
  EXPECT_TRUE(absl::StrContains(plain.body, "this port serves HTTPS")) << plain.body;
  EXPECT_TRUE(absl::StrContains(log, "sent plain text (not TLS) to the HTTPS port")) << log;

  HttpAnswer untrusted = HttpsFetch(port, other + "/ca.pem", "GET", "/api/v1/cluster", as_viewer);
  EXPECT_EQ(untrusted.status, 0);
  EXPECT_TRUE(absl::StrContains(untrusted.error, "certificate verify failed")) << untrusted.error;

  HttpAnswer again = HttpsFetch(port, tls_ca_file_, "GET", "/api/v1/cluster", as_viewer);
  EXPECT_EQ(again.status, 200) << again.error;
}

// HTTPS with a key that is not the certificate's, or a certificate without a key: the server
// does not start, and the error names the flag.
TEST_F(AuthTest, AnHttpsKeyThatDoesNotMatchItsCertificateIsRefusedAtStart) {
  const std::string certs = dir_ + "/certs";
  const std::string other = dir_ + "/other-ca";
  MakeCerts(certs);
  MakeCerts(other);
  http::Router router;
  http::HttpServerOptions https;
  https.listen = "127.0.0.1:0";
  https.tls_cert_file = certs + "/server.pem";
  https.tls_key_file = other + "/server.key";
  auto mismatched = http::HttpServer::Start(https, &router);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_TRUE(absl::StrContains(mismatched.status().message(), "--tls-key")) << mismatched.status();
  https.tls_key_file.clear();
  auto half = http::HttpServer::Start(https, &router);
  ASSERT_FALSE(half.ok());
  EXPECT_EQ(half.status().code(), absl::StatusCode::kInvalidArgument);
  https.tls_key_file = certs + "/server.key";
  auto good = http::HttpServer::Start(https, &router);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_TRUE((*good)->tls());
}

TEST_F(AuthTest, AWorkerTokenCannotActForAnotherTokensWorker) {
  StartWithTokens();
  const std::string token_a = NewToken(v1::ROLE_WORKER);
  const std::string token_b = NewToken(v1::ROLE_WORKER);
  const std::string worker_a = Register(token_a, "a");
  const std::string worker_b = Register(token_b, "b");
  EXPECT_TRUE(HeartbeatAs(token_a, worker_a).ok());
  grpc::Status impostor = HeartbeatAs(token_a, worker_b);
  EXPECT_EQ(impostor.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(impostor.error_message(), worker_b)) << impostor.error_message();

  v1::SubmitJobResponse job;
  ASSERT_TRUE(SubmitAs(admin_, 1, &job).ok());
  v1::AcquireLeaseRequest acquire;
  acquire.set_worker_id(worker_b);
  acquire.set_free_slots(1);
  v1::AcquireLeaseResponse leases;
  ASSERT_TRUE(worker().AcquireLease(As(token_b).get(), acquire, &leases).ok());
  ASSERT_EQ(leases.leases_size(), 1);
  // Token A completes, reports for and uploads to B's job: refused, the job still runs.
  v1::CompleteJobRequest complete;
  complete.set_request_id("complete-1");
  complete.set_worker_id(worker_b);
  complete.set_job_id(job.job().id());
  complete.set_attempt(leases.leases(0).attempt());
  complete.set_outcome(v1::JOB_STATE_SUCCEEDED);
  v1::CompleteJobResponse completed;
  EXPECT_EQ(worker().CompleteJob(As(token_a).get(), complete, &completed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ReportPointsRequest report;
  report.set_worker_id(worker_b);
  report.set_job_id(job.job().id());
  report.set_attempt(leases.leases(0).attempt());
  for (const v1::LossPoint& p : MakePoints(1, 3)) {
    *report.add_points() = p;
  }
  v1::ReportPointsResponse reported;
  EXPECT_EQ(worker().ReportPoints(As(token_a).get(), report, &reported).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::UploadCheckpointResponse uploaded;
  auto ctx = As(token_a);
  auto writer = worker().UploadCheckpoint(ctx.get(), &uploaded);
  v1::CheckpointUpload first;
  first.set_worker_id(worker_b);
  first.mutable_info()->set_job_id(job.job().id());
  first.mutable_info()->set_attempt(leases.leases(0).attempt());
  first.mutable_info()->set_step(1);
  first.mutable_info()->set_size_bytes(1);
  first.set_data("x");
  writer->Write(first);
  writer->WritesDone();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // Rendezvous names no worker: it is checked against the worker holding the lease. Token A's
  // rank 0 for B's job is refused, saying why, and publishes nothing.
  v1::RendezvousRequest rendezvous;
  rendezvous.set_job_id(job.job().id());
  rendezvous.set_attempt(leases.leases(0).attempt());
  rendezvous.set_rank(0);
  rendezvous.set_unique_id("forged-unique-id");
  v1::RendezvousResponse met;
  grpc::Status stolen = worker().Rendezvous(As(token_a).get(), rendezvous, &met);
  EXPECT_EQ(stolen.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(stolen.error_message(), "is leased to worker " + worker_b))
      << stolen.error_message();
  EXPECT_TRUE(absl::StrContains(stolen.error_message(), "did not register"))
      << stolen.error_message();
  EXPECT_TRUE(met.unique_id().empty());
  v1::RendezvousRequest rank1 = rendezvous;
  rank1.set_rank(1);
  rank1.clear_unique_id();
  rank1.set_wait_ms(0);
  met.Clear();
  EXPECT_EQ(worker().Rendezvous(As(token_b).get(), rank1, &met).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);  // no unique id was kept
  rendezvous.set_unique_id("real-unique-id");
  ASSERT_TRUE(worker().Rendezvous(As(token_b).get(), rendezvous, &met).ok());
  ASSERT_TRUE(worker().Rendezvous(As(token_b).get(), rank1, &met).ok());
  EXPECT_EQ(met.unique_id(), "real-unique-id");
  v1::GetJobRequest get;
  get.set_id(job.job().id());
  v1::Job now;
  ASSERT_TRUE(client().GetJob(As(admin_).get(), get, &now).ok());
  EXPECT_EQ(now.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(now.step(), 0);  // no point was stored
}

TEST_F(AuthTest, MutatingCallsPastTheRateLimitAreRefusedWithResourceExhausted) {
  options().auth.rate = {.per_second = 0.001, .burst = 2};
  StartWithTokens();
  const std::string submitter = NewToken(v1::ROLE_SUBMITTER);
  v1::SubmitJobResponse job;
  EXPECT_TRUE(SubmitAs(submitter, 1, &job).ok());
  EXPECT_TRUE(SubmitAs(submitter, 2, &job).ok());
  grpc::Status third = SubmitAs(submitter, 3, &job);
  EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(absl::StrContains(third.error_message(), "rate limit")) << third.error_message();
  v1::GetJobRequest get;  // reads are not limited
  get.set_id(job.job().id());
  v1::Job got;
  EXPECT_TRUE(client().GetJob(As(submitter).get(), get, &got).ok());
}

TEST_F(AuthTest, AnExpiredOrRevokedTokenIsRefusedAndTokensSurviveARestart) {
  StartWithTokens();
  const std::string brief = NewToken(v1::ROLE_VIEWER, 5000);
  const std::string kept = NewToken(v1::ROLE_VIEWER);
  const std::string revoked = NewToken(v1::ROLE_VIEWER);
  v1::RevokeTokenRequest revoke;
  revoke.set_id(revoked.substr(0, revoked.find('.')));
  v1::RevokeTokenResponse revoked_info;
  ASSERT_TRUE(client().RevokeToken(As(admin_).get(), revoke, &revoked_info).ok());
  EXPECT_NE(revoked_info.token().revoked_unix_ms(), 0);
  auto status_as = [&](const std::string& token) {
    v1::GetClusterStatusResponse response;
    return client().GetClusterStatus(As(token).get(), {}, &response).error_code();
  };
  EXPECT_EQ(status_as(brief), grpc::StatusCode::OK);
  EXPECT_EQ(status_as(revoked), grpc::StatusCode::UNAUTHENTICATED);
  clock_.AdvanceMs(5000);
  EXPECT_EQ(status_as(brief), grpc::StatusCode::UNAUTHENTICATED);
  StopServer();
  StartWithTokens();
  EXPECT_EQ(status_as(kept), grpc::StatusCode::OK);
  EXPECT_EQ(status_as(revoked), grpc::StatusCode::UNAUTHENTICATED);
  v1::ListTokensResponse listed;
  ASSERT_TRUE(client().ListTokens(As(admin_).get(), {}, &listed).ok());
  EXPECT_EQ(listed.tokens_size(), 4);  // the first admin token and the three above
}

TEST_F(AuthTest, TheAuditLogRecordsMutatingCallsWithActorObjectAndOutcome) {
  StartWithTokens();
  const std::string submitter = NewToken(v1::ROLE_SUBMITTER);
  const std::string submitter_id = submitter.substr(0, submitter.find('.'));
  v1::SubmitJobResponse job;
  ASSERT_TRUE(SubmitAs(submitter, 1, &job).ok());
  v1::CancelJobRequest cancel;
  cancel.set_request_id("cancel-missing");
  cancel.set_id("0123456789abcdef0123456789abcdef");
  v1::Job cancelled;
  EXPECT_EQ(client().CancelJob(As(submitter).get(), cancel, &cancelled).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::DeleteJobRequest remove;  // submitters may not delete
  remove.set_request_id("delete-1");
  remove.set_id(job.job().id());
  v1::DeleteJobResponse removed;
  EXPECT_EQ(client().DeleteJob(As(submitter).get(), remove, &removed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ListAuditRequest request;
  request.set_actor_token_id(submitter_id);
  v1::ListAuditResponse audit;
  ASSERT_TRUE(client().ListAudit(As(admin_).get(), request, &audit).ok());
  // The refused call is the submitter's too: its token id and role, and the refusal.
  ASSERT_EQ(audit.records_size(), 3);
  EXPECT_EQ(audit.records(0).action(), "SubmitJob");
  EXPECT_EQ(audit.records(0).object_id(), job.job().id());
  EXPECT_EQ(audit.records(0).code(), 0);
  EXPECT_EQ(audit.records(0).actor_role(), v1::ROLE_SUBMITTER);
  EXPECT_EQ(audit.records(1).action(), "CancelJob");
  EXPECT_EQ(audit.records(1).code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(audit.records(2).action(), "DeleteJob");
  EXPECT_EQ(audit.records(2).actor_token_id(), submitter_id);
  EXPECT_EQ(audit.records(2).actor_role(), v1::ROLE_SUBMITTER);
  EXPECT_EQ(audit.records(2).code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(audit.records(2).message(), "needs role admin"));
  // No token, and a token that is not one (unknown id, wrong secret): explicit markers, no role.
  EXPECT_EQ(client().DeleteJob(Context().get(), remove, &removed).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  const std::string forged = submitter_id + "." + std::string(64, '0');
  for (const std::string& bad : {std::string("tok_0000000000000000.00"), forged}) {
    EXPECT_EQ(client().DeleteJob(As(bad).get(), remove, &removed).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  for (const auto& [actor, calls] :
       std::vector<std::pair<std::string, int>>{{"anonymous", 1}, {"invalid-token", 2}}) {
    request.set_actor_token_id(actor);
    audit.Clear();
    ASSERT_TRUE(client().ListAudit(As(admin_).get(), request, &audit).ok());
    ASSERT_EQ(audit.records_size(), 1) << actor;  // refusals are summarised
    EXPECT_EQ(audit.records(0).action(), "DeleteJob");
    EXPECT_EQ(audit.records(0).actor_role(), v1::ROLE_UNSPECIFIED);
    EXPECT_EQ(audit.records(0).code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(audit.records(0).calls(), calls) << actor;
  }
  request.set_actor_token_id(submitter_id);
  // A viewer may not read the audit log.
  const std::string viewer = NewToken(v1::ROLE_VIEWER);
  grpc::Status denied = client().ListAudit(As(viewer).get(), request, &audit);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(denied.error_message(), "needs role admin"));
}

TEST_F(AuthTest, ANonLoopbackAddressNeedsTlsAndTokensUnlessInsecure) {
  ServerOptions o;
  o.listen = "0.0.0.0:7070";
  absl::Status refused = CheckExposure(o);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.message(), "TLS is off; tokens are off")) << refused;
  o.auth.tokens = true;
  EXPECT_FALSE(CheckExposure(o).ok());
  o.tls.cert_file = "server.pem";
  EXPECT_TRUE(CheckExposure(o).ok());
  ServerOptions insecure;
  insecure.listen = "10.0.0.1:7070";
  insecure.insecure = true;
  EXPECT_TRUE(CheckExposure(insecure).ok());
  for (const char* loopback : {"127.0.0.1:0", "localhost:7070", "[::1]:7070"}) {
    ServerOptions local;
    local.listen = loopback;
    EXPECT_TRUE(CheckExposure(local).ok()) << loopback;
  }
  // The dashboard off loopback needs TLS (it serves HTTPS with --tls-cert) and tokens, or
  // --insecure.
  ServerOptions http;
  http.http_listen = "0.0.0.0:8080";
  absl::Status open_dashboard = CheckExposure(http);
  EXPECT_EQ(open_dashboard.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(open_dashboard.message(), "--http-listen")) << open_dashboard;
  http.auth.tokens = true;
  absl::Status no_tls = CheckExposure(http);
  EXPECT_FALSE(no_tls.ok());
  EXPECT_TRUE(absl::StrContains(no_tls.message(), "TLS is off")) << no_tls;
  http.tls.cert_file = "server.pem";
  EXPECT_TRUE(CheckExposure(http).ok());
  http.tls.cert_file.clear();
  http.auth.tokens = false;
  http.insecure = true;
  EXPECT_TRUE(CheckExposure(http).ok());
}

TEST_F(AuthTest, WithoutTokensCallsAreAdmittedAndStillAudited) {
  StartServer();
  v1::SubmitJobResponse job;
  ASSERT_TRUE(client()
                  .SubmitJob(
                      Context().get(),
                      [] {
                        v1::SubmitJobRequest r;
                        r.set_request_id("plain");
                        *r.mutable_spec() = TinySpec();
                        return r;
                      }(),
                      &job)
                  .ok());
  v1::ListAuditResponse audit;
  ASSERT_TRUE(client().ListAudit(Context().get(), {}, &audit).ok());
  ASSERT_EQ(audit.records_size(), 1);
  EXPECT_EQ(audit.records(0).actor_token_id(), "");
  EXPECT_EQ(audit.records(0).object_id(), job.job().id());
}

}  // namespace
}  // namespace sparsescale::coordinator::testing
