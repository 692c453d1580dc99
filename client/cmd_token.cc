// `sparsescale token create|list|revoke` (admin tokens and roles) and `sparsescale audit` (the
// audit log of mutating calls). docs/SECURITY.md describes roles, rotation and the audit log.
#include <chrono>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/cli_util.h"
#include "client/command.h"
#include "client/coordinator_client.h"
#include "client/output.h"

namespace sparsescale::cli {
namespace {

namespace v1 = sparsescale::v1;

struct TokenFlags {
  client::CommonFlags common;
  std::string role;
  std::string expires;
  std::string description;
  std::string id;
  std::string since;
  std::string actor;
  int limit = 1000;
};

TokenFlags f;

// "admin" for ROLE_ADMIN.
std::string RoleText(v1::Role role) { return absl::AsciiStrToLower(v1::Role_Name(role).substr(5)); }

absl::StatusOr<v1::Role> ParseRoleName(const std::string& name) {
  v1::Role role = v1::ROLE_UNSPECIFIED;
  if (!v1::Role_Parse("ROLE_" + absl::AsciiStrToUpper(name), &role) ||
      role == v1::ROLE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--role: must be one of admin, submitter, viewer, worker; got \"", name, "\""));
  }
  return role;
}

// "90s", "30m", "12h", "7d" in milliseconds. InvalidArgument naming `flag` otherwise.
absl::StatusOr<int64_t> ParseDurationMs(const std::string& text, const char* flag) {
  int64_t number = 0;
  const char unit = text.empty() ? '\0' : text.back();
  const int64_t scale = unit == 's'   ? 1000
                        : unit == 'm' ? 60'000
                        : unit == 'h' ? 3'600'000
                        : unit == 'd' ? 86'400'000
                                      : 0;
  if (scale == 0 || !absl::SimpleAtoi(text.substr(0, text.size() - 1), &number) || number <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": expected a positive duration such as 90s, 30m, 12h or 7d; got \"", text, "\""));
  }
  return number * scale;
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatTime(int64_t unix_ms) {
  if (unix_ms == 0) {
    return "-";
  }
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

std::string TokensTable(const v1::ListTokensResponse& tokens) {
  client::Table table(
      {"ID", "ROLE", "CREATED", "EXPIRES", "REVOKED", "LAST USED", "WORKERS", "DESCRIPTION"});
  for (const v1::TokenInfo& t : tokens.tokens()) {
    table.AddRow({t.id(), RoleText(t.role()), FormatTime(t.created_unix_ms()),
                  FormatTime(t.expires_unix_ms()), FormatTime(t.revoked_unix_ms()),
                  FormatTime(t.last_used_unix_ms()), absl::StrJoin(t.worker_ids(), ","),
                  t.description()});
  }
  return table.Render();
}

void Create() {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::CreateTokenRequest request;
  request.set_role(client::OrFail(ParseRoleName(f.role)));
  if (!f.expires.empty()) {
    request.set_ttl_ms(client::OrFail(ParseDurationMs(f.expires, "--expires")));
  }
  request.set_description(f.description);
  v1::CreateTokenResponse created = client::OrFail(c.CreateToken(request));
  if (f.common.json) {
    std::printf("%s\n", client::MessageToJson(created).c_str());
    return;
  }
  // The secret alone on stdout, so that `sparsescale token create ... > file` makes a token
  // file; what it is goes to stderr.
  std::fprintf(stderr, "token %s (role %s, expires %s); the secret is shown once:\n",
               created.token().id().c_str(), RoleText(created.token().role()).c_str(),
               FormatTime(created.token().expires_unix_ms()).c_str());
  std::printf("%s\n", created.secret().c_str());
}

void List() {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::ListTokensResponse tokens = client::OrFail(c.ListTokens());
  std::printf("%s", f.common.json ? (client::MessageToJson(tokens) + "\n").c_str()
                                  : TokensTable(tokens).c_str());
}

void Revoke() {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::RevokeTokenResponse revoked = client::OrFail(c.RevokeToken(f.id));
  if (f.common.json) {
    std::printf("%s\n", client::MessageToJson(revoked).c_str());
    return;
  }
  std::printf("revoked %s at %s\n", revoked.token().id().c_str(),
              FormatTime(revoked.token().revoked_unix_ms()).c_str());
}

void Audit() {
  client::CoordinatorClient c(f.common.coordinator, client::ConnectOptions(f.common));
  v1::ListAuditRequest request;
  if (!f.since.empty()) {
    request.set_since_unix_ms(NowUnixMs() - client::OrFail(ParseDurationMs(f.since, "--since")));
  }
  request.set_actor_token_id(f.actor);
  request.set_limit(f.limit);
  v1::ListAuditResponse audit = client::OrFail(c.ListAudit(request));
  if (f.common.json) {
    std::printf("%s\n", client::MessageToJson(audit).c_str());
    return;
  }
  client::Table table({"TIME", "ACTOR", "ROLE", "ACTION", "OBJECT", "CODE", "CALLS", "MESSAGE"});
  for (const v1::AuditRecord& r : audit.records()) {
    table.AddRow({FormatTime(r.time_unix_ms()),
                  r.actor_token_id().empty() ? "-" : r.actor_token_id(), RoleText(r.actor_role()),
                  r.action(), r.object_id(),
                  absl::StatusCodeToString(static_cast<absl::StatusCode>(r.code())),
                  absl::StrCat(r.calls()), r.message()});
  }
  std::printf("%s", table.Render().c_str());
}

void Install(CLI::App& root) {
  CLI::App* group = root.add_subcommand("token", "bearer tokens and their roles (admin)");
  group->require_subcommand(1);
  CLI::App* create = group->add_subcommand(
      "create", "create a token; prints its secret once (stdout) and what it is (stderr)");
  create->add_option("--role", f.role, "admin, submitter, viewer or worker")->required();
  create->add_option("--expires", f.expires, "lifetime such as 12h or 30d (default: never)");
  create->add_option("--description", f.description, "a note shown by `token list`");
  client::AddCommonFlags(create, &f.common);
  create->callback([] { Create(); });
  CLI::App* list = group->add_subcommand("list", "every token (never a secret)");
  client::AddCommonFlags(list, &f.common);
  list->callback([] { List(); });
  CLI::App* revoke = group->add_subcommand("revoke", "revoke a token at once");
  revoke->add_option("ID", f.id, "token id (tok_...)")->required();
  client::AddCommonFlags(revoke, &f.common);
  revoke->callback([] { Revoke(); });

  CLI::App* audit = root.add_subcommand("audit", "the audit log of mutating calls (admin)");
  audit->add_option("--since", f.since, "only the last DURATION (e.g. 15m, 2h, 7d)");
  audit->add_option("--actor", f.actor, "only calls made with this token id");
  audit->add_option("--limit", f.limit, "at most this many rows")
      ->capture_default_str()
      ->check(CLI::Range(1, 100'000));
  client::AddCommonFlags(audit, &f.common);
  audit->callback([] { Audit(); });
}

CommandRegistrar registrar(Install);

}  // namespace
}  // namespace sparsescale::cli
