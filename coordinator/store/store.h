// The coordinator's durable state in one SQLite file: jobs, attempts, workers, loss points,
// checkpoints (chunked payloads), sweeps, idempotent requests, fits and an event trail.
// Opening a Store applies the numbered migrations from sql/ (or refuses a database whose schema
// is newer than this binary). Every query is a cached prepared statement.
//
// Thread-safety: a Store is one connection and belongs to one thread at a time. The coordinator
// has exactly one writing Store (inside StoreWriter) and a pool of reading ones; WAL lets the
// readers see the last committed state while the writer works.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/store/blob_dir.h"
#include "coordinator/store/records.h"
#include "coordinator/store/sqlite.h"

namespace sparsescale::store {


struct StoreOptions {
  DbOptions db;
  // Apply pending migrations (the writer); readers only check the version.
  bool migrate = true;
  // Complete checkpoints kept per job (the newest by step); older ones are deleted on commit.
  // A sweep's checkpoint_keep_last overrides it for the sweep's jobs (the largest when a job is
  // in several sweeps).
  int checkpoints_kept_per_job = 2;
  // Non-empty: new checkpoint payloads go to files in this content-addressed directory
  // (blob_dir.h) instead of checkpoint_chunks; SQLite keeps their size, sha256 and stored_in.
  // Checkpoints stored before stay where they are and are served from there.
  std::string checkpoint_dir;
  // job_curves: about this many rows per job (0: the table is not kept; the views of
  // sql/0004_views.sql then show no curves). See store_views.cc for which points.
  int curve_rows = 200;
};

// A stored answer of the idempotency ledger.
struct StoredResponse {
  std::string fingerprint;
  std::string response;
};

class Store {
 public:
  // Opens `path`, migrating or checking the schema. FailedPrecondition when the database was
  // written by a newer schema; Unavailable / DataLoss when the file cannot be used.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path,
                                                     const StoreOptions& options);

  // The newest schema version this binary knows (the last file in sql/).
  static int LatestSchemaVersion();
  int schema_version() const { return schema_version_; }
  Db* db() { return db_.get(); }
  // Forgets cached lookups; called after a rollback, which may undo rows they describe.
  void InvalidateCaches() {
    job_seq_cache_.clear();
    curve_keys_.clear();
  }

  // Jobs. Unknown job ids give NotFound naming the id.
  absl::StatusOr<bool> InsertJobIfAbsent(JobRow* job);  // true when created; fills job->seq
  absl::StatusOr<std::optional<JobRow>> FindJob(std::string_view id);
  absl::StatusOr<std::vector<JobRow>> ListJobs(const JobFilter& filter, int64_t after_seq,
                                               int limit);
  absl::StatusOr<std::vector<JobRow>> LoadActiveJobs();  // QUEUED and RUNNING, in seq order
  absl::Status RecordGrant(const GrantRecord& grant, int64_t now_unix_ms);
  absl::Status RecordAttemptEnd(const AttemptEndRecord& end, int64_t now_unix_ms);
  absl::Status SetCancelRequested(std::string_view job_id, int64_t now_unix_ms);
  absl::Status RecordProgress(std::string_view job_id, int64_t step, int64_t now_unix_ms);
  absl::StatusOr<StateCounts> CountJobsByState(std::string_view sweep_id);  // "" = all jobs
  absl::Status AddEvent(std::string_view job_id, std::string_view kind, std::string_view detail,
                        int64_t now_unix_ms);
  absl::StatusOr<int64_t> JobSeq(std::string_view job_id);

  // Lifecycle (store_lifecycle.cc). Each checks the job's stored state and answers
  // FailedPrecondition naming it when the state does not allow the change; NotFound naming the
  // id for an unknown job or sweep.
  // Queues a FAILED or CANCELLED job again as a new attempt series: failure counts, error and
  // cancel flag reset, the attempt counter (fencing token) kept; points after the job's latest
  // checkpoint are superseded as on any requeue. Returns the updated row.
  absl::StatusOr<JobRow> RequeueFinalJob(std::string_view job_id, int64_t now_unix_ms);
  // OK when `job` may be requeued by RequeueFinalJob, else its FailedPrecondition.
  static absl::Status Retryable(const JobRow& job);
  // Sets a QUEUED job's priority.
  absl::Status SetQueuedJobPriority(std::string_view job_id, int priority, int64_t now_unix_ms);
  // Deletes a job in a final state with every row that refers to it (points, checkpoints and
  // their chunks, attempts, sweep membership, events); SQLite reuses the freed pages.
  absl::Status DeleteFinalJob(std::string_view job_id);
  // Deletes a sweep whose jobs are all final, and those of its jobs no other sweep asks for.
  // Returns the ids of the jobs deleted.
  absl::StatusOr<std::vector<std::string>> DeleteFinalSweep(std::string_view sweep_id);
  // Pages on SQLite's freelist (freed by deletes, reused by later inserts) and in the file.
  absl::StatusOr<int64_t> FreePages();
  absl::StatusOr<int64_t> PageCount();

