#include "law/run_record.h"

#include <cmath>

#include "absl/strings/str_format.h"

namespace sparsescale::law {

bool IsNmStructured(const RunRecord& run) { return run.m > 0; }

namespace {

absl::Status FieldError(const RunRecord& run, const char* field, const char* problem,
                        double value) {
  return absl::InvalidArgumentError(
      absl::StrFormat("%s: field '%s' %s, got %g", run.label, field, problem, value));
}

absl::Status ValidateRun(const RunRecord& run) {
  if (!std::isfinite(run.sparsity) || run.sparsity < 0 || run.sparsity >= 1) {
    return FieldError(run, "sparsity", "must be in [0, 1)", run.sparsity);
  }
  if (!std::isfinite(run.nonzeros) || run.nonzeros <= 0) {
    return FieldError(run, "nonzeros", "must be finite and positive", run.nonzeros);
  }
  if (!std::isfinite(run.data) || run.data <= 0) {
    return FieldError(run, "data", "must be finite and positive", run.data);
  }
  if (!std::isfinite(run.loss) || run.loss <= 0) {
    return FieldError(run, "loss", "must be finite and positive", run.loss);
  }
  if (IsNmStructured(run) && (run.n <= 0 || run.n >= run.m)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: field 'n' must satisfy 0 < n < m for an n:m pattern, got %d:%d",
                        run.label, run.n, run.m));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRuns(const std::vector<RunRecord>& runs, int min_runs) {
  for (const RunRecord& run : runs) {
    if (absl::Status status = ValidateRun(run); !status.ok()) {
      return status;
    }
  }
  if (static_cast<int>(runs.size()) < min_runs) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%d runs are too few: the fit needs at least %d (one per free coefficient)",
                        runs.size(), min_runs));
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::law
