#include "worker/trainer/pruning.h"

#include <algorithm>
#include <cmath>

#include "common/status.h"

namespace sparsescale::trainer {

using sparsescale::v1::EmbeddingPruning;
using sparsescale::v1::PruningSpec;

double CubicSparsity(double target, double progress, double power) {
  const double p = std::clamp(progress, 0.0, 1.0);
  return target * (1.0 - std::pow(1.0 - p, power));
}

double EmbeddingTarget(double body_target, EmbeddingPruning mode) {
  switch (mode) {
    case sparsescale::v1::EMBEDDING_PRUNING_SAME:
      return body_target;
    case sparsescale::v1::EMBEDDING_PRUNING_NONE:
      return 0.0;
    default:
      return 1.0 - std::sqrt(1.0 - body_target);
  }
}

PruningSchedule::PruningSchedule(const PruningSpec& spec, int64_t total_steps)
    : target_(spec.sparsity()),
      embedding_target_(EmbeddingTarget(spec.sparsity(), spec.embedding())),
      power_(spec.power()) {
  const auto at = [total_steps](double fraction) {
    return std::clamp<int64_t>(std::llround(fraction * static_cast<double>(total_steps)), 0,
                               total_steps);
  };
  start_ = at(spec.start_fraction());
  end_ = std::max(start_, at(spec.end_fraction()));
  interval_ =
      std::clamp<int64_t>(spec.update_interval_steps(), 1, std::max<int64_t>(1, end_ - start_));
}

double PruningSchedule::Progress(int64_t t) const {
  if (end_ == start_) {
    return t >= end_ ? 1.0 : 0.0;
  }
  return static_cast<double>(t - start_) / static_cast<double>(end_ - start_);
}

bool PruningSchedule::IsUpdateStep(int64_t t) const {
  if (!enabled() || t < 1 || t < start_ || t > end_) {
    return false;
  }
  return t == end_ || (t - start_) % interval_ == 0;
}

double PruningSchedule::BodySparsity(int64_t t) const {
  return CubicSparsity(target_, Progress(t), power_);
}

double PruningSchedule::EmbeddingSparsity(int64_t t) const {
  return CubicSparsity(embedding_target_, Progress(t), power_);
}

int64_t PruningSchedule::LastUpdateAtOrBefore(int64_t t) const {
  if (!enabled() || t < start_ || t < 1) {
    return -1;
  }
  if (t >= end_) {
    return end_;
  }
  const int64_t last = start_ + (t - start_) / interval_ * interval_;
  return last >= 1 ? last : -1;
}

double PruningSchedule::MaskSparsityAfter(int64_t t) const {
  const int64_t last = LastUpdateAtOrBefore(t);
  return last < 0 ? 0.0 : BodySparsity(last);
}

size_t KeepCount(size_t size, double sparsity) {
  const double keep = std::round(static_cast<double>(size) * (1.0 - sparsity));
  return static_cast<size_t>(std::clamp(keep, 0.0, static_cast<double>(size)));
}

double TensorSparsity(const ParamTensor& tensor, const PruningSchedule& schedule, int64_t t) {
  switch (tensor.role) {
    case TensorRole::kBodyMatrix:
      return schedule.BodySparsity(t);
    case TensorRole::kTokenEmbedding:
    case TensorRole::kHead:
      return schedule.EmbeddingSparsity(t);
    default:
      return 0.0;
  }
}

namespace {

// New mask of one tensor into `scratch` (n:m for body matrices under n:m structure, and for the
// embedding and head when they share the body's target; magnitude otherwise).
absl::Status ComputeMask(kernels::Ops* ops, const ParamTensor& tensor, const PruningSpec& spec,
                         double sparsity, const float* w, float* scratch) {
  const bool nm_job = spec.structure() == sparsescale::v1::SPARSITY_STRUCTURE_NM;
  const bool nm_tensor = nm_job && (tensor.role == TensorRole::kBodyMatrix ||
                                    spec.embedding() == sparsescale::v1::EMBEDDING_PRUNING_SAME);
  if (!nm_tensor) {
    return ops->MagnitudeMask(scratch, w, tensor.size(), KeepCount(tensor.size(), sparsity));
  }
  const size_t floor_keep =
      tensor.size() / static_cast<size_t>(spec.m()) * static_cast<size_t>(spec.n());
  const size_t keep = std::max(floor_keep, KeepCount(tensor.size(), sparsity));
  return ops->NmMask(scratch, w, static_cast<int>(tensor.rows), static_cast<int>(tensor.cols),
                     spec.n(), spec.m(), keep);
}

}  // namespace

absl::Status UpdateMasks(kernels::Ops* ops, const ParamLayout& layout, const PruningSpec& spec,
                         const PruningSchedule& schedule, int64_t t, float* params, float* masks,
                         float* m, float* v) {
  size_t largest = 0;
  for (const ParamTensor& tensor : layout.tensors()) {
    largest = tensor.maskable ? std::max(largest, tensor.size()) : largest;
  }
  ASSIGN_OR_RETURN(auto scratch, ops->Allocate(largest * sizeof(float)));
  for (const ParamTensor& tensor : layout.tensors()) {
    const double sparsity = TensorSparsity(tensor, schedule, t);
    if (!tensor.maskable || sparsity <= 0) {
      continue;
    }
    float* w = params + tensor.offset;
    float* mask = masks + tensor.mask_offset;
    const size_t n = tensor.size();
    RETURN_IF_ERROR(ComputeMask(ops, tensor, spec, sparsity, w, scratch->f32()));
    // Never regrow: a weight pruned earlier stays pruned even if it wins a tie at zero.
    RETURN_IF_ERROR(ops->ApplyMask(mask, scratch->f32(), n));
    RETURN_IF_ERROR(ops->ApplyMask(w, mask, n));
    RETURN_IF_ERROR(ops->ApplyMask(m + tensor.offset, mask, n));
    RETURN_IF_ERROR(ops->ApplyMask(v + tensor.offset, mask, n));
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::trainer
