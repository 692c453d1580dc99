// A gRPC server interceptor that times every call (first metadata in to status out) into the
// core's per-method latency histogram (sparsescale_rpc_seconds{method}).
// Thread-safety: the factory is shared by gRPC's threads; each interceptor serves one call.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "common/metrics.h"

namespace sparsescale::coordinator {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRpcTimingFactory(
    metrics::Family<metrics::Histogram>* histograms);

}  // namespace sparsescale::coordinator
