// Store: opening, schema migrations, and the jobs table.
#include "coordinator/store/store.h"
#include "coordinator/store/store_datasets.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "sql/migrations.h"

namespace sparsescale::store {
namespace {

constexpr const char* kJobColumns =
    "seq, id, sweep_id, spec, state, priority, attempt, max_attempts, infra_failures, "
    "job_failures, worker_id, step, total_steps, last_train_loss, last_eval_loss, "
    "final_eval_loss, error, last_failure, checkpoint_step, cancel_requested, device, gpus, "
    "memory_bytes, created_unix_ms, updated_unix_ms";

JobRow ReadJobRow(const Query& q) {
  JobRow job;
  job.seq = q.Int(0);
  job.id = q.Text(1);
  job.sweep_id = q.Text(2);
  job.spec = q.BlobBytes(3);
  job.state = static_cast<JobState>(q.Int(4));
  job.priority = static_cast<int>(q.Int(5));
  job.attempt = static_cast<int>(q.Int(6));
  job.max_attempts = static_cast<int>(q.Int(7));
  job.infra_failures = static_cast<int>(q.Int(8));
  job.job_failures = static_cast<int>(q.Int(9));
  job.worker_id = q.Text(10);
  job.step = q.Int(11);
  job.total_steps = q.Int(12);
  job.last_train_loss = q.Double(13);
  job.last_eval_loss = q.OptionalDouble(14);
  job.final_eval_loss = q.OptionalDouble(15);
  job.error = q.Text(16);
  job.last_failure = static_cast<FailureClass>(q.Int(17));
  job.checkpoint_step = q.Int(18);
  job.cancel_requested = q.Int(19) != 0;
  job.device = q.Text(20);
  job.gpus = static_cast<int>(q.Int(21));
  job.memory_bytes = q.Int(22);
  job.created_unix_ms = q.Int(23);
  job.updated_unix_ms = q.Int(24);
  return job;
}

absl::StatusOr<std::vector<JobRow>> CollectJobs(Query& q) {
  std::vector<JobRow> jobs;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      return jobs;
    }
    jobs.push_back(ReadJobRow(q));
  }
}

absl::Status NoSuchJob(std::string_view id) {
  return absl::NotFoundError(absl::StrCat("job ", std::string(id), " does not exist"));
}

// sql/0004_views.sql: the plain columns and job_curves that BackfillViews fills for old rows.
constexpr int kViewsSchemaVersion = 4;

}  // namespace

int Store::LatestSchemaVersion() { return sql::Migrations().back().version; }

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path,
                                                   const StoreOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Db> db, Db::Open(path, options.db));
  std::unique_ptr<Store> store(new Store(std::move(db), options));
  if (options.migrate) {
    RETURN_IF_ERROR(store->Migrate());
  } else {
    RETURN_IF_ERROR(store->CheckVersion());
  }
  if (!options.checkpoint_dir.empty()) {
    ASSIGN_OR_RETURN(BlobDir blobs, BlobDir::Open(options.checkpoint_dir));
    store->blobs_.emplace(std::move(blobs));
  }
  return store;
}

absl::Status Store::CheckVersion() {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT MAX(version) FROM schema_version"));
  ASSIGN_OR_RETURN(const bool row, q.Step());
  schema_version_ = row ? static_cast<int>(q.Int(0)) : 0;
  if (schema_version_ > LatestSchemaVersion()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database ", db_->path(), " has schema version ", schema_version_, ", newer than version ",
        LatestSchemaVersion(),
        " that this coordinator knows; refusing to open it (run a newer sparsescale-coordinator)"));
  }
  if (schema_version_ < LatestSchemaVersion() && !options_.migrate) {
    return absl::FailedPreconditionError(
        absl::StrCat("database ", db_->path(), " has schema version ", schema_version_,
                     ", older than ", LatestSchemaVersion(), "; open it for writing to migrate"));
  }
  return absl::OkStatus();
}

