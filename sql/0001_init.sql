-- Schema version 1 of the coordinator store. Applied inside one transaction together with the
-- row in schema_version that records it. Every table is written only by the coordinator.

-- A sweep: base spec and axes (serialised protobuf), expanded server-side into jobs.
CREATE TABLE sweeps (
  id TEXT NOT NULL PRIMARY KEY,
  name TEXT NOT NULL,
  base BLOB NOT NULL,
  axes BLOB NOT NULL,
  priority INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  created_unix_ms INTEGER NOT NULL
);

-- One row per job (content-addressed cell). seq is the FIFO order and the compact key that
-- loss points and checkpoints refer to.
CREATE TABLE jobs (
  seq INTEGER NOT NULL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  sweep_id TEXT NOT NULL,
  spec BLOB NOT NULL,
  state INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  infra_failures INTEGER NOT NULL DEFAULT 0,
  job_failures INTEGER NOT NULL DEFAULT 0,
  worker_id TEXT NOT NULL DEFAULT '',
  step INTEGER NOT NULL DEFAULT 0,
  total_steps INTEGER NOT NULL,
  last_train_loss REAL NOT NULL DEFAULT 0,
  last_eval_loss REAL,
  final_eval_loss REAL,
  error TEXT NOT NULL DEFAULT '',
  last_failure INTEGER NOT NULL DEFAULT 0,
  checkpoint_step INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  device TEXT NOT NULL,
  gpus INTEGER NOT NULL,
  memory_bytes INTEGER NOT NULL,
  created_unix_ms INTEGER NOT NULL,
  updated_unix_ms INTEGER NOT NULL
);
CREATE INDEX jobs_by_state ON jobs (state, seq);

-- Which jobs each sweep asked for (a cell can belong to several sweeps).
CREATE TABLE sweep_jobs (
  sweep_id TEXT NOT NULL,
  job_seq INTEGER NOT NULL,
  PRIMARY KEY (sweep_id, job_seq)
) WITHOUT ROWID;

-- One row per lease granted; attempt is the fencing token.
CREATE TABLE attempts (
  job_seq INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  worker_id TEXT NOT NULL,
  resume_step INTEGER NOT NULL,
  started_unix_ms INTEGER NOT NULL,
  ended_unix_ms INTEGER,
  outcome INTEGER NOT NULL DEFAULT 0,
  failure INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (job_seq, attempt)
) WITHOUT ROWID;

CREATE TABLE workers (
  id TEXT NOT NULL PRIMARY KEY,
  name TEXT NOT NULL,
  device_kind TEXT NOT NULL,
  gpus INTEGER NOT NULL,
  memory_bytes INTEGER NOT NULL,
  slots INTEGER NOT NULL,
  version TEXT NOT NULL,
  draining INTEGER NOT NULL DEFAULT 0,
  registered_unix_ms INTEGER NOT NULL,
  last_heartbeat_unix_ms INTEGER NOT NULL
);

-- Loss points, stored as one row per reported batch (the payload packs the batch's points in
-- step order, 88 bytes each; see coordinator/store/store_points.cc): one B-tree insert per
-- batch instead of per point is what lets ingestion keep up with many workers. A requeued
-- attempt resumes from a checkpoint; points after it are superseded by lowering
-- valid_through_step (kept for forensics), so the clean curve is every point with
-- step <= valid_through_step.
CREATE TABLE loss_batches (
  job_seq INTEGER NOT NULL,
  first_step INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  last_step INTEGER NOT NULL,
  valid_through_step INTEGER NOT NULL,
  points INTEGER NOT NULL,
  payload BLOB NOT NULL,
  PRIMARY KEY (job_seq, first_step, attempt)
) WITHOUT ROWID;

-- Checkpoint metadata; complete = 0 while an upload is being staged (never served).
CREATE TABLE checkpoints (
  id INTEGER NOT NULL PRIMARY KEY,
  job_seq INTEGER NOT NULL,
  step INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  size_bytes INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  complete INTEGER NOT NULL DEFAULT 0,
  chunks INTEGER NOT NULL DEFAULT 0,
  created_unix_ms INTEGER NOT NULL
);
CREATE INDEX checkpoints_by_job ON checkpoints (job_seq, complete, step);

-- Checkpoint payloads in chunks of at most 4 MiB, in upload order.
CREATE TABLE checkpoint_chunks (
  checkpoint_id INTEGER NOT NULL,
  chunk INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (checkpoint_id, chunk)
);

-- Append-only audit trail of state changes (who, what, when).
CREATE TABLE events (
  id INTEGER NOT NULL PRIMARY KEY,
  unix_ms INTEGER NOT NULL,
  job_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL
);

-- Idempotency ledger: the first answer to each client request id.
CREATE TABLE requests (
  request_id TEXT NOT NULL PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  response BLOB NOT NULL,
  created_unix_ms INTEGER NOT NULL
);

-- Law fits with their options and exact inputs.
CREATE TABLE fits (
  id TEXT NOT NULL PRIMARY KEY,
  sweep_id TEXT NOT NULL,
  options BLOB NOT NULL,
  result BLOB NOT NULL,
  created_unix_ms INTEGER NOT NULL
);
CREATE TABLE fit_inputs (
  fit_id TEXT NOT NULL,
  job_id TEXT NOT NULL,
  config_hash TEXT NOT NULL,
  sparsity REAL NOT NULL,
  nonzeros REAL NOT NULL,
  tokens REAL NOT NULL,
  loss REAL NOT NULL,
  PRIMARY KEY (fit_id, job_id)
) WITHOUT ROWID;

-- Running totals kept in step with the tables they count (one row).
CREATE TABLE counters (
  id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
  loss_points INTEGER NOT NULL
);
INSERT INTO counters (id, loss_points) VALUES (1, 0);