  // Loss points. InsertPoints stores the points of one report as one batch, ignoring steps an
  // earlier report of the same attempt already stored (a retry), and returns how many points
  // were new; it also advances the job's progress columns. Within an attempt, reports must
  // arrive in step order (each worker sends them one after another).
  absl::StatusOr<int64_t> InsertPoints(std::string_view job_id, int attempt,
                                       const std::vector<LossPoint>& points, int64_t now_unix_ms);
  // The clean curve (superseded points excluded) with step > after_step, by step.
  absl::StatusOr<std::vector<LossPoint>> ReadCurve(std::string_view job_id, int64_t after_step = -1,
                                                   int limit = -1);
  absl::StatusOr<int64_t> CountCurvePoints(std::string_view job_id);
  // The clean curve's last point; nullopt when the job has none.
  absl::StatusOr<std::optional<LossPoint>> ReadLastPoint(std::string_view job_id);
  absl::StatusOr<int64_t> LossPointsStored();

  // Plain columns and the curve table for SQL views (store_views.cc; sql/0004_views.sql).
  // Rewrites one job's job_curves rows from its stored clean curve (nothing for an unknown seq).
  absl::Status RebuildCurveRows(int64_t job_seq);

  // Checkpoints: staged (incomplete) rows first, chunks appended, then committed atomically.
  // With a checkpoint_dir the chunks go to the upload's temporary file instead of SQLite (the
  // row's stored_in says which); InvalidArgument naming sha256 when it is not 64 hex digits.
  absl::StatusOr<int64_t> BeginCheckpoint(const CheckpointRow& meta, int64_t now_unix_ms);
  absl::Status AppendCheckpointChunk(int64_t checkpoint_id, int chunk, std::string_view data);
  // Marks it complete, replaces an older checkpoint of the same step, prunes to the newest
  // kept (the job's sweeps' checkpoint_keep_last, else `checkpoints_kept_per_job`), and records
  // the job's checkpoint_step. A blob-dir upload's file is published (durable under its final
  // name) before the row changes, so the commit never makes a row without its file.
  absl::Status CommitCheckpoint(int64_t checkpoint_id);
  absl::Status AbortCheckpoint(int64_t checkpoint_id);
  absl::Status DeleteIncompleteCheckpoints();
  // After a COMMIT (the writer calls it; direct users of a Store in autocommit mode may call it
  // after any delete): removes the blob files whose last row the deletes since the previous call
  // dropped. `committed` false (a failed commit) forgets them instead.
  void RemoveUnreferencedCheckpointFiles(bool committed);
  // Start-up, before any upload: removes the checkpoint_dir's files that no row references and
  // its tmp/ leftovers; returns how many (0 without a checkpoint_dir).
  absl::StatusOr<int64_t> RemoveOrphanCheckpointFiles();
  // A blob-dir checkpoint's payload, open and verified (BlobDir::OpenVerified); DataLoss naming
  // the path when it is missing or damaged, FailedPrecondition when this coordinator was started
  // without a checkpoint_dir.
  absl::StatusOr<std::unique_ptr<BlobFile>> OpenCheckpointFile(const CheckpointRow& row);
  const std::optional<BlobDir>& checkpoint_blobs() const { return blobs_; }
  absl::StatusOr<std::vector<CheckpointRow>> ListCheckpoints(std::string_view job_id);
  // The complete checkpoint at `step` (0 = the latest); nullopt when there is none.
  absl::StatusOr<std::optional<CheckpointRow>> FindCheckpoint(std::string_view job_id,
                                                              int64_t step);
  absl::StatusOr<std::optional<std::string>> ReadCheckpointChunk(int64_t checkpoint_id, int chunk);

  // Job logs (store_logs.cc): each attempt's captured output, keyed by byte offset.
  // AppendLog stores the part of `data` (starting at `offset` of the attempt's output) that is
  // past what the attempt already stored, so a retried chunk is stored once; a gap before it is
  // output the worker dropped. Then it deletes the attempt's oldest bytes beyond `keep_bytes`.
  // Returns the offset the attempt's output is now stored up to. NotFound for an unknown job.
  absl::StatusOr<int64_t> AppendLog(std::string_view job_id, int attempt, int64_t offset,
                                    std::string_view data, int64_t keep_bytes);
  absl::StatusOr<LogExtent> ReadLogExtent(std::string_view job_id, int attempt);
  // Stored bytes at or after `from`, in order, in chunks totalling about `max_bytes` (at least
  // one chunk when there is any).
  absl::StatusOr<std::vector<LogChunkRow>> ReadLog(std::string_view job_id, int attempt,
                                                   int64_t from, int64_t max_bytes);
  // The attempt's last `max_bytes` stored bytes ("" when none).
  absl::StatusOr<std::string> ReadLogTail(std::string_view job_id, int attempt, int64_t max_bytes);
  // Whether the attempt has ended; nullopt when it was never started.
  absl::StatusOr<std::optional<bool>> AttemptEnded(std::string_view job_id, int attempt);

  // Workers.
  absl::Status UpsertWorker(const WorkerRow& worker);
  absl::Status TouchWorker(std::string_view worker_id, bool draining, int64_t now_unix_ms);
  absl::StatusOr<std::vector<WorkerRow>> LoadWorkers();

