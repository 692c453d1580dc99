-- Schema version 5: bearer tokens and the audit log (docs/SECURITY.md). A token is stored as
-- the SHA-256 of its secret only; the secret itself is shown once, when it is created.
CREATE TABLE tokens (
  id TEXT NOT NULL PRIMARY KEY,
  role INTEGER NOT NULL,
  secret_sha256 TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  created_unix_ms INTEGER NOT NULL,
  expires_unix_ms INTEGER NOT NULL DEFAULT 0,
  revoked_unix_ms INTEGER NOT NULL DEFAULT 0,
  last_used_unix_ms INTEGER NOT NULL DEFAULT 0
);

-- The workers a worker token registered: that token may act for these worker ids only.
CREATE TABLE token_workers (
  token_id TEXT NOT NULL,
  worker_id TEXT NOT NULL,
  PRIMARY KEY (token_id, worker_id)
) WITHOUT ROWID;

-- One row per mutating call (worker hot-path calls that succeed are summarised: one row per
-- actor, action and object per flush, with `calls` counting them).
CREATE TABLE audit (
  seq INTEGER NOT NULL PRIMARY KEY,
  time_unix_ms INTEGER NOT NULL,
  actor_token_id TEXT NOT NULL,
  actor_role INTEGER NOT NULL,
  action TEXT NOT NULL,
  object_id TEXT NOT NULL,
  code INTEGER NOT NULL,
  message TEXT NOT NULL,
  calls INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX audit_by_time ON audit (time_unix_ms, seq);
CREATE INDEX audit_by_actor ON audit (actor_token_id, seq);
