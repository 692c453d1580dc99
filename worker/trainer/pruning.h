// Gradual magnitude pruning as in Frantar et al. 2024: the cubic schedule
// s(t) = S * (1 - (1 - p)^power) over [t_start, t_end], masks recomputed every update interval
// inside the window and exactly at t_end, layer-uniform top-|w| per tensor (unstructured) or
// gradual n:m, embeddings and head at their own target, never regrowing. Thread-compatible.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/ops.h"
#include "sparsescale/v1/job.pb.h"
#include "worker/trainer/gpt.h"

namespace sparsescale::trainer {

// s = target * (1 - (1 - p)^power), p clamped to [0, 1].
double CubicSparsity(double target, double progress, double power);

// The embedding/head target for body sparsity S: 1 - sqrt(1 - S), S, or 0.
double EmbeddingTarget(double body_target, sparsescale::v1::EmbeddingPruning mode);

// When masks change and to what sparsity, for a job of `total_steps` steps. Steps are counted
// as optimiser steps completed: the update "at t" runs right after step t.
class PruningSchedule {
 public:
  PruningSchedule(const sparsescale::v1::PruningSpec& spec, int64_t total_steps);

  bool enabled() const { return target_ > 0; }
  int64_t start_step() const { return start_; }
  int64_t end_step() const { return end_; }
  int64_t interval_steps() const { return interval_; }
  // True when the masks are recomputed after step t: t in [start, end] on the interval grid
  // counted from start, and always at t == end.
  bool IsUpdateStep(int64_t t) const;
  // Scheduled body sparsity at step t (continuous ramp).
  double BodySparsity(int64_t t) const;
  double EmbeddingSparsity(int64_t t) const;
  // Body sparsity of the masks in force after step t (that of the last update at or before t).
  double MaskSparsityAfter(int64_t t) const;
  // Last update step at or before t, or -1 when there is none.
  int64_t LastUpdateAtOrBefore(int64_t t) const;

 private:
  double Progress(int64_t t) const;
  double target_;
  double embedding_target_;
  double power_;
  int64_t start_;
  int64_t end_;
  int64_t interval_;
};

// keep = round(size * (1 - s)); for n:m never below size * n / m.
size_t KeepCount(size_t size, double sparsity);

// Recomputes every maskable tensor's mask for step t's scheduled sparsity and applies it to
// the weights and both AdamW moments (pruned weights never regrow: the new mask is also
// multiplied by the old one). `masks` has layout.num_mask() floats.
absl::Status UpdateMasks(kernels::Ops* ops, const ParamLayout& layout,
                         const sparsescale::v1::PruningSpec& spec, const PruningSchedule& schedule,
                         int64_t t, float* params, float* masks, float* m, float* v);

// Sparsity target of one tensor at step t under `spec` (0 for tensors that are not pruned).
double TensorSparsity(const ParamTensor& tensor, const PruningSchedule& schedule, int64_t t);

}  // namespace sparsescale::trainer
