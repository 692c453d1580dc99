-- Schema version 7: checkpoint payloads in an optional content-addressed blob directory
-- (the coordinator's --checkpoint-dir; docs/DEPLOY.md, "Checkpoints"), and a checkpoint
-- retention per sweep.
-- stored_in: 0 = the payload is in checkpoint_chunks (SQLite, the default); 1 = it is the file
-- <checkpoint dir>/<first 2 hex of sha256>/<sha256>, which the row's sha256 and size_bytes
-- describe (rows with the same sha256 share one file). A row with stored_in = 1 is committed
-- only after its file is durable; a file is removed only after the commit that dropped its
-- last row.
ALTER TABLE checkpoints ADD COLUMN stored_in INTEGER NOT NULL DEFAULT 0;
CREATE INDEX checkpoints_by_sha ON checkpoints (sha256) WHERE stored_in = 1;

-- Complete checkpoints kept per job of this sweep (the newest by step, so always the final
-- one); 0 = the coordinator's default (--checkpoints-kept-per-job).
ALTER TABLE sweeps ADD COLUMN checkpoint_keep_last INTEGER NOT NULL DEFAULT 0;
