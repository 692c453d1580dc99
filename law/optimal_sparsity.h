// Training cost under gradual pruning and the compute-optimal sparsity it implies
// (Frantar et al. 2024). Pure functions of a law in paper form; thread-safe.
//
// Units: the law's D is in its own data unit; `tokens_per_data_unit` converts it to tokens for
// the compute C = 6 N D_tokens c_mul(S) (65,536 for T5 steps; 1 when D already counts tokens).
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "law/scaling_law.h"

namespace sparsescale::law {

// The gradual pruning window as fractions of training, and the ramp's power (cubic = 3).
struct PruningSchedule {
  double start_fraction = 0.25;
  double end_fraction = 0.75;
  double power = 3.0;
};

// "sparse": the hardware skips pruned weights; "dense": it computes them anyway.
enum class CostModel { kSparse, kDense };

struct CostOptions {
  CostModel model = CostModel::kSparse;
  PruningSchedule schedule;
  double tokens_per_data_unit = 1.0;
};

// Average fraction of prunable weights alive over training: 1 - S ((s1-s0) p/(p+1) + (1-s1)).
double AverageDensity(double sparsity, const PruningSchedule& schedule);

// c_mul(S): average density / (1 - S) under the sparse model, 1 / (1 - S) under the dense one.
double ComputeMultiplier(double sparsity, const CostOptions& options);

// Training compute C = 6 N D tokens_per_data_unit c_mul(S) of a run with N non-zeros.
double TrainingCompute(double sparsity, double nonzeros, double data, const CostOptions& options);

// Data D (in the law's unit) that compute C buys for a run with N non-zeros at sparsity S.
double DataForCompute(double sparsity, double nonzeros, double compute, const CostOptions& options);

// The dense model size N that minimises L(0, N, D(C)) for compute C (closed form).
double DenseOptimalNonzeros(const PaperCoeffs& law, double compute, const CostOptions& options);

// The compute C at which N is the dense compute-optimal size (inverse of DenseOptimalNonzeros).
double DenseOptimalCompute(const PaperCoeffs& law, double nonzeros, const CostOptions& options);

struct OptimalSparsity {
  double sparsity = 0;  // S_opt in [0, 1); exactly 0 when dense is optimal
  double loss = 0;      // L at S_opt
  double data = 0;      // D at S_opt (law's unit)
};

// S_opt(N, C) = argmin over S in [0, 1) of L(S, N, D(C)): a grid scan over u = -ln(1-S) followed
// by golden-section refinement. Returns InvalidArgument unless N and C are finite and positive.
absl::StatusOr<OptimalSparsity> FindOptimalSparsity(const PaperCoeffs& law, double nonzeros,
                                                    double compute, const CostOptions& options);

// S_opt over a grid: rows are `nonzeros`, columns `computes`.
struct ContourTable {
  std::vector<double> nonzeros, computes;
  std::vector<std::vector<double>> sparsity;  // [row][column]
};
absl::StatusOr<ContourTable> SparsityContourTable(const PaperCoeffs& law,
                                                  const std::vector<double>& nonzeros,
                                                  const std::vector<double>& computes,
                                                  const CostOptions& options);

// The smallest compute at which S_opt(N, C) reaches `level`, by bisection in log C (S_opt is
// non-decreasing in C). Returns NotFound if it is not reached within 1e12 x C*_dense(N).
absl::StatusOr<double> ComputeForSparsity(const PaperCoeffs& law, double nonzeros, double level,
                                          const CostOptions& options);

// `count` values spaced evenly in log between `low` and `high` (both included).
std::vector<double> LogSpace(double low, double high, int count);

}  // namespace sparsescale::law
