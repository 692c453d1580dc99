// Store: checkpoints (staged upload, atomic commit, retention) and their chunked payloads.
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "coordinator/store/store.h"

namespace sparsescale::store {
namespace {

constexpr const char* kCheckpointColumns =
    "c.id, j.id, c.step, c.attempt, c.size_bytes, c.sha256, c.chunks, c.created_unix_ms";

CheckpointRow ReadCheckpointRow(const Query& q) {
  CheckpointRow row;
  row.id = q.Int(0);
  row.job_id = q.Text(1);
  row.step = q.Int(2);
  row.attempt = static_cast<int>(q.Int(3));
  row.size_bytes = q.Int(4);
  row.sha256 = q.Text(5);
  row.chunks = static_cast<int>(q.Int(6));
  row.created_unix_ms = q.Int(7);
  return row;
}

}  // namespace

absl::StatusOr<int64_t> Store::BeginCheckpoint(const CheckpointRow& meta, int64_t now_unix_ms) {
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(meta.job_id));
  ASSIGN_OR_RETURN(Query q, db_->Prepare("INSERT INTO checkpoints (job_seq, step, attempt, "
                                         "size_bytes, sha256, created_unix_ms) "
                                         "VALUES (?, ?, ?, ?, ?, ?)"));
  q.Bind(1, seq).Bind(2, meta.step).Bind(3, meta.attempt).Bind(4, meta.size_bytes);
  RETURN_IF_ERROR(q.Bind(5, meta.sha256).Bind(6, now_unix_ms).Run());
  return db_->LastInsertRowid();
}

absl::Status Store::AppendCheckpointChunk(int64_t checkpoint_id, int chunk, std::string_view data) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("INSERT INTO checkpoint_chunks (checkpoint_id, chunk, "
                                         "data) VALUES (?, ?, ?)"));
  RETURN_IF_ERROR(q.Bind(1, checkpoint_id).Bind(2, chunk).Bind(3, Blob{data}).Run());
  ASSIGN_OR_RETURN(Query count, db_->Prepare("UPDATE checkpoints SET chunks = MAX(chunks, ?) "
                                             "WHERE id = ?"));
  return count.Bind(1, chunk + 1).Bind(2, checkpoint_id).Run();
}

absl::Status Store::DeleteCheckpointRows(int64_t checkpoint_id) {
  ASSIGN_OR_RETURN(Query chunks,
                   db_->Prepare("DELETE FROM checkpoint_chunks WHERE checkpoint_id = ?"));
  RETURN_IF_ERROR(chunks.Bind(1, checkpoint_id).Run());
  ASSIGN_OR_RETURN(Query meta, db_->Prepare("DELETE FROM checkpoints WHERE id = ?"));
  return meta.Bind(1, checkpoint_id).Run();
}

absl::Status Store::CommitCheckpoint(int64_t checkpoint_id) {
  ASSIGN_OR_RETURN(Query find, db_->Prepare("SELECT job_seq, step FROM checkpoints WHERE id = ?"));
  find.Bind(1, checkpoint_id);
  ASSIGN_OR_RETURN(const bool found, find.Step());
  if (!found) {
    return absl::NotFoundError(absl::StrCat("checkpoint upload ", checkpoint_id, " vanished"));
  }
  const int64_t job_seq = find.Int(0);
  const int64_t step = find.Int(1);
  // Older checkpoints of this job: the same step (replaced) and beyond the retention count.
  ASSIGN_OR_RETURN(Query doomed,
                   db_->Prepare("SELECT id FROM checkpoints WHERE job_seq = ?1 AND complete = 1 "
                                "AND (step = ?2 OR id NOT IN (SELECT id FROM checkpoints WHERE "
                                "job_seq = ?1 AND complete = 1 AND step != ?2 "
                                "ORDER BY step DESC LIMIT ?3)) ORDER BY id"));
  doomed.Bind(1, job_seq).Bind(2, step).Bind(3, options_.checkpoints_kept_per_job - 1);
  std::vector<int64_t> ids;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, doomed.Step());
    if (!row) {
      break;
    }
    ids.push_back(doomed.Int(0));
  }
  for (int64_t id : ids) {
    RETURN_IF_ERROR(DeleteCheckpointRows(id));
  }
  ASSIGN_OR_RETURN(Query done, db_->Prepare("UPDATE checkpoints SET complete = 1 WHERE id = ?"));
  RETURN_IF_ERROR(done.Bind(1, checkpoint_id).Run());
  ASSIGN_OR_RETURN(Query job, db_->Prepare("UPDATE jobs SET checkpoint_step = ? WHERE seq = ?"));
  return job.Bind(1, step).Bind(2, job_seq).Run();
}

absl::Status Store::AbortCheckpoint(int64_t checkpoint_id) {
  return DeleteCheckpointRows(checkpoint_id);
}

absl::Status Store::DeleteIncompleteCheckpoints() {
  RETURN_IF_ERROR(
      db_->Exec("DELETE FROM checkpoint_chunks WHERE checkpoint_id IN "
                "(SELECT id FROM checkpoints WHERE complete = 0); "
                "DELETE FROM checkpoints WHERE complete = 0;"));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<CheckpointRow>> Store::ListCheckpoints(std::string_view job_id) {
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(job_id));
  ASSIGN_OR_RETURN(Query q, db_->Prepare(absl::StrCat(
                                "SELECT ", kCheckpointColumns,
                                " FROM checkpoints c JOIN jobs j ON j.seq = c.job_seq "
                                "WHERE c.job_seq = ? AND c.complete = 1 ORDER BY c.step")));
  q.Bind(1, seq);
  std::vector<CheckpointRow> rows;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      return rows;
    }
    rows.push_back(ReadCheckpointRow(q));
  }
}

absl::StatusOr<std::optional<CheckpointRow>> Store::FindCheckpoint(std::string_view job_id,
                                                                   int64_t step) {
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(job_id));
  ASSIGN_OR_RETURN(Query q, db_->Prepare(absl::StrCat(
                                "SELECT ", kCheckpointColumns,
                                " FROM checkpoints c JOIN jobs j ON j.seq = c.job_seq "
                                "WHERE c.job_seq = ? AND c.complete = 1 AND (? = 0 OR c.step = ?) "
                                "ORDER BY c.step DESC LIMIT 1")));
  q.Bind(1, seq).Bind(2, step).Bind(3, step);
  ASSIGN_OR_RETURN(const bool row, q.Step());
  if (!row) {
    return std::nullopt;
  }
  return ReadCheckpointRow(q);
}

absl::StatusOr<std::optional<std::string>> Store::ReadCheckpointChunk(int64_t checkpoint_id,
                                                                      int chunk) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT data FROM checkpoint_chunks "
                                         "WHERE checkpoint_id = ? AND chunk = ?"));
  q.Bind(1, checkpoint_id).Bind(2, chunk);
  ASSIGN_OR_RETURN(const bool row, q.Step());
  if (!row) {
    return std::nullopt;
  }
  return q.BlobBytes(0);
}

}  // namespace sparsescale::store
