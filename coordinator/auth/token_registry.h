// TokenRegistry: the coordinator's bearer tokens in memory (loaded from the tokens table at
// start, kept in step with it by the caller), so that checking a token on every call never
// reads SQLite. A bearer token is "<id>.<secret>": the id ("tok_" + 16 hex digits) finds the
// row, and the SHA-256 of the secret (64 hex digits, 32 random bytes) must equal the stored
// hash (compared in constant time). The secret is never stored.
//
// Authorize() is the one check: the gRPC Gatekeeper calls it for every RPC and the dashboard's
// HTTP routes can call it with their `Authorization` header and the role a route needs.
// Thread-safety: thread-safe (one mutex; every method is short).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "coordinator/store/store_auth.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::auth {

// Who is calling: the token's id and role.
struct Principal {
  std::string token_id;
  v1::Role role = v1::ROLE_UNSPECIFIED;
};

// The audit log's actor for a refused call whose caller sent no token, and for one whose token
// is not a token of this coordinator (malformed, unknown id, wrong secret); their role is
// ROLE_UNSPECIFIED. Neither can be a token id (those start with "tok_").
inline constexpr char kAnonymousActor[] = "anonymous";
inline constexpr char kInvalidTokenActor[] = "invalid-token";

// last_used_unix_ms is persisted when it has moved by at least this much.
inline constexpr int64_t kLastUsedResolutionMs = 60'000;

class TokenRegistry {
 public:
  explicit TokenRegistry(std::vector<store::TokenRow> rows = {});

  // `authorization` is the header's value, "Bearer <token>". Unauthenticated saying why: no
  // header, not a bearer token, unknown id, wrong secret, revoked, expired. PermissionDenied
  // naming the role needed (and the token's) when the role does not allow `needed`. Marks the
  // token used at `now_unix_ms`.
  absl::StatusOr<Principal> Authorize(std::string_view authorization, v1::Role needed,
                                      int64_t now_unix_ms);

  // Who sent `authorization`, for auditing a refused call: the token's id and role when its id
  // and secret match (revoked and expired tokens too), else kAnonymousActor (no header) or
  // kInvalidTokenActor with ROLE_UNSPECIFIED. Marks nothing.
  Principal Identify(std::string_view authorization) const;

  // A new token (not yet added): its row (hash only) and its bearer string, shown once.
  struct Minted {
    store::TokenRow row;
    std::string bearer;
  };
  static Minted Mint(v1::Role role, int64_t ttl_ms, std::string description, int64_t now_unix_ms);

  // Adds a committed token.
  void Add(store::TokenRow row);
  // Marks a committed revocation. NotFound naming the id.
  absl::Status Revoke(const std::string& id, int64_t now_unix_ms);
  // A worker token registered `worker_id`: from now on it may act for it. False (nothing bound)
  // when another token holds that worker already (a replayed registration).
  bool BindWorker(const std::string& token_id, const std::string& worker_id);
  bool OwnsWorker(const std::string& token_id, const std::string& worker_id) const;

  absl::StatusOr<store::TokenRow> Find(const std::string& id) const;
  std::vector<store::TokenRow> List() const;  // oldest first
  bool empty() const;
  // (id, last used) of every token whose last use moved by kLastUsedResolutionMs since it was
  // last taken; the caller persists them.
  std::vector<std::pair<std::string, int64_t>> TakeLastUsed();

 private:
  struct Entry {
    store::TokenRow row;
    int64_t persisted_last_used_unix_ms = 0;
    std::set<std::string> workers;
  };

  mutable std::mutex mu_;
  std::map<std::string, Entry> tokens_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sparsescale::auth
