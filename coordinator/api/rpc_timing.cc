#include "coordinator/api/rpc_timing.h"

#include <chrono>

namespace sparsescale::coordinator {

namespace {

namespace gx = grpc::experimental;

class RpcTiming : public gx::Interceptor {
 public:
  explicit RpcTiming(metrics::Histogram* histogram)
      : histogram_(histogram), start_(std::chrono::steady_clock::now()) {}

  void Intercept(gx::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_SEND_STATUS)) {
      histogram_->Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    methods->Proceed();
  }

 private:
  metrics::Histogram* const histogram_;
  const std::chrono::steady_clock::time_point start_;
};

class RpcTimingFactory : public gx::ServerInterceptorFactoryInterface {
 public:
  explicit RpcTimingFactory(metrics::Family<metrics::Histogram>* histograms)
      : histograms_(histograms) {}

  gx::Interceptor* CreateServerInterceptor(gx::ServerRpcInfo* info) override {
    return new RpcTiming(&histograms_->With({{"method", info->method()}}));
  }

 private:
  metrics::Family<metrics::Histogram>* const histograms_;
};

}  // namespace

std::unique_ptr<gx::ServerInterceptorFactoryInterface> NewRpcTimingFactory(
    metrics::Family<metrics::Histogram>* histograms) {
  return std::make_unique<RpcTimingFactory>(histograms);
}

}  // namespace sparsescale::coordinator
