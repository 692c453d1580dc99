// Store: checkpoints (staged upload, atomic commit, retention) and their payloads: chunks in
// SQLite, or files in the checkpoint blob directory (blob_dir.h).
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "coordinator/store/store.h"

namespace sparsescale::store {
namespace {

constexpr const char* kCheckpointColumns =
    "c.id, j.id, c.step, c.attempt, c.size_bytes, c.sha256, c.chunks, c.created_unix_ms, "
    "c.stored_in";

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
  row.stored_in = q.Int(8) == 1 ? CheckpointStorage::kBlobDir : CheckpointStorage::kSqlite;
  return row;
}

}  // namespace

absl::StatusOr<int64_t> Store::BeginCheckpoint(const CheckpointRow& meta, int64_t now_unix_ms) {
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(meta.job_id));
  if (blobs_.has_value()) {
    RETURN_IF_ERROR(blobs_->PathFor(meta.sha256).status());  // the name must be a sha256
  }
  ASSIGN_OR_RETURN(Query q, db_->Prepare("INSERT INTO checkpoints (job_seq, step, attempt, "
                                         "size_bytes, sha256, created_unix_ms, stored_in) "
                                         "VALUES (?, ?, ?, ?, ?, ?, ?)"));
  q.Bind(1, seq).Bind(2, meta.step).Bind(3, meta.attempt).Bind(4, meta.size_bytes);
  q.Bind(5, meta.sha256).Bind(6, now_unix_ms);
  RETURN_IF_ERROR(q.Bind(7, blobs_.has_value() ? 1 : 0).Run());
  const int64_t id = db_->LastInsertRowid();
  if (blobs_.has_value()) {
    blobs_->RemoveTmp(id);  // a leftover of an earlier upload that had this rowid
  }
  return id;
}

absl::Status Store::AppendCheckpointChunk(int64_t checkpoint_id, int chunk, std::string_view data) {
  if (blobs_.has_value()) {
    RETURN_IF_ERROR(blobs_->AppendTmp(checkpoint_id, chunk, data));
  } else {
    ASSIGN_OR_RETURN(Query q, db_->Prepare("INSERT INTO checkpoint_chunks (checkpoint_id, chunk, "
                                           "data) VALUES (?, ?, ?)"));
    RETURN_IF_ERROR(q.Bind(1, checkpoint_id).Bind(2, chunk).Bind(3, Blob{data}).Run());
  }
  ASSIGN_OR_RETURN(Query count, db_->Prepare("UPDATE checkpoints SET chunks = MAX(chunks, ?) "
                                             "WHERE id = ?"));
  return count.Bind(1, chunk + 1).Bind(2, checkpoint_id).Run();
}

absl::Status Store::DeleteCheckpointRows(int64_t checkpoint_id) {
  ASSIGN_OR_RETURN(Query blob, db_->Prepare("SELECT sha256 FROM checkpoints WHERE id = ? "
                                            "AND stored_in = 1 AND complete = 1"));
  blob.Bind(1, checkpoint_id);
  ASSIGN_OR_RETURN(const bool has_file, blob.Step());
  if (has_file) {
    dropped_blobs_.push_back(blob.Text(0));
  }
  ASSIGN_OR_RETURN(Query chunks,
                   db_->Prepare("DELETE FROM checkpoint_chunks WHERE checkpoint_id = ?"));
  RETURN_IF_ERROR(chunks.Bind(1, checkpoint_id).Run());
  ASSIGN_OR_RETURN(Query meta, db_->Prepare("DELETE FROM checkpoints WHERE id = ?"));
  return meta.Bind(1, checkpoint_id).Run();
}

