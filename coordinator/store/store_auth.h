// Store: bearer tokens (hashes only), the workers each worker token registered, and the audit
// log (tables tokens, token_workers, audit; sql/0005_auth_audit.sql). Free functions over a
// Store, so that the tables stay apart from the job store's class. Writes run on the writer's
// Store (the StoreWriter thread); reads on any Store the calling thread holds.
// Thread-safety: as the Store passed in (one thread at a time).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/store/store.h"

namespace sparsescale::store {

struct TokenRow {
  std::string id;
  int role = 0;               // sparsescale.v1.Role
  std::string secret_sha256;  // hex; the secret itself is never stored
  std::string description;
  int64_t created_unix_ms = 0;
  int64_t expires_unix_ms = 0;  // 0: never
  int64_t revoked_unix_ms = 0;  // 0: live
  int64_t last_used_unix_ms = 0;
  std::vector<std::string> worker_ids;  // token_workers rows, in insertion order
};

struct AuditRow {
  int64_t seq = 0;  // assigned by the insert
  int64_t time_unix_ms = 0;
  std::string actor_token_id;
  int actor_role = 0;
  std::string action;
  std::string object_id;
  int code = 0;
  std::string message;
  int64_t calls = 1;
};

struct AuditFilter {
  int64_t since_unix_ms = 0;
  std::string actor_token_id;  // "" = everyone
  int limit = 1000;
};

// AlreadyExists when the id is taken.
absl::Status InsertToken(Store& store, const TokenRow& token);
// Sets revoked_unix_ms unless already revoked. NotFound naming the id.
absl::Status RevokeToken(Store& store, const std::string& id, int64_t now_unix_ms);
absl::Status TouchToken(Store& store, const std::string& id, int64_t last_used_unix_ms);
// Idempotent.
absl::Status BindTokenWorker(Store& store, const std::string& token_id,
                             const std::string& worker_id);
// Every token with its workers, oldest first.
absl::StatusOr<std::vector<TokenRow>> LoadTokens(Store& store);

absl::Status InsertAudit(Store& store, const std::vector<AuditRow>& rows);
// Oldest first, at most filter.limit rows.
absl::StatusOr<std::vector<AuditRow>> ListAudit(Store& store, const AuditFilter& filter);

}  // namespace sparsescale::store
