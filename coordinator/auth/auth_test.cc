// The auth library: the RPC -> role table, token checks, rate limits and the audit buffer.
#include <gtest/gtest.h>

#include <set>

#include "coordinator/auth/audit_buffer.h"
#include "coordinator/auth/rate_limiter.h"
#include "coordinator/auth/roles.h"
#include "coordinator/auth/token_registry.h"
#include "google/protobuf/descriptor.h"

namespace sparsescale::auth {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

store::AuditRow Row(const std::string& action) {
  store::AuditRow row;
  row.action = action;
  return row;
}

TEST(RpcRules, EveryRpcOfBothServicesHasExactlyOneRule) {
  // Referencing a descriptor of coordinator.proto makes sure its file is in the pool.
  ASSERT_NE(v1::Role_descriptor(), nullptr);
  std::set<std::string> expected;
  for (const char* name : {"sparsescale.v1.ClientService", "sparsescale.v1.WorkerService"}) {
    const auto* pool = google::protobuf::DescriptorPool::generated_pool();
    const google::protobuf::ServiceDescriptor* s = pool->FindServiceByName(name);
    ASSERT_NE(s, nullptr) << name;
    for (int i = 0; i < s->method_count(); ++i) {
      expected.insert(s->name() + "." + s->method(i)->name());
    }
  }
  std::set<std::string> ruled;
  for (const RpcRule& rule : RpcRules()) {
    EXPECT_TRUE(ruled.insert(std::string(rule.method)).second) << "twice: " << rule.method;
    EXPECT_NE(rule.role, v1::ROLE_UNSPECIFIED) << rule.method;
  }
  EXPECT_EQ(ruled, expected);
}

TEST(Roles, AdminMayDoEverythingAndSubmitterWhatViewerMay) {
  for (v1::Role need : {v1::ROLE_ADMIN, v1::ROLE_SUBMITTER, v1::ROLE_VIEWER, v1::ROLE_WORKER}) {
    EXPECT_TRUE(RoleAllows(v1::ROLE_ADMIN, need));
  }
  EXPECT_TRUE(RoleAllows(v1::ROLE_SUBMITTER, v1::ROLE_VIEWER));
  EXPECT_FALSE(RoleAllows(v1::ROLE_VIEWER, v1::ROLE_SUBMITTER));
  EXPECT_FALSE(RoleAllows(v1::ROLE_WORKER, v1::ROLE_VIEWER));
  EXPECT_FALSE(RoleAllows(v1::ROLE_SUBMITTER, v1::ROLE_WORKER));
  EXPECT_FALSE(RoleAllows(v1::ROLE_SUBMITTER, v1::ROLE_ADMIN));
  EXPECT_EQ(*ParseRole("viewer"), v1::ROLE_VIEWER);
  EXPECT_EQ(ParseRole("root").status().message(),
            "role: must be one of admin, submitter, viewer, worker; got \"root\"");
}

TEST(TokenRegistry, AcceptsTheMintedBearerAndStoresOnlyItsHash) {
  TokenRegistry::Minted minted = TokenRegistry::Mint(v1::ROLE_SUBMITTER, 0, "ci", kNow);
  EXPECT_EQ(minted.bearer.find(minted.row.secret_sha256), std::string::npos);
  EXPECT_EQ(minted.bearer.substr(0, minted.row.id.size()), minted.row.id);
  TokenRegistry registry;
  registry.Add(minted.row);
  auto who = registry.Authorize("Bearer " + minted.bearer, v1::ROLE_VIEWER, kNow);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->token_id, minted.row.id);
  EXPECT_EQ(who->role, v1::ROLE_SUBMITTER);
}

