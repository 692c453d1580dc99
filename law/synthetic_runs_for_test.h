// Test helper: runs drawn from a known law on a sweep grid, with seeded multiplicative noise.
// Header-only; used by tests only.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "common/split_mix.h"
#include "law/run_record.h"
#include "law/scaling_law.h"

namespace sparsescale::law::testing {

// 6 sizes (1e6 to 3e8) x 4 sparsities x 5 data budgets (0.1 to 10 d_scale) = 120 runs with loss *
// (1 + noise * u), u uniform in
// [-sqrt(3), sqrt(3)] (unit variance), so `noise` is the relative standard deviation.
inline std::vector<RunRecord> SyntheticRuns(const NormCoeffs& law, const Normalisation& scales,
                                            double noise, uint64_t seed,
                                            const std::vector<double>& sparsities = {0, 0.5, 0.75,
                                                                                     0.875}) {
  SplitMix64 rng(seed);
  std::vector<RunRecord> runs;
  for (double n : {1e6, 3e6, 1e7, 3e7, 1e8, 3e8}) {
    for (double s : sparsities) {
      for (double d : {0.1, 0.3, 1.0, 3.0, 10.0}) {
        RunRecord run;
        run.label = "synthetic " + std::to_string(runs.size());
        run.structure = s == 0 ? "dense" : "unstructured";
        run.sparsity = s;
        run.nonzeros = n;
        run.data = d * scales.d_scale;
        const double u = (2 * rng.Uniform() - 1) * std::sqrt(3.0);
        run.loss = PredictLoss(law, scales, s, n, run.data) * (1 + noise * u);
        runs.push_back(run);
      }
    }
  }
  return runs;
}

}  // namespace sparsescale::law::testing
