// Conversions between the sparsescale.v1 messages and the store / scheduler types that the core
// needs to fill its answers and to reload its state, and the one place where the three
// definitions of a job's state and failure class meet (static_asserts in proto_convert.cc fail
// the build when they drift apart). Pure functions; thread-safe.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "coordinator/scheduler/types.h"
#include "coordinator/store/records.h"
#include "coordinator/store/store_health.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::coordinator {

// The Job message of a stored row (DataLoss when the stored spec does not parse).
absl::StatusOr<sparsescale::v1::Job> JobToProto(const store::JobRow& row);
sparsescale::v1::CheckpointInfo CheckpointToProto(const store::CheckpointRow& row);
sparsescale::v1::StoreHealth StoreHealthToProto(const store::StoreHealth& health);

scheduler::WorkerResources ResourcesFromProto(const sparsescale::v1::Resources& resources);
sparsescale::v1::Resources ResourcesToProto(const scheduler::WorkerResources& resources);

// The scheduler's view of a stored job.
scheduler::JobInit JobInitFromRow(const store::JobRow& row);
// A stored worker's resources, as the scheduler restores them.
scheduler::WorkerResources ResourcesFromRow(const store::WorkerRow& row);

// Store records for scheduler transitions.
store::GrantRecord GrantFromTransition(const scheduler::Transition& t);
store::AttemptEndRecord AttemptEndFromTransition(const scheduler::Transition& t);

// Job states and failure classes across the three definitions.
store::JobState StateFromProto(sparsescale::v1::JobState state);
sparsescale::v1::JobState StateToProto(store::JobState state);
scheduler::Failure FailureFromProto(sparsescale::v1::FailureClass failure);
// "JOB_STATE_RUNNING" and so on.
std::string JobStateName(store::JobState state);

}  // namespace sparsescale::coordinator
