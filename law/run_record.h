// One training run as the fitter sees it, the set of runs read from one source, and their
// validation. Plain data; thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "law/scaling_law.h"

namespace sparsescale::law {

struct RunRecord {
  std::string label;                       // "line 12", "row 7" or "line 3 (job j-12)": for errors
  std::string job_id;                      // empty for the released data
  std::string sweep_id;                    // empty for the released data
  std::string structure = "unstructured";  // "dense", "unstructured" or "n:m"
  int n = 0, m = 0;                        // the n:m pattern; 0 when unstructured
  double sparsity = 0;                     // final sparsity S of the pruned tensors, in [0, 1)
  double nonzeros = 0;                     // N, non-zero parameters (convention: see RunSet)
  double data = 0;                         // D in RunSet::data_unit
  double loss = 0;                         // final validation loss
};

struct RunSet {
  std::string format;     // "t5-csv", "vit-json" or "sparsescale-csv"
  std::string data_unit;  // "steps", "images" or "tokens"
  Normalisation scales;   // the normalisation the fitter should use for these runs
  // Compute per data unit in tokens (65,536 for T5 steps), for cost models.
  double tokens_per_data_unit = 1;
  std::vector<RunRecord> runs;
};

// True when the run's mask follows an n:m pattern.
bool IsNmStructured(const RunRecord& run);

// Checks every run: S in [0, 1), N, D and loss finite and positive, n:m patterns with 0 < n < m.
// Returns InvalidArgument naming the run's label and the field at the first bad value, or when
// there are fewer than `min_runs` runs.
absl::Status ValidateRuns(const std::vector<RunRecord>& runs, int min_runs);

}  // namespace sparsescale::law