  // Sweeps.
  absl::StatusOr<bool> InsertSweepIfAbsent(const SweepRow& sweep);  // true when created
  absl::Status AddSweepJob(std::string_view sweep_id, int64_t job_seq);
  absl::StatusOr<std::optional<SweepRow>> FindSweep(std::string_view id);
  // Sweeps after the one with rowid `after_rowid`, oldest first; pairs of (rowid, sweep).
  absl::StatusOr<std::vector<std::pair<int64_t, SweepRow>>> ListSweeps(int64_t after_rowid,
                                                                       int limit);
  absl::StatusOr<std::vector<std::string>> SweepJobIds(std::string_view sweep_id);

  // Idempotency ledger.
  absl::StatusOr<std::optional<StoredResponse>> FindRequest(std::string_view request_id);
  absl::Status InsertRequest(std::string_view request_id, std::string_view fingerprint,
                             std::string_view response, int64_t now_unix_ms);

  // Fits (inserting an existing fit id again is a no-op: ids are content hashes).
  absl::Status InsertFit(const FitRow& fit);
  absl::StatusOr<std::optional<FitRow>> FindFit(std::string_view id);
  // The id of the sweep's most recent fit; nullopt when it has none.
  absl::StatusOr<std::optional<std::string>> LatestFitId(std::string_view sweep_id);

  // Dashboard reads (store_dashboard.cc). A job's attempts, oldest first; its latest `limit`
  // events, oldest first; a sweep's steps done (finished jobs count whole) over steps planned.
  absl::StatusOr<std::vector<AttemptRow>> ListAttempts(std::string_view job_id);
  absl::StatusOr<std::vector<EventRow>> ListEvents(std::string_view job_id, int limit);
  absl::StatusOr<SweepProgressRow> SweepProgress(std::string_view sweep_id);

 private:
  Store(std::unique_ptr<Db> db, const StoreOptions& options)
      : db_(std::move(db)), options_(options) {}
  absl::Status Migrate();
  absl::Status CheckVersion();
  absl::Status AdjustPointCounter(int64_t delta);
  absl::Status DeleteCheckpointRows(int64_t checkpoint_id);
  // Notes the blob files of a job's checkpoint rows about to be deleted (DeleteFinalJob).
  absl::Status NoteJobCheckpointFiles(int64_t job_seq);
  // Complete checkpoints kept per job for `job_seq` (its sweeps' retention or the default).
  absl::StatusOr<int> CheckpointsKept(int64_t job_seq);
  // The stored job's row, NotFound naming `field` and the id when there is none.
  absl::StatusOr<JobRow> RequireJob(std::string_view job_id, const char* field);
  absl::StatusOr<int64_t> PragmaInt(const char* pragma);
  absl::StatusOr<bool> HasStoredSteps(int64_t job_seq, int attempt,
                                      const std::vector<LossPoint>& points);
  // The reported points this attempt has not stored yet, in runs that no stored batch falls
  // inside, so every batch of an attempt covers a step range of its own.
  absl::StatusOr<std::vector<std::vector<LossPoint>>> FreshRuns(
      int64_t job_seq, int attempt, const std::vector<LossPoint>& points);
  // One loss_batches row holding `points` (non-empty, in step order).
  absl::Status InsertBatch(int64_t job_seq, int attempt, const std::vector<LossPoint>& points);
  // Deletes (or trims) an attempt's oldest log bytes until at most `keep_bytes` remain.
  absl::Status PruneLog(int64_t job_seq, int attempt, int64_t keep_bytes);
  // Marks every clean point with a larger step superseded.
  absl::Status SupersedePointsAfter(int64_t job_seq, int64_t step);

  // The cell columns of jobs (n_params, sparsity, tokens, structure, seed) from its spec; left
  // NULL when the bytes are not a JobSpec.
  absl::Status FillCellColumns(int64_t job_seq, const std::string& spec);
  // After migration 4: cell columns and curve rows of the jobs stored before it.
  absl::Status BackfillViews();
  // Adds the points of `points` (one job's new points, in step order) that job_curves keeps.
  absl::Status AddCurveRows(int64_t job_seq, const std::vector<LossPoint>& points);
  // Drops the job's job_curves rows after `step` (superseded points).
  absl::Status DropCurveRowsAfter(int64_t job_seq, int64_t step);

  std::unique_ptr<Db> db_;
  StoreOptions options_;
  std::optional<BlobDir> blobs_;  // options_.checkpoint_dir, when set
  // sha256 of blob-dir rows deleted since the last RemoveUnreferencedCheckpointFiles.
  std::vector<std::string> dropped_blobs_;
  // job_curves bookkeeping (writer connection only; forgotten on a rollback): per job, its id,
  // total steps and the eval bucket of the last eval row kept.
  struct CurveKey {
    std::string job_id;
    int64_t total_steps = 0;
    int64_t last_eval_bucket = -1;
  };
  std::unordered_map<int64_t, CurveKey> curve_keys_;
  int schema_version_ = 0;
  std::unordered_map<std::string, int64_t> job_seq_cache_;
};

}  // namespace sparsescale::store
