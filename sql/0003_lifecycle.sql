-- Schema version 3: indexes that deleting a job (coordinator/store/store_lifecycle.cc) needs so
-- that it touches only the job's own rows instead of scanning the tables it leaves behind.
CREATE INDEX events_by_job ON events (job_id, id);
CREATE INDEX sweep_jobs_by_job ON sweep_jobs (job_seq, sweep_id);
