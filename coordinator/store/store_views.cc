// Store: what the SQL views of sql/0004_views.sql need beyond the core tables: the cell
// coordinates of each job as plain columns, and job_curves, each job's downsampled curve.
#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "coordinator/store/downsample.h"
#include "coordinator/store/store.h"
#include "sparsescale/v1/job.pb.h"

namespace sparsescale::store {
namespace {

std::string StructureWord(const v1::PruningSpec& pruning) {
  if (pruning.structure() == v1::SPARSITY_STRUCTURE_NM) {
    return absl::StrCat(pruning.n(), ":", pruning.m());
  }
  return "unstructured";
}

}  // namespace

absl::Status Store::FillCellColumns(int64_t job_seq, const std::string& spec_bytes) {
  v1::JobSpec spec;
  if (!spec.ParseFromString(spec_bytes)) {
    return absl::OkStatus();  // not a JobSpec (store tests store placeholders): columns NULL
  }
  const double sparsity = spec.pruning().sparsity();
  const double width = spec.model().width();
  const double n_params = std::round(12.0 * width * width * spec.model().layers() *
                                     (1.0 - sparsity));
  ASSIGN_OR_RETURN(Query q, db_->Prepare("UPDATE jobs SET n_params = ?, sparsity = ?, tokens = ?, "
                                         "structure = ?, seed = ? WHERE seq = ?"));
  q.Bind(1, static_cast<int64_t>(n_params)).Bind(2, sparsity).Bind(3, spec.data().tokens());
  q.Bind(4, StructureWord(spec.pruning())).Bind(5, static_cast<int64_t>(spec.seed()));
  return q.Bind(6, job_seq).Run();
}

void Store::MarkCurveStale(int64_t job_seq, bool at_once) {
  if (options_.curve_refresh_ms <= 0) {
    return;
  }
  bool& stale_at_once = curves_due_[job_seq];
  stale_at_once |= at_once;
}

void Store::RestoreRefreshedCurves() {
  for (int64_t seq : curves_refreshed_in_txn_) {
    curves_due_[seq] = true;
  }
  curves_refreshed_in_txn_.clear();
}

absl::Status Store::RefreshDueCurves(int64_t now_ms) {
  curves_refreshed_in_txn_.clear();  // the batch that refreshed them has committed
  std::vector<std::pair<int64_t, int64_t>> due;  // (last refresh, or 0 when at once; seq)
  for (const auto& [seq, at_once] : curves_due_) {
    auto last = curve_refreshed_ms_.find(seq);
    const int64_t refreshed_ms = last == curve_refreshed_ms_.end() ? 0 : last->second;
    if (at_once || refreshed_ms == 0 || now_ms - refreshed_ms >= options_.curve_refresh_ms) {
      due.emplace_back(at_once ? 0 : refreshed_ms, seq);
    }
  }
  if (due.size() > kCurveRefreshesPerCall) {
    std::partial_sort(due.begin(), due.begin() + kCurveRefreshesPerCall, due.end());
    due.resize(kCurveRefreshesPerCall);
  }
  for (const auto& [unused, seq] : due) {
    RETURN_IF_ERROR(RefreshCurve(seq));
    curves_due_.erase(seq);
    curve_refreshed_ms_[seq] = now_ms;
    curves_refreshed_in_txn_.push_back(seq);
  }
  return absl::OkStatus();
}

absl::Status Store::RefreshCurve(int64_t job_seq) {
  ASSIGN_OR_RETURN(Query id, db_->Prepare("SELECT id FROM jobs WHERE seq = ?"));
  id.Bind(1, job_seq);
  ASSIGN_OR_RETURN(const bool found, id.Step());
  if (!found) {
    return absl::OkStatus();  // deleted since it was marked
  }
  const std::string job_id = id.Text(0);
  ASSIGN_OR_RETURN(std::vector<LossPoint> points, ReadCurve(job_id));
  ASSIGN_OR_RETURN(Query clear, db_->Prepare("DELETE FROM job_curves WHERE job_id = ?"));
  RETURN_IF_ERROR(clear.Bind(1, job_id).Run());
  ASSIGN_OR_RETURN(Query insert,
                   db_->Prepare("INSERT INTO job_curves (job_id, step, tokens, train_loss, "
                                "eval_loss, sparsity, lr) VALUES (?, ?, ?, ?, ?, ?, ?)"));
  for (size_t i : DownsampleIndices(points, kCurveRows)) {
    const LossPoint& p = points[i];
    std::optional<double> eval;
    if (p.has_eval_loss()) {
      eval = p.eval_loss();
    }
    insert.Bind(1, job_id).Bind(2, p.step()).Bind(3, p.tokens()).Bind(4, p.train_loss());
    insert.Bind(5, eval).Bind(6, p.sparsity()).Bind(7, p.lr());
    RETURN_IF_ERROR(insert.Run());
    insert.Reset();
  }
  return absl::OkStatus();
}

absl::Status Store::BackfillViews() {
  ASSIGN_OR_RETURN(Query jobs, db_->Prepare("SELECT seq, spec FROM jobs ORDER BY seq"));
  std::vector<std::pair<int64_t, std::string>> rows;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, jobs.Step());
    if (!row) {
      break;
    }
    rows.emplace_back(jobs.Int(0), jobs.BlobBytes(1));
  }
  for (const auto& [seq, spec] : rows) {
    RETURN_IF_ERROR(FillCellColumns(seq, spec));
    RETURN_IF_ERROR(RefreshCurve(seq));
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::store