TEST(TokenRegistry, RefusesMissingWrongRevokedExpiredAndWrongRoleTokens) {
  TokenRegistry::Minted live = TokenRegistry::Mint(v1::ROLE_VIEWER, 0, "", kNow);
  TokenRegistry::Minted brief = TokenRegistry::Mint(v1::ROLE_ADMIN, 1000, "", kNow);
  TokenRegistry registry;
  registry.Add(live.row);
  registry.Add(brief.row);
  auto code = [&](std::string_view header, v1::Role need, int64_t now) {
    return registry.Authorize(header, need, now).status().code();
  };
  EXPECT_EQ(code("", v1::ROLE_VIEWER, kNow), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(code("Basic abc", v1::ROLE_VIEWER, kNow), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(code("Bearer " + live.row.id + ".00", v1::ROLE_VIEWER, kNow),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(code("Bearer " + brief.bearer, v1::ROLE_VIEWER, kNow + 999), absl::StatusCode::kOk);
  EXPECT_EQ(code("Bearer " + brief.bearer, v1::ROLE_VIEWER, kNow + 1000),
            absl::StatusCode::kUnauthenticated);
  absl::Status denied =
      registry.Authorize("Bearer " + live.bearer, v1::ROLE_SUBMITTER, kNow).status();
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(denied.message().find("needs role submitter"), std::string::npos) << denied;
  ASSERT_TRUE(registry.Revoke(live.row.id, kNow).ok());
  EXPECT_EQ(code("Bearer " + live.bearer, v1::ROLE_VIEWER, kNow),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(registry.Revoke("tok_none", kNow).code(), absl::StatusCode::kNotFound);
}

// Refused calls are audited with who sent them: the token when its secret matches (even revoked
// or expired), else a marker that no token id can equal.
TEST(TokenRegistry, IdentifiesTheSenderOfARefusedCallForTheAuditLog) {
  TokenRegistry::Minted viewer = TokenRegistry::Mint(v1::ROLE_VIEWER, 0, "", kNow);
  TokenRegistry registry({viewer.row});
  ASSERT_TRUE(registry.Revoke(viewer.row.id, kNow).ok());
  const Principal known = registry.Identify("Bearer " + viewer.bearer);
  EXPECT_EQ(known.token_id, viewer.row.id);
  EXPECT_EQ(known.role, v1::ROLE_VIEWER);
  EXPECT_EQ(registry.Identify("").token_id, kAnonymousActor);
  const std::string wrong_secret = viewer.row.id + "." + std::string(64, 'f');
  for (const std::string& bad : {std::string("Basic abc"), std::string("Bearer nodot"),
                                 "Bearer " + wrong_secret, std::string("Bearer tok_1.2")}) {
    const Principal invalid = registry.Identify(bad);
    EXPECT_EQ(invalid.token_id, kInvalidTokenActor) << bad;
    EXPECT_EQ(invalid.role, v1::ROLE_UNSPECIFIED) << bad;
  }
}

TEST(TokenRegistry, AWorkerTokenActsOnlyForTheWorkersItRegistered) {
  TokenRegistry::Minted a = TokenRegistry::Mint(v1::ROLE_WORKER, 0, "", kNow);
  TokenRegistry::Minted b = TokenRegistry::Mint(v1::ROLE_WORKER, 0, "", kNow);
  TokenRegistry registry;
  registry.Add(a.row);
  registry.Add(b.row);
  EXPECT_TRUE(registry.BindWorker(a.row.id, "w_1"));
  EXPECT_TRUE(registry.OwnsWorker(a.row.id, "w_1"));
  EXPECT_FALSE(registry.OwnsWorker(b.row.id, "w_1"));
  EXPECT_FALSE(registry.BindWorker(b.row.id, "w_1"));  // a replayed registration binds nothing
  EXPECT_FALSE(registry.OwnsWorker(b.row.id, "w_1"));
  EXPECT_EQ(registry.Find(a.row.id)->worker_ids, std::vector<std::string>{"w_1"});
}

TEST(TokenRegistry, LastUseIsHandedOutForPersistingAtMostOncePerResolution) {
  TokenRegistry::Minted t = TokenRegistry::Mint(v1::ROLE_VIEWER, 0, "", kNow);
  TokenRegistry registry;
  registry.Add(t.row);
  ASSERT_TRUE(registry.Authorize("Bearer " + t.bearer, v1::ROLE_VIEWER, kNow).ok());
  EXPECT_EQ(registry.TakeLastUsed().size(), 1u);
  ASSERT_TRUE(registry.Authorize("Bearer " + t.bearer, v1::ROLE_VIEWER, kNow + 1000).ok());
  EXPECT_TRUE(registry.TakeLastUsed().empty());
  ASSERT_TRUE(
      registry.Authorize("Bearer " + t.bearer, v1::ROLE_VIEWER, kNow + kLastUsedResolutionMs).ok());
  EXPECT_EQ(registry.TakeLastUsed().size(), 1u);
}

TEST(RateLimiter, RefusesPastTheBurstAndRefillsAtTheRate) {
  RateLimiter limiter(RateLimit{.per_second = 10, .burst = 3});
  EXPECT_TRUE(limiter.Allow("t", 0));
  EXPECT_TRUE(limiter.Allow("t", 0));
  EXPECT_TRUE(limiter.Allow("t", 0));
  EXPECT_FALSE(limiter.Allow("t", 0));
  EXPECT_TRUE(limiter.Allow("other", 0));
  EXPECT_FALSE(limiter.Allow("t", 99));
  EXPECT_TRUE(limiter.Allow("t", 100));
  RateLimiter off(RateLimit{.per_second = 0, .burst = 0});
  EXPECT_TRUE(off.Allow("t", 0));
}

TEST(AuditBuffer, SummarisedRowsOfOneKeyMergeIntoOneRowWithACount) {
  AuditBuffer buffer;
  store::AuditRow row = Row("ReportPoints");
  row.time_unix_ms = 1;
  row.actor_token_id = "tok_a";
  row.object_id = "job_1";
  buffer.Add(row, true);
  row.time_unix_ms = 5;
  buffer.Add(row, true);
  buffer.Add(Row("SubmitJob"), false);
  buffer.Add(Row("SubmitJob"), false);
  std::vector<store::AuditRow> rows = buffer.Take();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].calls, 2);
  EXPECT_EQ(rows[0].time_unix_ms, 5);
  EXPECT_TRUE(buffer.Take().empty());
}

TEST(AuditBuffer, DropsAndCountsRowsPastItsBound) {
  AuditBuffer buffer(2);
  for (int i = 0; i < 5; ++i) {
    buffer.Add(Row("SubmitJob"), false);
  }
  EXPECT_EQ(buffer.Take().size(), 2u);
  EXPECT_EQ(buffer.dropped(), 3u);
}

}  // namespace
}  // namespace sparsescale::auth