absl::Status Store::CommitCheckpoint(int64_t checkpoint_id) {
  ASSIGN_OR_RETURN(Query find, db_->Prepare("SELECT job_seq, step, stored_in, sha256, size_bytes "
                                            "FROM checkpoints WHERE id = ?"));
  find.Bind(1, checkpoint_id);
  ASSIGN_OR_RETURN(const bool found, find.Step());
  if (!found) {
    return absl::NotFoundError(absl::StrCat("checkpoint upload ", checkpoint_id, " vanished"));
  }
  const int64_t job_seq = find.Int(0);
  const int64_t step = find.Int(1);
  if (find.Int(2) == 1) {
    if (!blobs_.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint upload ", checkpoint_id, " was staged for a --checkpoint-dir"));
    }
    // Durable under its final name before the row says so.
    RETURN_IF_ERROR(blobs_->Publish(checkpoint_id, find.Text(3), find.Int(4)));
  }
  ASSIGN_OR_RETURN(const int kept, CheckpointsKept(job_seq));
  // Older checkpoints of this job: the same step (replaced) and beyond the retention count.
  ASSIGN_OR_RETURN(Query doomed,
                   db_->Prepare("SELECT id FROM checkpoints WHERE job_seq = ?1 AND complete = 1 "
                                "AND (step = ?2 OR id NOT IN (SELECT id FROM checkpoints WHERE "
                                "job_seq = ?1 AND complete = 1 AND step != ?2 "
                                "ORDER BY step DESC LIMIT ?3)) ORDER BY id"));
  doomed.Bind(1, job_seq).Bind(2, step).Bind(3, kept - 1);
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
  if (blobs_.has_value()) {
    blobs_->RemoveTmp(checkpoint_id);
  }
  return DeleteCheckpointRows(checkpoint_id);
}

absl::StatusOr<int> Store::CheckpointsKept(int64_t job_seq) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT MAX(s.checkpoint_keep_last) FROM sweep_jobs sj "
                                         "JOIN sweeps s ON s.id = sj.sweep_id "
                                         "WHERE sj.job_seq = ?"));
  q.Bind(1, job_seq);
  ASSIGN_OR_RETURN(const bool row, q.Step());
  const int64_t sweep_kept = row ? q.Int(0) : 0;  // NULL (no sweep) reads as 0
  const int64_t kept = sweep_kept > 0 ? sweep_kept : options_.checkpoints_kept_per_job;
  return static_cast<int>(std::max<int64_t>(kept, 1));  // the newest always stays
}

absl::Status Store::NoteJobCheckpointFiles(int64_t job_seq) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT sha256 FROM checkpoints WHERE job_seq = ? "
                                         "AND stored_in = 1 AND complete = 1"));
  q.Bind(1, job_seq);
  while (true) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      return absl::OkStatus();
    }
    dropped_blobs_.push_back(q.Text(0));
  }
}

void Store::RemoveUnreferencedCheckpointFiles(bool committed) {
  std::vector<std::string> dropped;
  dropped.swap(dropped_blobs_);
  if (!committed || !blobs_.has_value() || dropped.empty()) {
    return;
  }
  auto q = db_->Prepare("SELECT 1 FROM checkpoints WHERE sha256 = ? AND stored_in = 1 LIMIT 1");
  if (!q.ok()) {
    LogWarning("checkpoint files not removed (left for the start-up sweep): %s",
               q.status().ToString().c_str());
    return;
  }
  for (const std::string& sha : std::set<std::string>(dropped.begin(), dropped.end())) {
    q->Reset();
    q->Bind(1, sha);
    absl::StatusOr<bool> referenced = q->Step();
    if (!referenced.ok() || *referenced) {
      continue;  // still used (dedupe, or a rolled-back delete); errors: the start-up sweep
    }
    absl::Status removed = blobs_->Remove(sha);
    if (!removed.ok()) {
      LogWarning("%s", removed.ToString().c_str());
    }
  }
}

absl::StatusOr<int64_t> Store::RemoveOrphanCheckpointFiles() {
  if (!blobs_.has_value()) {
    return 0;
  }
  // Every row with stored_in = 1 counts, staged ones too (their files are in tmp/ anyway).
  ASSIGN_OR_RETURN(Query q,
                   db_->Prepare("SELECT DISTINCT sha256 FROM checkpoints WHERE stored_in = 1"));
  std::set<std::string> referenced;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      break;
    }
    referenced.insert(q.Text(0));
  }
  return blobs_->RemoveOrphans(referenced);
}

absl::StatusOr<std::unique_ptr<BlobFile>> Store::OpenCheckpointFile(const CheckpointRow& row) {
  if (!blobs_.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint of job ", row.job_id, " at step ", row.step,
                     " is stored in a checkpoint directory, and this coordinator runs without "
                     "--checkpoint-dir"));
  }
  return blobs_->OpenVerified(row.sha256, row.size_bytes);
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