absl::Status Store::Migrate() {
  RETURN_IF_ERROR(
      db_->Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL PRIMARY KEY, "
                "name TEXT NOT NULL, applied_unix_ms INTEGER NOT NULL)"));
  RETURN_IF_ERROR(CheckVersion());
  for (const sql::Migration& migration : sql::Migrations()) {
    if (migration.version <= schema_version_) {
      continue;
    }
    ASSIGN_OR_RETURN(auto txn, Transaction::Begin(db_.get()));
    RETURN_IF_ERROR(db_->Exec(migration.sql));
    if (migration.version == kViewsSchemaVersion) {
      RETURN_IF_ERROR(BackfillViews());  // rows stored before the views' columns existed
    }
    ASSIGN_OR_RETURN(Query q,
                     db_->Prepare("INSERT INTO schema_version (version, name, applied_unix_ms) "
                                  "VALUES (?, ?, ?)"));
    const int64_t now_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
    q.Bind(1, migration.version).Bind(2, migration.name).Bind(3, now_unix_ms);
    RETURN_IF_ERROR(q.Run());
    RETURN_IF_ERROR(txn->Commit());
    schema_version_ = migration.version;
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Store::JobSeq(std::string_view job_id) {
  auto it = job_seq_cache_.find(std::string(job_id));
  if (it != job_seq_cache_.end()) {
    return it->second;
  }
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT seq FROM jobs WHERE id = ?"));
  q.Bind(1, job_id);
  ASSIGN_OR_RETURN(const bool row, q.Step());
  if (!row) {
    return NoSuchJob(job_id);
  }
  const int64_t seq = q.Int(0);
  // Only the writing connection caches: a deleted job's id can come back with a new seq, and
  // only the writer sees (and forgets on) every delete in order.
  if (options_.migrate) {
    job_seq_cache_.emplace(std::string(job_id), seq);
  }
  return seq;
}

absl::StatusOr<bool> Store::InsertJobIfAbsent(JobRow* job) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("INSERT INTO jobs (id, sweep_id, spec, state, priority, "
                                         "max_attempts, total_steps, device, gpus, memory_bytes, "
                                         "created_unix_ms, updated_unix_ms) "
                                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                                         "ON CONFLICT (id) DO NOTHING"));
  q.Bind(1, job->id).Bind(2, job->sweep_id).Bind(3, Blob{job->spec});
  q.Bind(4, static_cast<int>(job->state)).Bind(5, job->priority).Bind(6, job->max_attempts);
  q.Bind(7, job->total_steps).Bind(8, job->device).Bind(9, job->gpus);
  q.Bind(10, job->memory_bytes).Bind(11, job->created_unix_ms).Bind(12, job->updated_unix_ms);
  RETURN_IF_ERROR(q.Run());
  const bool created = db_->Changes() > 0;
  ASSIGN_OR_RETURN(job->seq, JobSeq(job->id));
  if (created) {
    RETURN_IF_ERROR(FillCellColumns(job->seq, job->spec));
    RETURN_IF_ERROR(RecordJobDataset(*this, job->seq, job->spec));
  }
  return created;
}

