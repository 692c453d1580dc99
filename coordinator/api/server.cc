#include "coordinator/api/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "coordinator/api/rpc_timing.h"
#include "coordinator/api/services.h"

namespace sparsescale::coordinator {

namespace {

// The services grpc.health.v1 answers for, besides "" (the whole server).
constexpr const char* kHealthServices[] = {"sparsescale.v1.ClientService",
                                           "sparsescale.v1.WorkerService"};

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    const ServerOptions& options) {
  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer());
  server->options_ = options;
  ASSIGN_OR_RETURN(server->core_, CoordinatorCore::Start(options.coordinator));
  server->worker_service_ = std::make_unique<WorkerServiceImpl>(server->core_.get());
  server->client_service_ = std::make_unique<ClientServiceImpl>(server->core_.get());
  // Both are process-wide switches that a ServerBuilder reads when it is made: generic tools
  // (grpcurl, grpc_health_probe, any language's health client) need no copy of our protos.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &server->port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.SetMaxSendMessageSize(64 << 20);
  builder.RegisterService(server->worker_service_.get());
  builder.RegisterService(server->client_service_.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> timing;
  timing.push_back(NewRpcTimingFactory(&server->core_->metrics().rpc_seconds));
  builder.experimental().SetInterceptorCreators(std::move(timing));
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  RETURN_IF_ERROR(server->StartHttp());
  // The store is open and migrated (the core started above): SERVING until Shutdown.
  server->SetServing(true);
  return server;
}

absl::Status CoordinatorServer::StartHttp() {
  if (options_.http_listen.empty()) {
    return absl::OkStatus();
  }
  dashboard_ = std::make_unique<http::Dashboard>(core_.get(), options_.dashboard);
  http::HttpServerOptions http = options_.http;
  http.listen = options_.http_listen;
  ASSIGN_OR_RETURN(http_, http::HttpServer::Start(http, &dashboard_->router(),
                                                  options_.http_authorizer));
  LogInfo("http on %s", http_->address());
  return absl::OkStatus();
}

int CoordinatorServer::http_port() const { return http_ == nullptr ? 0 : http_->port(); }

std::string CoordinatorServer::http_address() const {
  return http_ == nullptr ? std::string() : http_->address();
}

std::string CoordinatorServer::address() const {
  const std::string& listen = options_.listen;
  const size_t colon = listen.rfind(':');
  return absl::StrCat(colon == std::string::npos ? listen : listen.substr(0, colon), ":", port_);
}

void CoordinatorServer::Shutdown() {
  if (shut_down_) {
    return;
  }
  shut_down_ = true;
  // Health turns NOT_SERVING first, so that probes and load balancers stop sending work while
  // in-flight calls drain.
  SetServing(false);
  if (http_ != nullptr) {
    http_->Stop();  // closes event streams and idle connections; the object lives on (below)
  }
  if (core_ != nullptr) {
    core_->BeginShutdown();
  }
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + options_.shutdown_grace);
  }
}

void CoordinatorServer::SetServing(bool serving) {
  grpc::HealthCheckServiceInterface* health =
      server_ == nullptr ? nullptr : server_->GetHealthCheckService();
  if (health == nullptr) {
    return;
  }
  health->SetServingStatus(serving);
  for (const char* service : kHealthServices) {
    health->SetServingStatus(service, serving);
  }
}

void CoordinatorServer::Wait() { server_->Wait(); }

CoordinatorServer::~CoordinatorServer() {
  Shutdown();
  server_.reset();
  core_.reset();
  http_.reset();  // after the core: no read of it can reply into a freed io_context
  dashboard_.reset();
}

}  // namespace sparsescale::coordinator
