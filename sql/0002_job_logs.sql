-- Schema version 2: the captured stdout/stderr of job attempts.

-- One row per stored log chunk of an attempt. `first_byte` is where the chunk starts in the
-- attempt's whole output (dropped bytes included), so a retried chunk is recognised by its
-- first_byte and stored once. Only the newest bytes up to the attempt's bound are kept: the oldest
-- rows are deleted (or the oldest one trimmed) as new ones arrive, and the bytes before the
-- first row are the dropped ones.
CREATE TABLE job_logs (
  job_seq INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  first_byte INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (job_seq, attempt, first_byte)
) WITHOUT ROWID;
