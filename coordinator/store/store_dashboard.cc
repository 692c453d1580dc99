// Store: the reads behind the dashboard's job and sweep pages.
#include <algorithm>

#include "common/status.h"
#include "coordinator/store/store.h"

namespace sparsescale::store {

absl::StatusOr<std::optional<std::string>> Store::LatestFitId(std::string_view sweep_id) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT id FROM fits WHERE sweep_id = ? "
                                         "ORDER BY created_unix_ms DESC, id DESC LIMIT 1"));
  q.Bind(1, sweep_id);
  ASSIGN_OR_RETURN(const bool row, q.Step());
  if (!row) {
    return std::nullopt;
  }
  return q.Text(0);
}

absl::StatusOr<std::vector<AttemptRow>> Store::ListAttempts(std::string_view job_id) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT a.attempt, a.worker_id, a.started_unix_ms, "
                                         "a.ended_unix_ms, a.outcome, a.failure, a.error "
                                         "FROM attempts a JOIN jobs j ON j.seq = a.job_seq "
                                         "WHERE j.id = ? ORDER BY a.attempt"));
  q.Bind(1, job_id);
  std::vector<AttemptRow> rows;
  while (true) {
    ASSIGN_OR_RETURN(const bool more, q.Step());
    if (!more) {
      return rows;
    }
    AttemptRow row{.attempt = static_cast<int>(q.Int(0)),
                   .worker_id = q.Text(1),
                   .started_unix_ms = q.Int(2),
                   .ended_unix_ms = std::nullopt,
                   .outcome = static_cast<JobState>(q.Int(4)),
                   .failure = static_cast<FailureClass>(q.Int(5)),
                   .error = q.Text(6)};
    if (!q.IsNull(3)) {
      row.ended_unix_ms = q.Int(3);
    }
    rows.push_back(std::move(row));
  }
}

absl::StatusOr<std::vector<EventRow>> Store::ListEvents(std::string_view job_id, int limit) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT unix_ms, kind, detail FROM events "
                                         "WHERE job_id = ? ORDER BY id DESC LIMIT ?"));
  q.Bind(1, job_id).Bind(2, limit);
  std::vector<EventRow> rows;
  while (true) {
    ASSIGN_OR_RETURN(const bool more, q.Step());
    if (!more) {
      std::reverse(rows.begin(), rows.end());
      return rows;
    }
    rows.push_back(EventRow{.unix_ms = q.Int(0), .kind = q.Text(1), .detail = q.Text(2)});
  }
}

absl::StatusOr<SweepProgressRow> Store::SweepProgress(std::string_view sweep_id) {
  // A finished job counts as done whole: a failed or cancelled one will not run its remaining
  // steps, and the progress bar is about what is left to wait for.
  ASSIGN_OR_RETURN(Query q,
                   db_->Prepare("SELECT COALESCE(SUM(CASE WHEN j.state >= 3 THEN j.total_steps "
                                "ELSE MIN(j.step, j.total_steps) END), 0), "
                                "COALESCE(SUM(j.total_steps), 0) "
                                "FROM sweep_jobs s JOIN jobs j ON j.seq = s.job_seq "
                                "WHERE s.sweep_id = ?"));
  q.Bind(1, sweep_id);
  ASSIGN_OR_RETURN(const bool row, q.Step());
  if (!row) {
    return SweepProgressRow{};
  }
  return SweepProgressRow{.steps_done = q.Int(0), .steps_total = q.Int(1)};
}

}  // namespace sparsescale::store
