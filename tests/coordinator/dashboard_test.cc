// The dashboard's HTTP API (docs/DASHBOARD.md) against a real coordinator: real HTTP over
// loopback on port 0, a real SQLite file filled by jobs that ran through the worker protocol.
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/sha256.h"
#include "tests/coordinator/coordinator_fixture.h"
#include "tests/coordinator/http_client.h"

namespace sparsescale::coordinator::testing {
namespace {

using nlohmann::json;

constexpr int kSteps = 32;  // TinySpec: 4096 tokens / (4 x 32)

class DashboardTest : public CoordinatorFixture {
 protected:
  void SetUp() override {
    CoordinatorFixture::SetUp();
    options().http_listen = "127.0.0.1:0";
    StartServer();
    port_ = server_->http_port();
    ASSERT_GT(port_, 0);
  }

  // Runs a job through the protocol: leased, `kSteps` points, a checkpoint, SUCCEEDED.
  std::string RunJob(uint64_t seed, const std::string& checkpoint = "") {
    const std::string job = Submit(TinySpec(4096, seed), absl::StrCat("run-", seed)).job().id();
    if (worker_.empty()) {
      worker_ = RegisterWorker("w1");
    }
    EXPECT_EQ(Acquire(worker_).size(), 1u);
    EXPECT_TRUE(Report(worker_, job, 1, MakePoints(1, kSteps)).ok());
    if (!checkpoint.empty()) {
      EXPECT_TRUE(Upload(worker_, job, 1, kSteps, checkpoint).ok());
    }
    EXPECT_TRUE(Complete(worker_, job, 1, v1::JOB_STATE_SUCCEEDED, absl::StrCat("c-", seed)).ok());
    return job;
  }

  json GetJson(const std::string& target, int want_status = 200) {
    HttpAnswer answer = HttpGet(port_, target);
    EXPECT_EQ(answer.status, want_status) << target << ": " << answer.error << answer.body;
    json body = answer.Json();
    EXPECT_FALSE(body.is_discarded()) << target << ": " << answer.body;
    return body;
  }

  void ExpectBadParam(const std::string& target, const std::string& parameter) {
    json body = GetJson(target, 400);
    EXPECT_EQ(body["error"]["code"], 400) << target;
    EXPECT_EQ(body["error"]["parameter"], parameter) << target << ": " << body.dump();
    EXPECT_NE(body["error"]["message"].get<std::string>().find(parameter), std::string::npos);
  }

  int port_ = 0;
  std::string worker_;
};

TEST_F(DashboardTest, ClusterShowsWorkersJobsByStateAndTheVersion) {
  Submit(TinySpec(4096, 7), "queued");
  RegisterWorker("gpu-box", 3);
  json cluster = GetJson("/api/v1/cluster");
  ASSERT_EQ(cluster["workers"].size(), 1u);
  EXPECT_EQ(cluster["workers"][0]["name"], "gpu-box");
  EXPECT_EQ(cluster["workers"][0]["slots"], 3);
  EXPECT_EQ(cluster["slots_total"], 3);
  EXPECT_EQ(cluster["jobs_by_state"]["QUEUED"], 1);
  EXPECT_EQ(cluster["jobs_by_state"]["SUCCEEDED"], 0);
  EXPECT_GT(cluster["version"].get<int64_t>(), 0);
  EXPECT_TRUE(cluster["store"]["db_bytes"].is_number());
  EXPECT_TRUE(cluster["points_per_second"].is_number());
}

TEST_F(DashboardTest, UnknownPathsAre404AndOtherMethodsAre405) {
  HttpAnswer missing = HttpGet(port_, "/api/v1/nothing");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.Json()["error"]["code"], 404);
  HttpAnswer wrong = HttpFetch(port_, "DELETE", "/api/v1/cluster");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.headers["allow"], "GET");
  EXPECT_EQ(wrong.Json()["error"]["code"], 405);
}

