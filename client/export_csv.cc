#include "client/export_csv.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "spec/job_spec.h"
#include "spec/loss_point_codec.h"

namespace sparsescale::client {

namespace v1 = sparsescale::v1;

namespace {

// Shortest text that reads back as the same double.
std::string Num(double v) { return absl::StrFormat("%.17g", v); }

// A CSV field: ids and names are quoted only when they need it.
std::string Field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) {
    return s;
  }
  std::string quoted = "\"";
  for (char c : s) {
    quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  }
  return quoted + "\"";
}

}  // namespace

std::string PointsCsvHeader() {
  return absl::StrCat("job_id,sweep_id,", spec::LossPointCsvHeader(), "\n");
}

void AppendPointsCsv(const v1::Job& job, const std::vector<v1::LossPoint>& points,
                     std::string* out) {
  for (const v1::LossPoint& p : points) {
    absl::StrAppend(out, Field(job.id()), ",", Field(job.sweep_id()), ",",
                    spec::LossPointCsvRow(p), "\n");
  }
}

std::optional<SummaryRow> JobSummaryRow(const v1::Job& job) {
  if (job.state() != v1::JOB_STATE_SUCCEEDED || !job.has_last_eval_loss()) {
    return std::nullopt;
  }
  const v1::JobSpec& spec = job.spec();
  SummaryRow row;
  row.job_id = job.id();
  row.sweep_id = job.sweep_id();
  row.sparsity = spec.pruning().sparsity();
  if (spec.pruning().structure() == v1::SPARSITY_STRUCTURE_NM) {
    row.structure = "nm";
    row.n = spec.pruning().n();
    row.m = spec.pruning().m();
    if (row.sparsity == 0 && row.m > 0) {
      row.sparsity = 1.0 - static_cast<double>(row.n) / row.m;
    }
  } else {
    row.structure = row.sparsity == 0 ? "dense" : "unstructured";
  }
  double width = spec.model().width();
  row.nonzeros = std::round(12.0 * width * width * spec.model().layers() * (1.0 - row.sparsity));
  row.tokens = static_cast<double>(spec::TrainedTokens(spec));
  row.final_eval_loss = job.last_eval_loss();
  return row;
}

std::string SummaryCsv(const std::vector<v1::Job>& jobs) {
  std::string out = kSummaryCsvHeader;
  for (const v1::Job& job : jobs) {
    std::optional<SummaryRow> r = JobSummaryRow(job);
    if (!r.has_value()) {
      continue;
    }
    absl::StrAppend(&out, Field(r->job_id), ",", Field(r->sweep_id), ",", r->structure, ",", r->n,
                    ",", r->m, ",", Num(r->sparsity), ",", Num(r->nonzeros), ",", Num(r->tokens),
                    ",", Num(r->final_eval_loss), "\n");
  }
  return out;
}

}  // namespace sparsescale::client
