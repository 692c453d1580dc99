// Store: loss points (one row per reported batch, points packed in the payload), superseding
// after a requeue, and the running point counter.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/status.h"
#include "coordinator/store/store.h"

namespace sparsescale::store {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the packed point format is little-endian; add byte swaps for this host");

// Payload format: per point, 11 little-endian 8-byte fields in this order. An absent eval loss
// is stored as NaN (reported losses are always finite).
constexpr size_t kPointBytes = 88;

template <typename T>
void Put(char*& out, T value) {
  std::memcpy(out, &value, sizeof value);
  out += sizeof value;
}

template <typename T>
T Get(const char*& in) {
  T value;
  std::memcpy(&value, in, sizeof value);
  in += sizeof value;
  return value;
}

std::string Pack(const std::vector<LossPoint>& points) {
  std::string payload(points.size() * kPointBytes, '\0');
  char* out = payload.data();
  for (const LossPoint& p : points) {
    Put(out, p.step());
    Put(out, p.tokens());
    Put(out, p.train_loss());
    Put(out, p.has_eval_loss() ? p.eval_loss() : std::numeric_limits<double>::quiet_NaN());
    Put(out, p.sparsity());
    Put(out, p.lr());
    Put(out, p.nonzeros_paper());
    Put(out, p.nonzeros_exact());
    Put(out, p.flops_dense());
    Put(out, p.flops_sparse());
    Put(out, p.wall_s());
  }
  return payload;
}

// Appends the points of `payload` with after_step < step <= through_step.
absl::Status Unpack(const std::string& payload, int64_t after_step, int64_t through_step,
                    std::vector<LossPoint>* points) {
  if (payload.size() % kPointBytes != 0) {
    return absl::DataLossError("stored loss point batch has a partial record");
  }
  for (const char* in = payload.data(); in < payload.data() + payload.size(); in += kPointBytes) {
    const char* field = in;
    const auto step = Get<int64_t>(field);
    if (step <= after_step || step > through_step) {
      continue;
    }
    LossPoint& p = points->emplace_back();
    p.set_step(step);
    p.set_tokens(Get<int64_t>(field));
    p.set_train_loss(Get<double>(field));
    if (const auto eval = Get<double>(field); !std::isnan(eval)) {
      p.set_eval_loss(eval);
    }
    p.set_sparsity(Get<double>(field));
    p.set_lr(Get<double>(field));
    p.set_nonzeros_paper(Get<int64_t>(field));
    p.set_nonzeros_exact(Get<int64_t>(field));
    p.set_flops_dense(Get<double>(field));
    p.set_flops_sparse(Get<double>(field));
    p.set_wall_s(Get<double>(field));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Store::AdjustPointCounter(int64_t delta) {
  if (delta == 0) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(Query q,
                   db_->Prepare("UPDATE counters SET loss_points = loss_points + ? WHERE id = 1"));
  return q.Bind(1, delta).Run();
}

absl::StatusOr<std::vector<std::vector<LossPoint>>> Store::FreshRuns(
    int64_t job_seq, int attempt, const std::vector<LossPoint>& points) {
  // Within one attempt steps only grow, so a step inside a stored batch's range was in that
  // batch: a retried report (perhaps batched differently) adds only what is new. The new points
  // are cut wherever a stored batch lies between two of them, which keeps the batches of an
  // attempt disjoint (HasStoredSteps relies on it).
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT first_step, last_step FROM loss_batches "
                                         "WHERE job_seq = ? AND attempt = ? AND first_step <= ? "
                                         "AND last_step >= ? ORDER BY first_step"));
  q.Bind(1, job_seq).Bind(2, attempt).Bind(3, points.back().step()).Bind(4, points.front().step());
  std::vector<std::pair<int64_t, int64_t>> ranges;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      break;
    }
    ranges.emplace_back(q.Int(0), q.Int(1));
  }
  std::vector<std::vector<LossPoint>> runs;
  const LossPoint* previous = nullptr;
  for (const LossPoint& p : points) {
    if (std::any_of(ranges.begin(), ranges.end(),
                    [&](const auto& r) { return p.step() >= r.first && p.step() <= r.second; })) {
      continue;
    }
    const bool cut =
        previous == nullptr || std::any_of(ranges.begin(), ranges.end(), [&](const auto& r) {
          return r.first > previous->step() && r.first < p.step();
        });
    if (cut) {
      runs.emplace_back();
    }
    runs.back().push_back(p);
    previous = &p;
  }
  return runs;
}

absl::StatusOr<bool> Store::HasStoredSteps(int64_t job_seq, int attempt,
                                           const std::vector<LossPoint>& points) {
  // The batches of one attempt are disjoint and in step order, so only the last one that starts
  // at or before the report's last step can reach back into it: one index probe, however long
  // the curve already is (scanning every earlier batch made each insert slower than the last).
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT last_step FROM loss_batches WHERE job_seq = ? "
                                         "AND attempt = ? AND first_step <= ? "
                                         "ORDER BY first_step DESC LIMIT 1"));
  q.Bind(1, job_seq).Bind(2, attempt).Bind(3, points.back().step());
  ASSIGN_OR_RETURN(const bool row, q.Step());
  return row && q.Int(0) >= points.front().step();
}

