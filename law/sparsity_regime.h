// Whether a set of runs lies in the regime the sparse scaling law describes. The law's sparsity
// term only scales the capacity term, so at equal non-zeros and equal data it always ranks the
// sparser model lower; the paper's runs agree ("in every group of equal non-zeros and equal data,
// loss falls as sparsity rises"). Runs that disagree - typically small models or short budgets,
// where a pruned model has not recovered from its pruning - bend a fit and spoil its
// extrapolation, so a study reports them. Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "law/run_record.h"

namespace sparsescale::law {

// Two runs at the same D where `sparser` has the higher S and at least as many non-zeros as
// `denser` (and at most `nonzeros_ratio` times as many), yet the higher loss.
struct RegimeViolation {
  RunRecord denser;
  RunRecord sparser;
};

struct SparsityRegime {
  double nonzeros_ratio = 1.25;
  int pairs = 0;  // comparable pairs: same D, sparser with N_denser <= N <= ratio * N_denser
  std::vector<RegimeViolation> violations;  // largest relative loss excess first
};

// Compares every comparable pair among `runs` (dense and unstructured; n:m runs are skipped).
// The sparser run must have at least as many non-zeros as the denser one, so width rounding
// never makes a smaller sparse model count against the law. `nonzeros_ratio` >= 1.
SparsityRegime CheckSparsityRegime(const std::vector<RunRecord>& runs,
                                   double nonzeros_ratio = 1.25);

// "sparsity regime: in 51 of 51 comparable pairs ... the sparser run has the lower loss" and, when
// some do not, up to `max_listed` of them, worst first; "" when there are no comparable pairs.
std::string FormatSparsityRegime(const SparsityRegime& regime, int max_listed = 6);

}  // namespace sparsescale::law