absl::StatusOr<std::optional<JobRow>> Store::FindJob(std::string_view id) {
  ASSIGN_OR_RETURN(Query q,
                   db_->Prepare(absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE id = ?")));
  q.Bind(1, id);
  ASSIGN_OR_RETURN(std::vector<JobRow> jobs, CollectJobs(q));
  if (jobs.empty()) {
    return std::nullopt;
  }
  return std::move(jobs.front());
}

absl::StatusOr<std::vector<JobRow>> Store::ListJobs(const JobFilter& filter, int64_t after_seq,
                                                    int limit) {
  // The state filter is a bit mask so one prepared statement serves every combination.
  int64_t state_mask = 0;
  for (JobState state : filter.states) {
    state_mask |= int64_t{1} << static_cast<int>(state);
  }
  const char* sql_by_sweep =
      "SELECT %s FROM jobs WHERE seq IN (SELECT job_seq FROM sweep_jobs WHERE sweep_id = ?1) "
      "AND seq > ?2 AND (?3 = 0 OR ((1 << state) & ?3) != 0) ORDER BY seq LIMIT ?4";
  const char* sql_all =
      "SELECT %s FROM jobs WHERE ?1 = '' "
      "AND seq > ?2 AND (?3 = 0 OR ((1 << state) & ?3) != 0) ORDER BY seq LIMIT ?4";
  std::string sql = filter.sweep_id.empty() ? sql_all : sql_by_sweep;
  sql.replace(sql.find("%s"), 2, kJobColumns);
  ASSIGN_OR_RETURN(Query q, db_->Prepare(sql));
  q.Bind(1, filter.sweep_id).Bind(2, after_seq).Bind(3, state_mask).Bind(4, limit);
  return CollectJobs(q);
}

absl::StatusOr<std::vector<JobRow>> Store::LoadActiveJobs() {
  return ListJobs(JobFilter{.sweep_id = "", .states = {JobState::kQueued, JobState::kRunning}}, 0,
                  -1);
}

absl::Status Store::RecordGrant(const GrantRecord& grant, int64_t now_unix_ms) {
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(grant.job_id));
  ASSIGN_OR_RETURN(Query job, db_->Prepare("UPDATE jobs SET state = ?, attempt = ?, "
                                           "worker_id = ?, updated_unix_ms = ? WHERE seq = ?"));
  job.Bind(1, static_cast<int>(JobState::kRunning)).Bind(2, grant.attempt);
  job.Bind(3, grant.worker_id).Bind(4, now_unix_ms).Bind(5, seq);
  RETURN_IF_ERROR(job.Run());
  ASSIGN_OR_RETURN(Query attempt,
                   db_->Prepare("INSERT INTO attempts (job_seq, attempt, worker_id, resume_step, "
                                "started_unix_ms) VALUES (?, ?, ?, ?, ?)"));
  attempt.Bind(1, seq).Bind(2, grant.attempt).Bind(3, grant.worker_id);
  attempt.Bind(4, grant.resume_step).Bind(5, now_unix_ms);
  // Grants are not events: the attempts table already records each one.
  return attempt.Run();
}

absl::Status Store::RecordAttemptEnd(const AttemptEndRecord& end, int64_t now_unix_ms) {
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(end.job_id));
  ASSIGN_OR_RETURN(
      Query job,
      db_->Prepare("UPDATE jobs SET state = ?1, worker_id = CASE WHEN ?1 = 1 THEN '' "
                   "ELSE worker_id END, infra_failures = ?2, job_failures = ?3, error = ?4, "
                   "last_failure = ?5, last_train_loss = COALESCE(?6, last_train_loss), "
                   "final_eval_loss = COALESCE(?7, final_eval_loss), updated_unix_ms = ?8 "
                   "WHERE seq = ?9"));
  job.Bind(1, static_cast<int>(end.state)).Bind(2, end.infra_failures).Bind(3, end.job_failures);
  job.Bind(4, end.error).Bind(5, static_cast<int>(end.failure)).Bind(6, end.final_train_loss);
  job.Bind(7, end.final_eval_loss).Bind(8, now_unix_ms).Bind(9, seq);
  RETURN_IF_ERROR(job.Run());
  ASSIGN_OR_RETURN(Query attempt,
                   db_->Prepare("UPDATE attempts SET ended_unix_ms = ?, outcome = ?, "
                                "failure = ?, error = ? WHERE job_seq = ? AND attempt = ?"));
  attempt.Bind(1, now_unix_ms).Bind(2, static_cast<int>(end.outcome));
  attempt.Bind(3, static_cast<int>(end.failure)).Bind(4, end.error).Bind(5, seq);
  RETURN_IF_ERROR(attempt.Bind(6, end.attempt).Run());
  if (end.state == JobState::kQueued && end.attempt > 0) {
    RETURN_IF_ERROR(SupersedePointsAfter(seq, end.checkpoint_step));
    ASSIGN_OR_RETURN(Query step, db_->Prepare("UPDATE jobs SET step = ? WHERE seq = ?"));
    RETURN_IF_ERROR(step.Bind(1, end.checkpoint_step).Bind(2, seq).Run());
  }
  if (end.state == JobState::kSucceeded) {
    return absl::OkStatus();  // the common case; the attempts row says it all
  }
  return AddEvent(end.job_id, StateWord(end.state),
                  absl::StrCat("attempt ", end.attempt, " outcome ", StateWord(end.outcome),
                               ", failure class ", static_cast<int>(end.failure), ": ", end.error),
                  now_unix_ms);
}

absl::Status Store::SetCancelRequested(std::string_view job_id, int64_t now_unix_ms) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("UPDATE jobs SET cancel_requested = 1, "
                                         "updated_unix_ms = ? WHERE id = ?"));
  RETURN_IF_ERROR(q.Bind(1, now_unix_ms).Bind(2, job_id).Run());
  return AddEvent(job_id, "cancel_requested", "", now_unix_ms);
}

absl::Status Store::RecordProgress(std::string_view job_id, int64_t step, int64_t now_unix_ms) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("UPDATE jobs SET step = MAX(step, ?), "
                                         "updated_unix_ms = ? WHERE id = ? AND state = 2"));
  return q.Bind(1, step).Bind(2, now_unix_ms).Bind(3, job_id).Run();
}

absl::StatusOr<StateCounts> Store::CountJobsByState(std::string_view sweep_id) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT state, COUNT(*) FROM jobs WHERE ?1 = '' OR seq IN "
                                         "(SELECT job_seq FROM sweep_jobs WHERE sweep_id = ?1) "
                                         "GROUP BY state ORDER BY state"));
  q.Bind(1, sweep_id);
  StateCounts counts;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      return counts;
    }
    counts[static_cast<JobState>(q.Int(0))] = q.Int(1);
  }
}

absl::Status Store::AddEvent(std::string_view job_id, std::string_view kind,
                             std::string_view detail, int64_t now_unix_ms) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("INSERT INTO events (unix_ms, job_id, kind, detail) "
                                         "VALUES (?, ?, ?, ?)"));
  return q.Bind(1, now_unix_ms).Bind(2, job_id).Bind(3, kind).Bind(4, detail).Run();
}

}  // namespace sparsescale::store