TEST_F(DashboardTest, JobsArePagedWithATokenUntilTheEnd) {
  for (int seed = 1; seed <= 3; ++seed) {
    Submit(TinySpec(4096, seed), absl::StrCat("s", seed));
  }
  json first = GetJson("/api/v1/jobs?page_size=2");
  ASSERT_EQ(first["jobs"].size(), 2u);
  const std::string token = first["next_page_token"];
  ASSERT_FALSE(token.empty());
  json second = GetJson("/api/v1/jobs?page_size=2&page_token=" + token);
  ASSERT_EQ(second["jobs"].size(), 1u);
  EXPECT_EQ(second["next_page_token"], "");
  EXPECT_NE(second["jobs"][0]["id"], first["jobs"][0]["id"]);
  json queued = GetJson("/api/v1/jobs?state=QUEUED,RUNNING");
  EXPECT_EQ(queued["jobs"].size(), 3u);
  EXPECT_EQ(GetJson("/api/v1/jobs?state=SUCCEEDED")["jobs"].size(), 0u);
}

TEST_F(DashboardTest, BadParametersAre400NamingTheParameter) {
  const std::string job = RunJob(1);
  ExpectBadParam("/api/v1/jobs?page_size=0", "page_size");
  ExpectBadParam("/api/v1/jobs?page_size=1001", "page_size");
  ExpectBadParam("/api/v1/sweeps?page_size=x", "page_size");
  ExpectBadParam("/api/v1/jobs?page_token=zz", "page_token");
  ExpectBadParam("/api/v1/jobs?state=DONE", "state");
  ExpectBadParam("/api/v1/jobs/" + job + "/curve?max_points=1", "max_points");
  ExpectBadParam("/api/v1/jobs/" + job + "/curve?max_points=20001", "max_points");
  ExpectBadParam("/api/v1/jobs/" + job + "/curve?x=time", "x");
  ExpectBadParam("/api/v1/jobs/" + job + "/checkpoints/-3", "step");
}

TEST_F(DashboardTest, UnknownIdsAre404) {
  for (const std::string target :
       {"/api/v1/jobs/nope", "/api/v1/jobs/nope/curve", "/api/v1/jobs/nope/log",
        "/api/v1/jobs/nope/checkpoints/5", "/api/v1/sweeps/nope", "/api/v1/sweeps/nope/fit"}) {
    json body = GetJson(target, 404);
    EXPECT_EQ(body["error"]["code"], 404) << target;
    EXPECT_NE(body["error"]["message"].get<std::string>().find("nope"), std::string::npos)
        << target << ": " << body.dump();
  }
}

TEST_F(DashboardTest, JobPageShowsAttemptsEventsCheckpointsAndTheSpec) {
  const std::string job = RunJob(1, std::string(5000, 'c'));
  json detail = GetJson("/api/v1/jobs/" + job);
  EXPECT_EQ(detail["state"], "SUCCEEDED");
  EXPECT_EQ(detail["step"], kSteps);
  EXPECT_EQ(detail["total_steps"], kSteps);
  EXPECT_EQ(detail["final_train_loss"], 3.0);
  EXPECT_EQ(detail["spec"]["model"]["width"], 64);
  ASSERT_EQ(detail["attempts"].size(), 1u);
  EXPECT_EQ(detail["attempts"][0]["worker"], worker_);
  EXPECT_EQ(detail["attempts"][0]["outcome"], "SUCCEEDED");
  EXPECT_TRUE(detail["events"].is_array());
  ASSERT_EQ(detail["checkpoints"].size(), 1u);
  EXPECT_EQ(detail["checkpoints"][0]["bytes"], 5000);
  EXPECT_EQ(detail["checkpoints"][0]["final"], true);
}

