// Conversions between the sparsescale.v1 messages and the store / scheduler types, and the one
// place where absl::Status becomes grpc::Status. Pure functions; thread-safe.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/scheduler/types.h"
#include "coordinator/store/records.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::coordinator {

grpc::Status ToGrpcStatus(const absl::Status& status);

store::PointRow PointFromProto(const sparsescale::v1::LossPoint& point);
sparsescale::v1::LossPoint PointToProto(const store::PointRow& row);

// The Job message of a stored row (DataLoss when the stored spec does not parse).
absl::StatusOr<sparsescale::v1::Job> JobToProto(const store::JobRow& row);
sparsescale::v1::CheckpointInfo CheckpointToProto(const store::CheckpointRow& row);

scheduler::WorkerResources ResourcesFromProto(const sparsescale::v1::Resources& resources);
sparsescale::v1::Resources ResourcesToProto(const scheduler::WorkerResources& resources);

// The scheduler's view of a stored job.
scheduler::JobInit JobInitFromRow(const store::JobRow& row);

// Store records for scheduler transitions.
store::GrantRecord GrantFromTransition(const scheduler::Transition& t);
store::AttemptEndRecord AttemptEndFromTransition(const scheduler::Transition& t);

std::string JobStateName(store::JobState state);

}  // namespace sparsescale::coordinator
