// The api's own conversions: absl::Status -> grpc::Status (the one place it happens) and the
// loss points of a ReportPoints request into store rows before they reach the core. Everything
// else the core converts itself (coordinator/core/proto_convert.h). Pure functions; thread-safe.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "coordinator/store/records.h"
#include "sparsescale/v1/coordinator.pb.h"

namespace sparsescale::coordinator {

grpc::Status ToGrpcStatus(const absl::Status& status);

store::PointRow PointFromProto(const sparsescale::v1::LossPoint& point);

}  // namespace sparsescale::coordinator