TEST_F(DashboardTest, CheckpointDownloadsByteForByte) {
  std::string payload(300'000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<char>(i * 131 + 7);
  }
  const std::string job = RunJob(1, payload);
  const std::string url = GetJson("/api/v1/jobs/" + job)["checkpoints"][0]["url"];
  HttpAnswer download = HttpGet(port_, url);
  ASSERT_EQ(download.status, 200) << download.body;
  EXPECT_EQ(download.headers["content-type"], "application/octet-stream");
  EXPECT_EQ(download.headers["content-length"], std::to_string(payload.size()));
  EXPECT_NE(download.headers["content-disposition"].find(
                absl::StrCat("job-", job, "-step-", kSteps, ".safetensors")),
            std::string::npos);
  EXPECT_TRUE(download.body == payload);
  EXPECT_EQ(HttpGet(port_, "/api/v1/jobs/" + job + "/checkpoints/7").status, 404);
}

TEST_F(DashboardTest, ALargeCheckpointStreamsChunkByChunkOnAKeptConnection) {
  // 3 MiB + a tail, uploaded in 256 KiB chunks: the answer is sent one stored chunk at a time.
  std::string payload((3 << 20) + 999, '\0');
  for (size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<char>((i * 2654435761u) >> 13);
  }
  const std::string job = Submit(TinySpec(4096, 5), "big").job().id();
  worker_ = RegisterWorker("w1");
  ASSERT_EQ(Acquire(worker_).size(), 1u);
  ASSERT_TRUE(Upload(worker_, job, 1, 16, payload, 256 << 10).ok());
  HttpConnection connection(port_);
  for (int round = 0; round < 2; ++round) {
    HttpAnswer download = connection.Get("/api/v1/jobs/" + job + "/checkpoints/16");
    ASSERT_EQ(download.status, 200) << download.error << download.body.substr(0, 200);
    EXPECT_EQ(download.headers["content-length"], std::to_string(payload.size()));
    EXPECT_EQ(download.headers["x-checkpoint-sha256"], Sha256Hex(payload));
    EXPECT_TRUE(download.body == payload) << "round " << round;
  }
  // Errors before the body are still JSON answers on the same connection.
  HttpAnswer missing = connection.Get("/api/v1/jobs/" + job + "/checkpoints/17");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.Json()["error"]["parameter"], "step");
}

TEST_F(DashboardTest, CurveIsDownsampledOnTheServerKeepingTheLastPoint) {
  const std::string job = RunJob(1);
  json curve = GetJson("/api/v1/jobs/" + job + "/curve?max_points=10&x=tokens");
  EXPECT_EQ(curve["x"], "tokens");
  EXPECT_EQ(curve["total_points"], kSteps);
  ASSERT_EQ(curve["step"].size(), 10u);
  EXPECT_EQ(curve["tokens"].size(), 10u);
  EXPECT_EQ(curve["train_loss"].size(), 10u);
  EXPECT_EQ(curve["eval_loss"].size(), 10u);
  EXPECT_EQ(curve["step"][0], 1);
  EXPECT_EQ(curve["step"][9], kSteps);
  json whole = GetJson("/api/v1/jobs/" + job + "/curve");
  ASSERT_EQ(whole["step"].size(), static_cast<size_t>(kSteps));
  EXPECT_TRUE(whole["eval_loss"][0].is_null());    // step 1 has no eval loss
  EXPECT_TRUE(whole["eval_loss"][4].is_number());  // step 5 has one
}

TEST_F(DashboardTest, SweepsShowProgressAxesAndCells) {
  v1::CreateSweepRequest request;
  request.set_request_id("sweep");
  request.set_name("grid");
  *request.mutable_base() = TinySpec();
  request.mutable_axes()->add_sparsities(0);
  request.mutable_axes()->add_sparsities(0.5);
  v1::CreateSweepResponse created;
  ASSERT_TRUE(client().CreateSweep(Context().get(), request, &created).ok());
  json listed = GetJson("/api/v1/sweeps");
  ASSERT_EQ(listed["sweeps"].size(), 1u);
  json sweep = listed["sweeps"][0];
  EXPECT_EQ(sweep["name"], "grid");
  EXPECT_EQ(sweep["jobs_total"], 2);
  EXPECT_EQ(sweep["jobs_by_state"]["QUEUED"], 2);
  EXPECT_EQ(sweep["progress"], 0.0);
  EXPECT_TRUE(sweep["eta_seconds"].is_null());
  EXPECT_EQ(sweep["state"], "QUEUED");
  EXPECT_EQ(listed["next_page_token"], "");

  json detail = GetJson("/api/v1/sweeps/" + sweep["id"].get<std::string>());
  EXPECT_EQ(detail["axes"]["sparsities"], json::array({0.0, 0.5}));
  EXPECT_EQ(detail["axes"]["structures"], json::array({"unstructured"}));
  ASSERT_EQ(detail["cells"].size(), 2u);
  EXPECT_EQ(detail["cells"][0]["state"], "QUEUED");
  EXPECT_EQ(detail["cells"][0]["total_steps"], kSteps);
  json jobs = GetJson("/api/v1/jobs?sweep_id=" + sweep["id"].get<std::string>());
  EXPECT_EQ(jobs["jobs"].size(), 2u);
}

