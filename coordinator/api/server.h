// CoordinatorServer: the coordinator as one object - core (store, scheduler) plus the gRPC
// server with both services on one port, the optional HTTP server (dashboard, /metrics), plus grpc.health.v1 health (SERVING for "",
// "sparsescale.v1.ClientService" and "sparsescale.v1.WorkerService" once the store is open,
// NOT_SERVING from the start of Shutdown) and server reflection (grpc.reflection.v1alpha).
// Used by main.cc, the tests and the benchmarks.
// Thread-safety: Start/Shutdown from one thread; the running server is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "coordinator/api/gatekeeper.h"
#include "coordinator/core/core.h"
#include "coordinator/http/dashboard.h"
#include "coordinator/http/http_server.h"

namespace grpc {
class Server;
}

namespace sparsescale::coordinator {

class WorkerServiceImpl;
class ClientServiceImpl;

// TLS for the gRPC port (PEM files). Empty cert and key: plain text.
struct TlsOptions {
  std::string cert_file;       // --tls-cert: the server's certificate chain
  std::string key_file;        // --tls-key: its private key
  std::string client_ca_file;  // --tls-client-ca: verify client certificates against this CA;
                               // worker calls then need one (mutual TLS for workers)
};

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 picks a free port
  TlsOptions tls;
  AuthOptions auth;
  // Listen on a non-loopback address without TLS and tokens (--insecure).
  bool insecure = false;
  // Concurrent streams (calls) per HTTP/2 connection (GRPC_ARG_MAX_CONCURRENT_STREAMS).
  int max_streams_per_connection = 100;
  // The dashboard's HTTP server (docs/DASHBOARD.md): HOST:PORT, port 0 picks a free port;
  // empty: no HTTP server. http.listen is taken from here.
  std::string http_listen;
  http::HttpServerOptions http;
  http::DashboardOptions dashboard;
  // Asked for every HTTP request with its bearer token and the route's role. Empty: the
  // Gatekeeper's tokens when auth.tokens is on, else allow-all.
  http::Authorizer http_authorizer;
  int max_receive_message_bytes = 16 << 20;
  std::chrono::milliseconds shutdown_grace{2000};  // in-flight calls get this long to finish
  CoordinatorOptions coordinator;
};

// FailedPrecondition, saying what to add, when `options` would serve a non-loopback address
// without both TLS and tokens and `insecure` is not set.
absl::Status CheckExposure(const ServerOptions& options);
// Whether `listen` (host:port) names a loopback host: localhost, 127.x.y.z or ::1.
bool IsLoopbackAddress(const std::string& listen);

class CoordinatorServer {
 public:
  // Starts the core and the gRPC server. Errors: the database cannot be opened or is newer than
  // this binary (FailedPrecondition), a non-loopback address without TLS and tokens and without
  // `insecure` (FailedPrecondition), a TLS file that cannot be read (InvalidArgument naming the
  // flag), or the address cannot be bound (Unavailable).
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(const ServerOptions& options);
  // Shuts down (answers long-polls, lets in-flight calls finish within the grace).
  ~CoordinatorServer();
  void Shutdown();
  // Blocks until Shutdown() is called from another thread.
  void Wait();

  int port() const { return port_; }
  std::string address() const;
  // The HTTP server's port and HOST:PORT; 0 and "" when it is off.
  int http_port() const;
  std::string http_address() const;
  CoordinatorCore& core() { return *core_; }
  Gatekeeper& gatekeeper() { return *gate_; }

 private:
  CoordinatorServer() = default;
  // Starts the HTTP server when options_.http_listen names an address.
  absl::Status StartHttp();
  // Sets every health status this server reports (no-op before the server is built).
  void SetServing(bool serving);
  // options_.http_authorizer when given; else, with tokens on, the Gatekeeper's tokens and
  // roles (viewer for reads, submitter for the refit); else allow-all.
  http::Authorizer HttpAuthorizer();

  ServerOptions options_;
  std::unique_ptr<CoordinatorCore> core_;
  std::unique_ptr<Gatekeeper> gate_;  // after core_: destroyed before it
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  std::unique_ptr<ClientServiceImpl> client_service_;
  std::unique_ptr<grpc::Server> server_;
  // Destroyed after the core (declared before it is not enough: see ~CoordinatorServer), since
  // a read the core finishes late still replies through the HTTP server's io_context.
  std::unique_ptr<http::Dashboard> dashboard_;
  std::unique_ptr<http::HttpServer> http_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace sparsescale::coordinator
