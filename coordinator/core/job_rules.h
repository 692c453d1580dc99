// What the coordinator derives from a JobSpec: the normalised spec and its content address,
// the resources it needs, and the server-side expansion of a sweep into cells. Pure functions
// over protobuf messages (no gRPC, no SQLite); thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/scheduler/types.h"
#include "sparsescale/v1/coordinator.pb.h"
#include "sparsescale/v1/job.pb.h"

namespace sparsescale::coordinator {

// A validated job ready to store.
struct PreparedJob {
  sparsescale::v1::JobSpec spec;  // normalised
  std::string id;                 // CanonicalJobSpecHash(spec)
  int64_t total_steps = 0;
  scheduler::Requirements requirements;
};

// Normalises and validates `spec`. InvalidArgument naming `field_prefix` + the field.
absl::StatusOr<PreparedJob> PrepareJob(const sparsescale::v1::JobSpec& spec,
                                       const std::string& field_prefix);

// Rough peak training memory in bytes: fp32 weights, gradients, two AdamW moments and masks
// (17 bytes per parameter) plus activations kept for the backward pass, for the whole job on
// its worker: every CPU rank (`processes`) holds its own replica of the weights and optimiser
// state while the batch, and so the activations, is split among them. Only used to keep a
// job off a worker that reports less memory; an estimate, not a promise.
int64_t EstimateMemoryBytes(const sparsescale::v1::JobSpec& spec);

// The width d with 12 d^2 layers (1 - S) closest to N, rounded to the nearest multiple of
// `multiple` (at least one multiple; ties round up).
int32_t WidthForNonzeros(int64_t nonzeros, double sparsity, int32_t layers, int32_t multiple);

// One sweep cell before preparation.
struct SweepCell {
  sparsescale::v1::JobSpec spec;
  std::string label;  // "N=..,S=..,D=..,unstructured,seed=.."
};

// Largest sweep accepted (cells before de-duplication).
inline constexpr int64_t kMaxSweepCells = 100'000;

// Expands base x axes: nonzeros x sparsities x tokens x structures x seeds, nested in that
// order. Empty axes keep the base value. Unstructured cells take S from `sparsities`; n:m cells
// fix S = 1 - n/m and ignore `sparsities`; width follows WidthForNonzeros (rounded to a
// multiple of heads, and of m for n:m cells). InvalidArgument naming the axis field.
absl::StatusOr<std::vector<SweepCell>> ExpandSweep(const sparsescale::v1::JobSpec& base,
                                                   const sparsescale::v1::SweepAxes& axes);

// Content address of a sweep: hash of the normalised base (name cleared) and axes.
std::string SweepId(const sparsescale::v1::JobSpec& base, const sparsescale::v1::SweepAxes& axes);

// Deterministic serialisation (map and field order fixed), for fingerprints and hashes.
std::string DeterministicBytes(const google::protobuf::Message& message);

}  // namespace sparsescale::coordinator
