// The api's own conversion: absl::Status -> grpc::Status (the one place it happens). Messages
// are converted by the core (coordinator/core/proto_convert.h); loss points need none (the store
// keeps v1::LossPoint). Pure functions; thread-safe.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace sparsescale::coordinator {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace sparsescale::coordinator