TEST_F(DashboardTest, EtagAnswers304UntilTheStateChanges) {
  HttpAnswer first = HttpGet(port_, "/api/v1/cluster");
  const std::string etag = first.headers["etag"];
  ASSERT_FALSE(etag.empty());
  HttpAnswer same = HttpGet(port_, "/api/v1/cluster", {{"If-None-Match", etag}});
  EXPECT_EQ(same.status, 304);
  EXPECT_TRUE(same.body.empty());
  Submit(TinySpec(), "change");
  HttpAnswer changed = HttpGet(port_, "/api/v1/cluster", {{"If-None-Match", etag}});
  EXPECT_EQ(changed.status, 200);
  EXPECT_NE(changed.headers["etag"], etag);
}

TEST_F(DashboardTest, EtagFromBeforeARestartIsNotHonoured) {
  // The state version restarts at 0 with the process; the boot id in the tag keeps a tag cached
  // before the restart from naming the new process's state.
  const std::string before = HttpGet(port_, "/api/v1/cluster").headers["etag"];
  ASSERT_FALSE(before.empty());
  StopServer();
  StartServer();
  port_ = server_->http_port();
  HttpAnswer after = HttpGet(port_, "/api/v1/cluster", {{"If-None-Match", before}});
  EXPECT_EQ(after.status, 200);
  EXPECT_NE(after.headers["etag"], before);
  EXPECT_EQ(HttpGet(port_, "/api/v1/cluster", {{"If-None-Match", after.headers["etag"]}}).status,
            304);
}

TEST_F(DashboardTest, OversizedBodyIs413AndTheServerKeepsServing) {
  HttpAnswer big = HttpFetch(port_, "POST", "/api/v1/sweeps/x/fit", {},
                             std::string((1 << 20) + 1, 'x'));
  EXPECT_EQ(big.status, 413) << big.error;
  EXPECT_NE(big.Json()["error"]["message"].get<std::string>().find("request body over"),
            std::string::npos)
      << big.body;
  EXPECT_EQ(HttpGet(port_, "/healthz").status, 200);
}

TEST_F(DashboardTest, EventStreamSendsAVersionEventAfterAChange) {
  EventReader events(port_, "/api/v1/events");
  EXPECT_EQ(events.headers().at("content-type"), "text/event-stream");
  const json first = json::parse(events.Next("version", std::chrono::seconds(5)));
  Submit(TinySpec(), "change");
  const json next = json::parse(events.Next("version", std::chrono::seconds(5)));
  EXPECT_GT(next["version"].get<int64_t>(), first["version"].get<int64_t>());
}

TEST_F(DashboardTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  HttpConnection connection(port_);
  for (int i = 0; i < 3; ++i) {
    HttpAnswer answer = connection.Get("/healthz");
    EXPECT_EQ(answer.status, 200) << answer.error;
    EXPECT_EQ(answer.body, "ok");
  }
}

