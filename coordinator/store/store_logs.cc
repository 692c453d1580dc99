// Store: job logs, the captured stdout/stderr of each attempt (table job_logs, sql/0002).
#include <algorithm>

#include "common/status.h"
#include "coordinator/store/store.h"

namespace sparsescale::store {
namespace {

// The attempt's newest stored chunk end; 0 when nothing is stored.
absl::StatusOr<int64_t> StoredEnd(Db& db, int64_t job_seq, int attempt) {
  ASSIGN_OR_RETURN(Query q, db.Prepare("SELECT first_byte + length(data) FROM job_logs "
                                       "WHERE job_seq = ? AND attempt = ? "
                                       "ORDER BY first_byte DESC LIMIT 1"));
  q.Bind(1, job_seq).Bind(2, attempt);
  ASSIGN_OR_RETURN(const bool row, q.Step());
  return row ? q.Int(0) : 0;
}

absl::Status InsertLogRow(Db& db, int64_t job_seq, int attempt, int64_t offset,
                          std::string_view data) {
  ASSIGN_OR_RETURN(Query q, db.Prepare("INSERT INTO job_logs (job_seq, attempt, first_byte, data) "
                                       "VALUES (?, ?, ?, ?)"));
  return q.Bind(1, job_seq).Bind(2, attempt).Bind(3, offset).Bind(4, Blob{data}).Run();
}

}  // namespace

absl::StatusOr<int64_t> Store::AppendLog(std::string_view job_id, int attempt, int64_t offset,
                                         std::string_view data, int64_t keep_bytes) {
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(job_id));
  ASSIGN_OR_RETURN(const int64_t end, StoredEnd(*db_, seq, attempt));
  const int64_t data_end = offset + static_cast<int64_t>(data.size());
  if (data_end <= end) {
    return end;  // a retry of bytes already stored
  }
  const int64_t skip = std::max<int64_t>(0, end - offset);
  RETURN_IF_ERROR(InsertLogRow(*db_, seq, attempt, offset + skip, data.substr(skip)));
  RETURN_IF_ERROR(PruneLog(seq, attempt, keep_bytes));
  return data_end;
}

absl::Status Store::PruneLog(int64_t job_seq, int attempt, int64_t keep_bytes) {
  ASSIGN_OR_RETURN(Query total, db_->Prepare("SELECT COALESCE(SUM(length(data)), 0) FROM job_logs "
                                             "WHERE job_seq = ? AND attempt = ?"));
  total.Bind(1, job_seq).Bind(2, attempt);
  RETURN_IF_ERROR(total.Step().status());
  int64_t stored = total.Int(0);
  while (stored > keep_bytes) {
    ASSIGN_OR_RETURN(Query oldest, db_->Prepare("SELECT first_byte, data FROM job_logs "
                                                "WHERE job_seq = ? AND attempt = ? "
                                                "ORDER BY first_byte LIMIT 1"));
    oldest.Bind(1, job_seq).Bind(2, attempt);
    RETURN_IF_ERROR(oldest.Step().status());
    const int64_t first = oldest.Int(0);
    const std::string data = oldest.BlobBytes(1);
    oldest.Reset();
    ASSIGN_OR_RETURN(Query drop, db_->Prepare("DELETE FROM job_logs WHERE job_seq = ? AND "
                                              "attempt = ? AND first_byte = ?"));
    RETURN_IF_ERROR(drop.Bind(1, job_seq).Bind(2, attempt).Bind(3, first).Run());
    const int64_t excess = stored - keep_bytes;
    const auto size = static_cast<int64_t>(data.size());
    if (excess < size) {  // keep the newest part of the oldest row
      RETURN_IF_ERROR(InsertLogRow(*db_, job_seq, attempt, first + excess,
                                   std::string_view(data).substr(static_cast<size_t>(excess))));
    }
    stored -= std::min(excess, size);
  }
  return absl::OkStatus();
}

absl::StatusOr<LogExtent> Store::ReadLogExtent(std::string_view job_id, int attempt) {
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(job_id));
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT MIN(first_byte), MAX(first_byte + length(data)), "
                                         "COALESCE(SUM(length(data)), 0) FROM job_logs "
                                         "WHERE job_seq = ? AND attempt = ?"));
  q.Bind(1, seq).Bind(2, attempt);
  RETURN_IF_ERROR(q.Step().status());
  if (q.IsNull(0)) {
    return LogExtent{};
  }
  return LogExtent{.first = q.Int(0), .end = q.Int(1), .stored_bytes = q.Int(2)};
}

absl::StatusOr<std::vector<LogChunkRow>> Store::ReadLog(std::string_view job_id, int attempt,
                                                        int64_t from, int64_t max_bytes) {
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(job_id));
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT first_byte, data FROM job_logs "
                                         "WHERE job_seq = ? AND attempt = ? AND "
                                         "first_byte + length(data) > ? ORDER BY first_byte"));
  q.Bind(1, seq).Bind(2, attempt).Bind(3, from);
  std::vector<LogChunkRow> rows;
  int64_t total = 0;
  while (total < max_bytes || rows.empty()) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      break;
    }
    LogChunkRow chunk{.offset = q.Int(0), .data = q.BlobBytes(1)};
    if (chunk.offset < from) {
      chunk.data.erase(0, static_cast<size_t>(from - chunk.offset));
      chunk.offset = from;
    }
    total += static_cast<int64_t>(chunk.data.size());
    rows.push_back(std::move(chunk));
  }
  return rows;
}

absl::StatusOr<std::string> Store::ReadLogTail(std::string_view job_id, int attempt,
                                               int64_t max_bytes) {
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(job_id));
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT data FROM job_logs WHERE job_seq = ? AND "
                                         "attempt = ? ORDER BY first_byte DESC"));
  q.Bind(1, seq).Bind(2, attempt);
  std::string tail;
  while (static_cast<int64_t>(tail.size()) < max_bytes) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      break;
    }
    tail.insert(0, q.BlobBytes(0));
  }
  if (static_cast<int64_t>(tail.size()) > max_bytes) {
    tail.erase(0, tail.size() - static_cast<size_t>(max_bytes));
  }
  return tail;
}

absl::StatusOr<std::optional<bool>> Store::AttemptEnded(std::string_view job_id, int attempt) {
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(job_id));
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT ended_unix_ms IS NOT NULL FROM attempts "
                                         "WHERE job_seq = ? AND attempt = ?"));
  q.Bind(1, seq).Bind(2, attempt);
  ASSIGN_OR_RETURN(const bool row, q.Step());
  if (!row) {
    return std::nullopt;
  }
  return q.Int(0) != 0;
}

}  // namespace sparsescale::store
