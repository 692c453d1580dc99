// Store: tokens and the audit log (sql/0005_auth_audit.sql).
#include "coordinator/store/store_auth.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace sparsescale::store {

absl::Status InsertToken(Store& store, const TokenRow& token) {
  ASSIGN_OR_RETURN(Query q,
                   store.db()->Prepare("INSERT INTO tokens (id, role, secret_sha256, description, "
                                       "created_unix_ms, expires_unix_ms, revoked_unix_ms, "
                                       "last_used_unix_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  q.Bind(1, token.id).Bind(2, token.role).Bind(3, token.secret_sha256).Bind(4, token.description);
  q.Bind(5, token.created_unix_ms).Bind(6, token.expires_unix_ms);
  q.Bind(7, token.revoked_unix_ms).Bind(8, token.last_used_unix_ms);
  return q.Run();
}

absl::Status RevokeToken(Store& store, const std::string& id, int64_t now_unix_ms) {
  ASSIGN_OR_RETURN(Query q, store.db()->Prepare("UPDATE tokens SET revoked_unix_ms = ? "
                                                "WHERE id = ? AND revoked_unix_ms = 0"));
  RETURN_IF_ERROR(q.Bind(1, now_unix_ms).Bind(2, id).Run());
  if (store.db()->Changes() > 0) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(Query exists, store.db()->Prepare("SELECT 1 FROM tokens WHERE id = ?"));
  exists.Bind(1, id);
  ASSIGN_OR_RETURN(const bool found, exists.Step());
  if (!found) {
    return absl::NotFoundError(absl::StrCat("id: token ", id, " does not exist"));
  }
  return absl::OkStatus();
}

absl::Status TouchToken(Store& store, const std::string& id, int64_t last_used_unix_ms) {
  ASSIGN_OR_RETURN(Query q, store.db()->Prepare("UPDATE tokens SET last_used_unix_ms = ? "
                                                "WHERE id = ? AND last_used_unix_ms < ?"));
  return q.Bind(1, last_used_unix_ms).Bind(2, id).Bind(3, last_used_unix_ms).Run();
}

absl::Status BindTokenWorker(Store& store, const std::string& token_id,
                             const std::string& worker_id) {
  ASSIGN_OR_RETURN(Query q, store.db()->Prepare("INSERT OR IGNORE INTO token_workers "
                                                "(token_id, worker_id) VALUES (?, ?)"));
  return q.Bind(1, token_id).Bind(2, worker_id).Run();
}

absl::StatusOr<std::vector<TokenRow>> LoadTokens(Store& store) {
  std::vector<TokenRow> tokens;
  std::map<std::string, size_t> index;
  {
    ASSIGN_OR_RETURN(Query q, store.db()->Prepare(
                                  "SELECT id, role, secret_sha256, description, created_unix_ms, "
                                  "expires_unix_ms, revoked_unix_ms, last_used_unix_ms "
                                  "FROM tokens ORDER BY created_unix_ms, id"));
    while (true) {
      ASSIGN_OR_RETURN(const bool row, q.Step());
      if (!row) {
        break;
      }
      index[q.Text(0)] = tokens.size();
      tokens.push_back(TokenRow{.id = q.Text(0),
                                .role = static_cast<int>(q.Int(1)),
                                .secret_sha256 = q.Text(2),
                                .description = q.Text(3),
                                .created_unix_ms = q.Int(4),
                                .expires_unix_ms = q.Int(5),
                                .revoked_unix_ms = q.Int(6),
                                .last_used_unix_ms = q.Int(7),
                                .worker_ids = {}});
    }
  }
  ASSIGN_OR_RETURN(Query w, store.db()->Prepare("SELECT token_id, worker_id FROM token_workers "
                                                "ORDER BY token_id, worker_id"));
  while (true) {
    ASSIGN_OR_RETURN(const bool row, w.Step());
    if (!row) {
      break;
    }
    auto it = index.find(w.Text(0));
    if (it != index.end()) {
      tokens[it->second].worker_ids.push_back(w.Text(1));
    }
  }
  return tokens;
}

absl::Status InsertAudit(Store& store, const std::vector<AuditRow>& rows) {
  for (const AuditRow& r : rows) {
    ASSIGN_OR_RETURN(
        Query q, store.db()->Prepare("INSERT INTO audit (time_unix_ms, actor_token_id, actor_role, "
                                     "action, object_id, code, message, calls) "
                                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    q.Bind(1, r.time_unix_ms).Bind(2, r.actor_token_id).Bind(3, r.actor_role).Bind(4, r.action);
    q.Bind(5, r.object_id).Bind(6, r.code).Bind(7, r.message).Bind(8, r.calls);
    RETURN_IF_ERROR(q.Run());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AuditRow>> ListAudit(Store& store, const AuditFilter& filter) {
  ASSIGN_OR_RETURN(
      Query q, store.db()->Prepare("SELECT seq, time_unix_ms, actor_token_id, actor_role, action, "
                                   "object_id, code, message, calls FROM audit "
                                   "WHERE time_unix_ms >= ? AND (? = '' OR actor_token_id = ?) "
                                   "ORDER BY seq LIMIT ?"));
  q.Bind(1, filter.since_unix_ms).Bind(2, filter.actor_token_id).Bind(3, filter.actor_token_id);
  q.Bind(4, filter.limit);
  std::vector<AuditRow> rows;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      return rows;
    }
    rows.push_back(AuditRow{.seq = q.Int(0),
                            .time_unix_ms = q.Int(1),
                            .actor_token_id = q.Text(2),
                            .actor_role = static_cast<int>(q.Int(3)),
                            .action = q.Text(4),
                            .object_id = q.Text(5),
                            .code = static_cast<int>(q.Int(6)),
                            .message = q.Text(7),
                            .calls = q.Int(8)});
  }
}

}  // namespace sparsescale::store