TEST_F(DashboardTest, TheAppIsServedFromTheBinary) {
  HttpAnswer index = HttpGet(port_, "/");
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(index.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_EQ(index.headers["cache-control"], "no-cache");
  EXPECT_NE(index.body.find("<html"), std::string::npos);
  EXPECT_EQ(HttpGet(port_, "/index.html").body, index.body);
  EXPECT_EQ(HttpGet(port_, "/", {{"If-None-Match", index.headers["etag"]}}).status, 304);
  EXPECT_EQ(HttpGet(port_, "/assets/no-such-file.js").status, 404);
}

// The values of `name` in a Prometheus text exposition, by their label text ("" when none).
std::map<std::string, double> Samples(const std::string& text, const std::string& name) {
  std::map<std::string, double> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    const size_t space = line.rfind(' ');
    EXPECT_NE(space, absl::string_view::npos) << line;
    absl::string_view series = line.substr(0, space);
    const size_t brace = series.find('{');
    if (series.substr(0, brace) != name) {
      continue;
    }
    double value = 0;
    EXPECT_TRUE(absl::SimpleAtod(line.substr(space + 1), &value)) << line;
    out[std::string(brace == absl::string_view::npos ? "" : series.substr(brace))] = value;
  }
  return out;
}

TEST_F(DashboardTest, MetricsParseAndCountsMoveAfterAJob) {
  HttpAnswer before = HttpGet(port_, "/metrics");
  ASSERT_EQ(before.status, 200);
  EXPECT_EQ(before.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(Samples(before.body, "sparsescale_points_ingested_total")[""], 0);
  RunJob(1, std::string(1000, 'k'));
  const std::string text = HttpGet(port_, "/metrics").body;
  for (const std::string name :
       {"sparsescale_jobs", "sparsescale_points_ingested_total", "sparsescale_rpc_seconds",
        "sparsescale_sqlite_commit_seconds", "sparsescale_workers_alive",
        "sparsescale_leases_granted_total", "sparsescale_retries_total"}) {
    EXPECT_NE(text.find("# HELP " + name + " "), std::string::npos) << name;
    EXPECT_NE(text.find("# TYPE " + name + " "), std::string::npos) << name;
  }
  EXPECT_EQ(Samples(text, "sparsescale_points_ingested_total")[""], kSteps);
  EXPECT_EQ(Samples(text, "sparsescale_leases_granted_total")[""], 1);
  EXPECT_EQ(Samples(text, "sparsescale_checkpoint_bytes_total")[""], 1000);
  EXPECT_EQ(Samples(text, "sparsescale_workers_alive")[""], 1);
  EXPECT_EQ(Samples(text, "sparsescale_jobs")["{state=\"SUCCEEDED\"}"], 1);
  EXPECT_EQ(Samples(text, "sparsescale_jobs")["{state=\"QUEUED\"}"], 0);
  EXPECT_GE(Samples(text, "sparsescale_rpc_seconds_count")
                ["{method=\"/sparsescale.v1.WorkerService/ReportPoints\"}"],
            1);
  EXPECT_GT(Samples(text, "sparsescale_sqlite_commit_seconds_count")[""], 0);
}

TEST_F(DashboardTest, AuthorizerSeesTheBearerTokenAndTheRouteRole) {
  StopServer();
  options().http_authorizer = [](const std::string& token, http::Role role) {
    if (role == http::Role::kSubmitter && token != "s3cret") {
      return token.empty() ? absl::UnauthenticatedError("a bearer token is needed")
                           : absl::PermissionDeniedError("not a submitter");
    }
    return absl::OkStatus();
  };
  StartServer();
  port_ = server_->http_port();
  EXPECT_EQ(HttpGet(port_, "/api/v1/cluster").status, 200);
  EXPECT_EQ(HttpFetch(port_, "POST", "/api/v1/sweeps/x/fit").status, 401);
  EXPECT_EQ(
      HttpFetch(port_, "POST", "/api/v1/sweeps/x/fit", {{"Authorization", "Bearer no"}}).status,
      403);
  EXPECT_EQ(
      HttpFetch(port_, "POST", "/api/v1/sweeps/x/fit", {{"Authorization", "Bearer s3cret"}}).status,
      404);  // allowed through; the sweep does not exist
}

}  // namespace
}  // namespace sparsescale::coordinator::testing