absl::StatusOr<int64_t> Store::InsertPoints(std::string_view job_id, int attempt,
                                            const std::vector<LossPoint>& reported,
                                            int64_t now_unix_ms) {
  if (reported.empty()) {
    return 0;
  }
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(job_id));
  // The usual report overlaps nothing stored and is stored as it is, without a copy.
  ASSIGN_OR_RETURN(const bool overlaps, HasStoredSteps(seq, attempt, reported));
  int64_t added = 0;
  if (!overlaps) {
    RETURN_IF_ERROR(InsertBatch(seq, attempt, reported));
    added = static_cast<int64_t>(reported.size());
  } else {
    ASSIGN_OR_RETURN(const auto runs, FreshRuns(seq, attempt, reported));
    for (const std::vector<LossPoint>& run : runs) {
      RETURN_IF_ERROR(InsertBatch(seq, attempt, run));
      added += static_cast<int64_t>(run.size());
    }
    if (added == 0) {
      return 0;
    }
  }
  RETURN_IF_ERROR(AdjustPointCounter(added));
  RETURN_IF_ERROR(AddCurveRows(seq, reported));
  // A retried report can end before the job's latest step: the job's last losses only move
  // forward (every right-hand side below sees the row as it was).
  std::optional<double> last_eval;
  for (const LossPoint& p : reported) {
    if (p.has_eval_loss()) {
      last_eval = p.eval_loss();
    }
  }
  ASSIGN_OR_RETURN(
      Query job,
      db_->Prepare("UPDATE jobs SET "
                   "last_train_loss = CASE WHEN ?1 >= step THEN ?2 ELSE last_train_loss END, "
                   "last_eval_loss = CASE WHEN ?1 >= step THEN COALESCE(?3, last_eval_loss) "
                   "ELSE last_eval_loss END, "
                   "step = MAX(step, ?1), updated_unix_ms = ?4 WHERE seq = ?5"));
  job.Bind(1, reported.back().step()).Bind(2, reported.back().train_loss()).Bind(3, last_eval);
  RETURN_IF_ERROR(job.Bind(4, now_unix_ms).Bind(5, seq).Run());
  return added;
}

absl::Status Store::InsertBatch(int64_t job_seq, int attempt,
                                const std::vector<LossPoint>& points) {
  ASSIGN_OR_RETURN(Query insert,
                   db_->Prepare("INSERT INTO loss_batches (job_seq, first_step, attempt, "
                                "last_step, valid_through_step, points, payload) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?)"));
  insert.Bind(1, job_seq).Bind(2, points.front().step()).Bind(3, attempt);
  insert.Bind(4, points.back().step()).Bind(5, std::numeric_limits<int64_t>::max());
  insert.Bind(6, static_cast<int64_t>(points.size()));
  const std::string payload = Pack(points);
  return insert.Bind(7, Blob{payload, /*copy=*/false}).Run();
}

absl::Status Store::SupersedePointsAfter(int64_t job_seq, int64_t step) {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT first_step, attempt, valid_through_step, payload "
                                         "FROM loss_batches WHERE job_seq = ? AND last_step > ? "
                                         "AND valid_through_step > ? ORDER BY first_step"));
  q.Bind(1, job_seq).Bind(2, step).Bind(3, step);
  std::vector<std::pair<int64_t, int64_t>> batches;  // (first_step, attempt)
  int64_t superseded = 0;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      break;
    }
    std::vector<LossPoint> dropped;
    RETURN_IF_ERROR(Unpack(q.BlobBytes(3), step, q.Int(2), &dropped));
    superseded += static_cast<int64_t>(dropped.size());
    batches.emplace_back(q.Int(0), q.Int(1));
  }
  for (const auto& [first_step, attempt] : batches) {
    ASSIGN_OR_RETURN(Query update,
                     db_->Prepare("UPDATE loss_batches SET valid_through_step = ? "
                                  "WHERE job_seq = ? AND first_step = ? AND attempt = ?"));
    update.Bind(1, step).Bind(2, job_seq).Bind(3, first_step).Bind(4, attempt);
    RETURN_IF_ERROR(update.Run());
  }
  RETURN_IF_ERROR(DropCurveRowsAfter(job_seq, step));
  return AdjustPointCounter(-superseded);
}

absl::StatusOr<std::vector<LossPoint>> Store::ReadCurve(std::string_view job_id, int64_t after_step,
                                                        int limit) {
  ASSIGN_OR_RETURN(const int64_t seq, JobSeq(job_id));
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT valid_through_step, payload FROM loss_batches "
                                         "WHERE job_seq = ? AND last_step > ? "
                                         "AND valid_through_step > ? ORDER BY first_step"));
  q.Bind(1, seq).Bind(2, after_step).Bind(3, after_step);
  std::vector<LossPoint> points;
  while (true) {
    ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) {
      break;
    }
    RETURN_IF_ERROR(Unpack(q.BlobBytes(1), after_step, q.Int(0), &points));
  }
  // Batches of one curve never share a step; they are in order unless a retry interleaved.
  auto by_step = [](const LossPoint& a, const LossPoint& b) { return a.step() < b.step(); };
  if (!std::is_sorted(points.begin(), points.end(), by_step)) {
    std::sort(points.begin(), points.end(), by_step);
  }
  if (limit >= 0 && points.size() > static_cast<size_t>(limit)) {
    points.resize(limit);
  }
  return points;
}

absl::StatusOr<std::optional<LossPoint>> Store::ReadLastPoint(std::string_view job_id) {
  ASSIGN_OR_RETURN(std::vector<LossPoint> curve, ReadCurve(job_id));
  if (curve.empty()) {
    return std::nullopt;
  }
  return curve.back();
}

absl::StatusOr<int64_t> Store::CountCurvePoints(std::string_view job_id) {
  ASSIGN_OR_RETURN(std::vector<LossPoint> curve, ReadCurve(job_id));
  return static_cast<int64_t>(curve.size());
}

absl::StatusOr<int64_t> Store::LossPointsStored() {
  ASSIGN_OR_RETURN(Query q, db_->Prepare("SELECT loss_points FROM counters WHERE id = 1"));
  ASSIGN_OR_RETURN(const bool row, q.Step());
  return row ? q.Int(0) : 0;
}

}  // namespace sparsescale::store
