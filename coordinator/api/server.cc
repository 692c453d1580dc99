#include "coordinator/api/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <fstream>
#include <sstream>

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

// The whole file at `path`; InvalidArgument naming `flag` when it cannot be read.
absl::StatusOr<std::string> ReadPem(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path));
  }
  return text.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const TlsOptions& tls) {
  if (tls.cert_file.empty() && tls.key_file.empty()) {
    if (!tls.client_ca_file.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca: needs --tls-cert and --tls-key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key: give both or neither");
  }
  ASSIGN_OR_RETURN(std::string cert, ReadPem(tls.cert_file, "--tls-cert"));
  ASSIGN_OR_RETURN(std::string key, ReadPem(tls.key_file, "--tls-key"));
  // With a client CA, a client certificate is verified when one is sent (one from another CA
  // fails the handshake); clients without one still connect, and the Gatekeeper refuses their
  // worker calls.
  grpc::SslServerCredentialsOptions ssl(tls.client_ca_file.empty()
                                            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                            : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!tls.client_ca_file.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem(tls.client_ca_file, "--tls-client-ca"));
  }
  ssl.pem_key_cert_pairs.push_back({std::move(key), std::move(cert)});
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

bool IsLoopbackAddress(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

absl::Status CheckExposure(const ServerOptions& options) {
  const bool tls = !options.tls.cert_file.empty();
  // The dashboard serves HTTPS with the gRPC port's certificate when TLS is on: off loopback it
  // needs TLS and tokens, so that no one unnamed reads the cluster and no token crosses the
  // network in clear.
  if (!options.http_listen.empty() && !IsLoopbackAddress(options.http_listen) &&
      !(tls && options.auth.tokens) && !options.insecure) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--http-listen ", options.http_listen,
        " is not a loopback address: serving the dashboard there needs TLS (--tls-cert, "
        "--tls-key; it serves HTTPS with them) and tokens (--auth tokens); ",
        tls ? "" : "TLS is off; ", options.auth.tokens ? "" : "tokens are off; ",
        "--insecure serves it anyway"));
  }
  if (IsLoopbackAddress(options.listen) || options.insecure || (tls && options.auth.tokens)) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "--listen ", options.listen, " is not a loopback address: serving it needs TLS ",
      "(--tls-cert, --tls-key) and tokens (--auth tokens); ", tls ? "" : "TLS is off; ",
      options.auth.tokens ? "" : "tokens are off; ",
      "--insecure serves it anyway (anyone who reaches the port controls the cluster)"));
}

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    const ServerOptions& options) {
  RETURN_IF_ERROR(CheckExposure(options));
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, Credentials(options.tls));
  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer());
  server->options_ = options;
  server->options_.auth.worker_client_certs = !options.tls.client_ca_file.empty();
  ASSIGN_OR_RETURN(server->core_, CoordinatorCore::Start(options.coordinator));
  ASSIGN_OR_RETURN(server->gate_, Gatekeeper::Start(server->core_.get(), server->options_.auth));
  server->worker_service_ =
      std::make_unique<WorkerServiceImpl>(server->core_.get(), server->gate_.get());
  server->client_service_ =
      std::make_unique<ClientServiceImpl>(server->core_.get(), server->gate_.get());
  // Both are process-wide switches that a ServerBuilder reads when it is made: generic tools
  // (grpcurl, grpc_health_probe, any language's health client) need no copy of our protos.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &server->port_);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_streams_per_connection);
  // A stream may have 8 MiB in flight before the sender waits for a window update, so one
  // 4 MiB dataset chunk or checkpoint piece crosses without a round trip per 64 KiB.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8 << 20);
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
  // One certificate for both ports (it must name the dashboard's host too); HTTPS asks for no
  // client certificate, whatever --tls-client-ca says (browsers hold none).
  if (http.tls_cert_file.empty() && http.tls_key_file.empty()) {
    http.tls_cert_file = options_.tls.cert_file;
    http.tls_key_file = options_.tls.key_file;
  }
  ASSIGN_OR_RETURN(http_, http::HttpServer::Start(http, &dashboard_->router(), HttpAuthorizer()));
  LogInfo("%s on %s", http_->tls() ? "https" : "http", http_->address());
  return absl::OkStatus();
}

http::Authorizer CoordinatorServer::HttpAuthorizer() {
  if (options_.http_authorizer || !options_.auth.tokens) {
    return options_.http_authorizer;  // empty: allow all (tokens are off)
  }
  // The same tokens and roles as the gRPC services: GET routes need viewer, the refit submitter.
  return [gate = gate_.get(), core = core_.get()](const std::string& token, http::Role role) {
    const v1::Role needed = role == http::Role::kSubmitter ? v1::ROLE_SUBMITTER : v1::ROLE_VIEWER;
    return gate->registry().Authorize("Bearer " + token, needed, core->now_unix_ms()).status();
  };
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
  gate_.reset();
  core_.reset();
  http_.reset();  // after the core: no read of it can reply into a freed io_context
  dashboard_.reset();
}

}  // namespace sparsescale::coordinator
