// Store: the job lifecycle after the fact - retrying a final job, changing a queued job's
// priority, deleting final jobs and sweeps, and what deleting leaves for SQLite to reuse.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "coordinator/store/store.h"
#include "coordinator/store/store_datasets.h"

namespace sparsescale::store {
namespace {

// What deleting a job deletes: every row that belongs to it, by the job's seq (the one
// parameter). A new per-job table is one more line here. Checkpoint chunks hang off
// checkpoints and go first; the jobs row goes last.
constexpr const char* kJobDeletes[] = {
    "DELETE FROM checkpoint_chunks WHERE checkpoint_id IN "
    "(SELECT id FROM checkpoints WHERE job_seq = ?1)",
    "DELETE FROM checkpoints WHERE job_seq = ?1",
    "DELETE FROM loss_batches WHERE job_seq = ?1",
    "DELETE FROM job_logs WHERE job_seq = ?1",
    "DELETE FROM attempts WHERE job_seq = ?1",
    "DELETE FROM sweep_jobs WHERE job_seq = ?1",
    "DELETE FROM events WHERE job_id = (SELECT id FROM jobs WHERE seq = ?1)",
    "DELETE FROM job_curves WHERE job_id = (SELECT id FROM jobs WHERE seq = ?1)",
    "DELETE FROM jobs WHERE seq = ?1",
};

absl::Status WrongState(const JobRow& job, const char* field, const char* allowed) {
  return absl::FailedPreconditionError(
      absl::StrCat(field, ": job ", job.id, " is ", StateWord(job.state), "; ", allowed));
}

}  // namespace

absl::StatusOr<JobRow> Store::RequireJob(std::string_view job_id, const char* field) {
  ASSIGN_OR_RETURN(std::optional<JobRow> job, FindJob(job_id));
  if (!job.has_value()) {
    return absl::NotFoundError(
        absl::StrCat(field, ": job ", std::string(job_id), " does not exist"));
  }
  return std::move(*job);
}

absl::Status Store::Retryable(const JobRow& job) {
  if (job.state != JobState::kFailed && job.state != JobState::kCancelled) {
    return WrongState(job, "id", "only a failed or cancelled job can be retried");
  }
  return absl::OkStatus();
}

absl::StatusOr<JobRow> Store::RequeueFinalJob(std::string_view job_id, int64_t now_unix_ms) {
  ASSIGN_OR_RETURN(JobRow job, RequireJob(job_id, "id"));
  RETURN_IF_ERROR(Retryable(job));
  RETURN_IF_ERROR(RequireJobDataset(*this, job.seq, job.id));
  RETURN_IF_ERROR(SupersedePointsAfter(job.seq, job.checkpoint_step));
  ASSIGN_OR_RETURN(Query q, db_->Prepare("UPDATE jobs SET state = ?, infra_failures = 0, "
                                         "job_failures = 0, error = '', last_failure = 0, "
                                         "cancel_requested = 0, worker_id = '', step = ?, "
                                         "updated_unix_ms = ? WHERE seq = ?"));
  q.Bind(1, static_cast<int>(JobState::kQueued)).Bind(2, job.checkpoint_step);
  RETURN_IF_ERROR(q.Bind(3, now_unix_ms).Bind(4, job.seq).Run());
  RETURN_IF_ERROR(AddEvent(job.id, "retry",
                           absl::StrCat("was ", StateWord(job.state), "; resumes from step ",
                                        job.checkpoint_step, " after attempt ", job.attempt),
                           now_unix_ms));
  return RequireJob(job_id, "id");
}

absl::Status Store::SetQueuedJobPriority(std::string_view job_id, int priority,
                                         int64_t now_unix_ms) {
  ASSIGN_OR_RETURN(JobRow job, RequireJob(job_id, "id"));
  if (job.state != JobState::kQueued) {
    return WrongState(job, "id", "only a queued job's priority can change");
  }
  ASSIGN_OR_RETURN(Query q, db_->Prepare("UPDATE jobs SET priority = ?, updated_unix_ms = ? "
                                         "WHERE seq = ?"));
  RETURN_IF_ERROR(q.Bind(1, priority).Bind(2, now_unix_ms).Bind(3, job.seq).Run());
  return AddEvent(job.id, "priority", absl::StrCat(job.priority, " -> ", priority), now_unix_ms);
}

absl::Status Store::DeleteFinalJob(std::string_view job_id) {
  ASSIGN_OR_RETURN(JobRow job, RequireJob(job_id, "id"));
  if (!IsFinal(job.state)) {
    return WrongState(job, "id", "only a succeeded, failed or cancelled job can be deleted");
  }
  ASSIGN_OR_RETURN(const int64_t clean_points, CountCurvePoints(job.id));
  RETURN_IF_ERROR(AdjustPointCounter(-clean_points));
  RETURN_IF_ERROR(NoteJobCheckpointFiles(job.seq));  // removed after the commit
  for (const char* sql : kJobDeletes) {
    ASSIGN_OR_RETURN(Query q, db_->Prepare(sql));
    RETURN_IF_ERROR(q.Bind(1, job.seq).Run());
  }
  job_seq_cache_.erase(job.id);
  curve_keys_.erase(job.seq);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Store::DeleteFinalSweep(std::string_view sweep_id) {
  ASSIGN_OR_RETURN(std::optional<SweepRow> sweep, FindSweep(sweep_id));
  if (!sweep.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("id: sweep ", std::string(sweep_id), " does not exist"));
  }
  // Every job first, so a refusal deletes nothing.
  ASSIGN_OR_RETURN(std::vector<JobRow> jobs,
                   ListJobs(JobFilter{.sweep_id = std::string(sweep_id), .states = {}}, 0, -1));
  for (const JobRow& job : jobs) {
    if (!IsFinal(job.state)) {
      return WrongState(job, "id", "a sweep can be deleted once all its jobs are final");
    }
  }
  ASSIGN_OR_RETURN(Query unlink, db_->Prepare("DELETE FROM sweep_jobs WHERE sweep_id = ?"));
  RETURN_IF_ERROR(unlink.Bind(1, sweep_id).Run());
  std::vector<std::string> deleted;
  for (const JobRow& job : jobs) {
    ASSIGN_OR_RETURN(Query shared,
                     db_->Prepare("SELECT COUNT(*) FROM sweep_jobs WHERE job_seq = ?"));
    shared.Bind(1, job.seq);
    ASSIGN_OR_RETURN(const bool row, shared.Step());
    if (row && shared.Int(0) > 0) {
      continue;  // another sweep still asks for this cell
    }
    RETURN_IF_ERROR(DeleteFinalJob(job.id));
    deleted.push_back(job.id);
  }
  ASSIGN_OR_RETURN(Query q, db_->Prepare("DELETE FROM sweeps WHERE id = ?"));
  RETURN_IF_ERROR(q.Bind(1, sweep_id).Run());
  return deleted;
}

absl::StatusOr<int64_t> Store::PragmaInt(const char* pragma) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare(absl::StrCat("PRAGMA ", pragma)));
  ASSIGN_OR_RETURN(const bool row, q.Step());
  if (!row) {
    return absl::InternalError(absl::StrCat("PRAGMA ", pragma, " returned no row"));
  }
  return q.Int(0);
}

absl::StatusOr<int64_t> Store::FreePages() { return PragmaInt("freelist_count"); }

absl::StatusOr<int64_t> Store::PageCount() { return PragmaInt("page_count"); }

}  // namespace sparsescale::store
