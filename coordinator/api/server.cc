#include "coordinator/api/server.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "coordinator/api/services.h"

namespace sparsescale::coordinator {

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    const ServerOptions& options) {
  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer());
  server->options_ = options;
  ASSIGN_OR_RETURN(server->core_, CoordinatorCore::Start(options.coordinator));
  server->worker_service_ = std::make_unique<WorkerServiceImpl>(server->core_.get());
  server->client_service_ = std::make_unique<ClientServiceImpl>(server->core_.get());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &server->port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.SetMaxSendMessageSize(64 << 20);
  builder.RegisterService(server->worker_service_.get());
  builder.RegisterService(server->client_service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  return server;
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
  if (core_ != nullptr) {
    core_->BeginShutdown();
  }
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + options_.shutdown_grace);
  }
}

void CoordinatorServer::Wait() { server_->Wait(); }

CoordinatorServer::~CoordinatorServer() {
  Shutdown();
  server_.reset();
  core_.reset();
}

}  // namespace sparsescale::coordinator
