// Store: what the SQL views of sql/0004_views.sql need beyond the core tables: the cell
// coordinates of each job as plain columns, and job_curves, each job's downsampled curve,
// kept as points arrive.
#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
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

namespace {

// Which points job_curves keeps, decided point by point as they arrive (no curve is read back):
// the first and the planned last step; a grid of about 3/4 of the row budget over the planned
// steps (past the planned end the grid coarsens by doubling, so the rows stay bounded); and the
// first eval point in each of about 1/4 of the budget's buckets.
int64_t GridStride(int64_t step, int64_t total_steps, int rows) {
  const int64_t grid = std::max<int64_t>(1, rows * 3 / 4);
  int64_t stride = std::max<int64_t>(1, (std::max<int64_t>(total_steps, 1) + grid - 1) / grid);
  while (step > stride * grid) {
    stride *= 2;
  }
  return stride;
}

int64_t EvalBucket(int64_t step, int64_t total_steps, int rows) {
  const int64_t buckets = std::max<int64_t>(1, rows / 4);
  const int64_t width =
      std::max<int64_t>(1, (std::max<int64_t>(total_steps, 1) + buckets - 1) / buckets);
  return step / width;
}

}  // namespace

absl::Status Store::AddCurveRows(int64_t job_seq, const std::vector<LossPoint>& points) {
  const int rows = options_.curve_rows;
  if (rows <= 0 || points.empty()) {
    return absl::OkStatus();
  }
  auto it = curve_keys_.find(job_seq);
  if (it == curve_keys_.end()) {
    ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT id, total_steps FROM jobs WHERE seq = ?"));
    q.Bind(1, job_seq);
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      return absl::OkStatus();
    }
    it = curve_keys_.emplace(job_seq, CurveKey{.job_id = q.Text(0), .total_steps = q.Int(1)})
             .first;
  }
  CurveKey& key = it->second;
  std::optional<Query> insert;
  for (const LossPoint& p : points) {
    const int64_t step = p.step();
    bool keep = step == 1 || step == key.total_steps ||
                step % GridStride(step, key.total_steps, rows) == 0;
    if (p.has_eval_loss()) {
      const int64_t bucket = EvalBucket(step, key.total_steps, rows);
      if (bucket != key.last_eval_bucket) {
        key.last_eval_bucket = bucket;
        keep = true;
      }
    }
    if (!keep) {
      continue;
    }
    if (!insert.has_value()) {
      absl::StatusOr<Query> prepared =
          db_->Prepare("INSERT OR REPLACE INTO job_curves (job_id, step, tokens, train_loss, "
                       "eval_loss, sparsity, lr) VALUES (?, ?, ?, ?, ?, ?, ?)");
      RETURN_IF_ERROR(prepared.status());
      insert.emplace(std::move(*prepared));
    }
    std::optional<double> eval;
    if (p.has_eval_loss()) {
      eval = p.eval_loss();
    }
    insert->Bind(1, key.job_id).Bind(2, step).Bind(3, p.tokens()).Bind(4, p.train_loss());
    insert->Bind(5, eval).Bind(6, p.sparsity()).Bind(7, p.lr());
    RETURN_IF_ERROR(insert->Run());
    insert->Reset();
  }
  return absl::OkStatus();
}

absl::Status Store::DropCurveRowsAfter(int64_t job_seq, int64_t step) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("DELETE FROM job_curves WHERE job_id = "
                                         "(SELECT id FROM jobs WHERE seq = ?) AND step > ?"));
  RETURN_IF_ERROR(q.Bind(1, job_seq).Bind(2, step).Run());
  curve_keys_.erase(job_seq);  // its eval buckets start over from the resume step
  return absl::OkStatus();
}

absl::Status Store::RebuildCurveRows(int64_t job_seq) {
  ASSIGN_OR_RETURN(Query id, db_->Prepare("SELECT id FROM jobs WHERE seq = ?"));
  id.Bind(1, job_seq);
  ASSIGN_OR_RETURN(const bool found, id.Step());
  if (!found) {
    return absl::OkStatus();
  }
  const std::string job_id = id.Text(0);
  id.Reset();
  ASSIGN_OR_RETURN(Query clear, db_->Prepare("DELETE FROM job_curves WHERE job_id = ?"));
  RETURN_IF_ERROR(clear.Bind(1, job_id).Run());
  curve_keys_.erase(job_seq);
  ASSIGN_OR_RETURN(std::vector<LossPoint> points, ReadCurve(job_id));
  return AddCurveRows(job_seq, points);
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
    RETURN_IF_ERROR(RebuildCurveRows(seq));
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::store
