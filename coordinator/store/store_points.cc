// Store: loss points and the running point counter.
#include "common/status.h"
#include "coordinator/store/store.h"

namespace sparsescale::store {

absl::Status Store::AdjustPointCounter(int64_t delta) {
  if (delta == 0) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(Query q,
                   db_->Prepare("UPDATE counters SET loss_points = loss_points + ? WHERE id = 1"));
  return q.Bind(1, delta).Run();
}

absl::StatusOr<int64_t> Store::InsertPoints(std::string_view job_id, int attempt,
                                            const std::vector<PointRow>& points,
                                            int64_t now_unix_ms) {
  if (points.empty()) {
    return 0;
  }
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(job_id));
  int64_t inserted = 0;
  std::optional<double> last_eval;
  for (const PointRow& p : points) {
    ASSIGN_OR_RETURN(
        Query q,
        db_->Prepare("INSERT OR IGNORE INTO loss_points (job_seq, step, attempt, tokens, "
                     "train_loss, eval_loss, sparsity, lr, nonzeros_paper, nonzeros_exact, "
                     "flops_dense, flops_sparse, wall_s) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    q.Bind(1, seq).Bind(2, p.step).Bind(3, attempt).Bind(4, p.tokens).Bind(5, p.train_loss);
    q.Bind(6, p.eval_loss).Bind(7, p.sparsity).Bind(8, p.lr).Bind(9, p.nonzeros_paper);
    q.Bind(10, p.nonzeros_exact).Bind(11, p.flops_dense).Bind(12, p.flops_sparse);
    q.Bind(13, p.wall_s);
    RETURN_IF_ERROR(q.Run());
    inserted += db_->Changes();
    if (p.eval_loss.has_value()) {
      last_eval = p.eval_loss;
    }
  }
  RETURN_IF_ERROR(AdjustPointCounter(inserted));
  ASSIGN_OR_RETURN(Query job,
                   db_->Prepare("UPDATE jobs SET step = MAX(step, ?), last_train_loss = ?, "
                                "last_eval_loss = COALESCE(?, last_eval_loss), updated_unix_ms = ? "
                                "WHERE seq = ?"));
  job.Bind(1, points.back().step).Bind(2, points.back().train_loss).Bind(3, last_eval);
  RETURN_IF_ERROR(job.Bind(4, now_unix_ms).Bind(5, seq).Run());
  return inserted;
}

absl::StatusOr<std::vector<PointRow>> Store::ReadCurve(std::string_view job_id, int64_t after_step,
                                                       int limit) {
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(job_id));
  ASSIGN_OR_RETURN(
      Query q, db_->Prepare("SELECT step, tokens, train_loss, eval_loss, sparsity, lr, "
                            "nonzeros_paper, nonzeros_exact, flops_dense, flops_sparse, wall_s "
                            "FROM loss_points WHERE job_seq = ? AND step > ? AND superseded = 0 "
                            "ORDER BY step LIMIT ?"));
  q.Bind(1, seq).Bind(2, after_step).Bind(3, limit);
  std::vector<PointRow> points;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      return points;
    }
    PointRow& p = points.emplace_back();
    p.step = q.Int(0);
    p.tokens = q.Int(1);
    p.train_loss = q.Double(2);
    p.eval_loss = q.OptionalDouble(3);
    p.sparsity = q.Double(4);
    p.lr = q.Double(5);
    p.nonzeros_paper = q.Int(6);
    p.nonzeros_exact = q.Int(7);
    p.flops_dense = q.Double(8);
    p.flops_sparse = q.Double(9);
    p.wall_s = q.Double(10);
  }
}

absl::StatusOr<std::optional<PointRow>> Store::ReadLastPoint(std::string_view job_id) {
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(job_id));
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT MAX(step) FROM loss_points WHERE job_seq = ? "
                                         "AND superseded = 0"));
  q.Bind(1, seq);
  ASSIGN_OR_RETURN(const bool row, q.Step());
  if (!row || q.IsNull(0)) {
    return std::nullopt;
  }
  ASSIGN_OR_RETURN(std::vector<PointRow> last, ReadCurve(job_id, q.Int(0) - 1, 1));
  if (last.empty()) {
    return std::nullopt;
  }
  return last.front();
}

absl::StatusOr<int64_t> Store::CountCurvePoints(std::string_view job_id) {
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(job_id));
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT COUNT(*) FROM loss_points WHERE job_seq = ? "
                                         "AND superseded = 0"));
  q.Bind(1, seq);
  ASSIGN_OR_RETURN(const bool row, q.Step());
  return row ? q.Int(0) : 0;
}

absl::StatusOr<int64_t> Store::LossPointsStored() {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT loss_points FROM counters WHERE id = 1"));
  ASSIGN_OR_RETURN(const bool row, q.Step());
  return row ? q.Int(0) : 0;
}

}  // namespace sparsescale::store
