-- Schema version 6: datasets (token shards stored in the coordinator; docs/DEPLOY.md,
-- "Datasets"). Bytes are stored once per distinct chunk (content-addressed by sha256); a
-- dataset is an ordered list of files, each an ordered list of chunks.
CREATE TABLE dataset_chunks (
  sha256 TEXT NOT NULL PRIMARY KEY,
  size_bytes INTEGER NOT NULL,
  data BLOB NOT NULL
) WITHOUT ROWID;

-- state: 1 uploading (chunks arriving, hash empty), 2 ready (DatasetState in coordinator.proto).
CREATE TABLE datasets (
  id INTEGER NOT NULL PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  hash TEXT NOT NULL DEFAULT '',
  state INTEGER NOT NULL,
  total_bytes INTEGER NOT NULL DEFAULT 0,
  file_count INTEGER NOT NULL DEFAULT 0,
  created_unix_ms INTEGER NOT NULL
);
CREATE INDEX datasets_by_hash ON datasets (hash);

CREATE TABLE dataset_files (
  dataset_id INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  name TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  chunks TEXT NOT NULL,  -- the chunks' sha256 in order, separated by ','
  PRIMARY KEY (dataset_id, idx)
) WITHOUT ROWID;

-- Which chunks each dataset holds on to (an uploading one: those put so far). A chunk no row
-- refers to is deleted with the last dataset that used it.
CREATE TABLE dataset_chunk_refs (
  dataset_id INTEGER NOT NULL,
  chunk TEXT NOT NULL,
  PRIMARY KEY (dataset_id, chunk)
) WITHOUT ROWID;
CREATE INDEX dataset_chunk_refs_by_chunk ON dataset_chunk_refs (chunk);

-- The dataset hash a job's spec names ('' for jobs reading paths), so that a dataset in use by
-- a queued or running job is not deleted.
ALTER TABLE jobs ADD COLUMN dataset TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_by_dataset ON jobs (dataset) WHERE dataset != '';
