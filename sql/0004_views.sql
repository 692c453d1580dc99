-- Schema version 4: plain columns and views for external tools reading the file (the sqlite3
-- CLI, Grafana's SQLite data source); see docs/SQL.md. Specs and loss points are stored as
-- protobuf / packed blobs, which SQL cannot read, so the coordinator also keeps:
--   * a cell's coordinates as plain columns of jobs (filled when a job is inserted; rows
--     stored before this version are backfilled from their spec right after this file runs,
--     in the same transaction: coordinator/store/store_views.cc);
--   * job_curves, each job's downsampled curve (about 200 rows), its rows chosen as the points
--     are stored, in the same write.
-- Views and job_curves are derived data: nothing reads them back into the coordinator.

ALTER TABLE jobs ADD COLUMN n_params INTEGER;   -- round(12 width^2 layers (1 - S)), body only
ALTER TABLE jobs ADD COLUMN sparsity REAL;      -- target S of the cell
ALTER TABLE jobs ADD COLUMN tokens INTEGER;     -- training budget D in tokens
ALTER TABLE jobs ADD COLUMN structure TEXT;     -- 'unstructured' or 'n:m' (e.g. '2:4')
ALTER TABLE jobs ADD COLUMN seed INTEGER;

-- A job's curve downsampled for plotting: step 1, the planned last step, a grid over the planned
-- steps and the first eval point of each of ~50 buckets; superseded points dropped.
CREATE TABLE job_curves (
  job_id TEXT NOT NULL,
  step INTEGER NOT NULL,
  tokens INTEGER NOT NULL,
  train_loss REAL NOT NULL,
  eval_loss REAL,
  sparsity REAL NOT NULL,
  lr REAL NOT NULL,
  PRIMARY KEY (job_id, step)
) WITHOUT ROWID;

-- Every job with its cell, state as text and progress.
CREATE VIEW v_jobs AS
SELECT
  j.id AS job_id,
  j.seq AS seq,
  j.sweep_id AS sweep_id,
  j.n_params AS n_params,
  j.sparsity AS sparsity,
  j.tokens AS tokens,
  j.structure AS structure,
  j.seed AS seed,
  CASE j.state WHEN 1 THEN 'queued' WHEN 2 THEN 'running' WHEN 3 THEN 'succeeded'
    WHEN 4 THEN 'failed' WHEN 5 THEN 'cancelled' ELSE 'unknown' END AS state,
  j.step AS step,
  j.total_steps AS total_steps,
  CASE WHEN j.total_steps > 0 THEN MIN(1.0, CAST(j.step AS REAL) / j.total_steps) ELSE 0.0 END
    AS progress,
  j.attempt AS attempts,
  j.max_attempts AS max_attempts,
  NULLIF(j.worker_id, '') AS worker,
  j.last_train_loss AS last_train_loss,
  j.last_eval_loss AS last_eval_loss,
  j.final_eval_loss AS final_eval_loss,
  NULLIF(j.error, '') AS error,
  j.priority AS priority,
  j.created_unix_ms AS created_unix_ms,
  j.updated_unix_ms AS updated_unix_ms,
  strftime('%Y-%m-%d %H:%M:%S', j.updated_unix_ms / 1000, 'unixepoch') AS updated_utc
FROM jobs j;

-- Each sweep with its jobs counted by state and its steps done over steps planned.
CREATE VIEW v_sweep_progress AS
SELECT
  s.id AS sweep_id,
  s.name AS name,
  COUNT(j.seq) AS jobs,
  COALESCE(SUM(j.state = 1), 0) AS queued,
  COALESCE(SUM(j.state = 2), 0) AS running,
  COALESCE(SUM(j.state = 3), 0) AS succeeded,
  COALESCE(SUM(j.state = 4), 0) AS failed,
  COALESCE(SUM(j.state = 5), 0) AS cancelled,
  COALESCE(SUM(MIN(j.step, j.total_steps)), 0) AS steps_done,
  COALESCE(SUM(j.total_steps), 0) AS steps_total,
  CASE WHEN SUM(j.total_steps) > 0
    THEN CAST(SUM(MIN(j.step, j.total_steps)) AS REAL) / SUM(j.total_steps) ELSE 0.0 END
    AS progress,
  s.created_unix_ms AS created_unix_ms,
  strftime('%Y-%m-%d %H:%M:%S', s.created_unix_ms / 1000, 'unixepoch') AS created_utc,
  MAX(j.updated_unix_ms) AS updated_unix_ms
FROM sweeps s
LEFT JOIN sweep_jobs sj ON sj.sweep_id = s.id
LEFT JOIN jobs j ON j.seq = sj.job_seq
GROUP BY s.id;

-- Registered workers with the jobs running on them and the age of their last heartbeat as the
-- store last recorded it.
CREATE VIEW v_workers AS
SELECT
  w.id AS worker_id,
  w.name AS name,
  w.device_kind AS device_kind,
  w.gpus AS gpus,
  w.memory_bytes AS memory_bytes,
  w.slots AS slots,
  w.version AS version,
  w.draining AS draining,
  (SELECT COUNT(*) FROM jobs j WHERE j.state = 2 AND j.worker_id = w.id) AS running_jobs,
  w.registered_unix_ms AS registered_unix_ms,
  w.last_heartbeat_unix_ms AS last_heartbeat_unix_ms,
  strftime('%Y-%m-%d %H:%M:%S', w.last_heartbeat_unix_ms / 1000, 'unixepoch')
    AS last_heartbeat_utc,
  -- julianday('now') has millisecond precision (strftime('%s') truncates to the second, which
  -- made a fresh heartbeat look up to a second in the future).
  MAX(0.0, ((julianday('now') - 2440587.5) * 86400000.0 - w.last_heartbeat_unix_ms) / 1000.0)
    AS heartbeat_age_s
FROM workers w;

-- The final losses of every succeeded cell of every sweep: one row per (sweep, job).
CREATE VIEW v_final_losses AS
SELECT
  sj.sweep_id AS sweep_id,
  j.id AS job_id,
  j.n_params AS n_params,
  j.sparsity AS sparsity,
  j.tokens AS tokens,
  j.structure AS structure,
  j.seed AS seed,
  j.final_eval_loss AS final_eval_loss,
  j.last_train_loss AS final_train_loss,
  j.step AS steps,
  j.updated_unix_ms AS finished_unix_ms
FROM sweep_jobs sj
JOIN jobs j ON j.seq = sj.job_seq
WHERE j.state = 3;
