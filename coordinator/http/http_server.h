// HttpServer: the coordinator's HTTP/1.1 server (the dashboard, /metrics, /healthz) on
// Boost.Beast over Asio, with threads of its own so that no request waits on the gRPC server or
// the core's state thread.
//
// Each connection is a session on a strand: keep-alive, at most one request in flight, limits
// on the header and body sizes, a deadline for reading a request (idle keep-alive included) and
// for writing a response. A request goes to the Router; an unknown path answers 404 and a known
// path with another method 405 (with Allow), both as the contract's JSON error. Before the
// handler runs, the Authorizer is asked with the request's bearer token and the route's role:
// Unauthenticated answers 401, PermissionDenied 403. The default allows everything.
//
// HTTPS: with a certificate and key every connection is TLS (OpenSSL through asio::ssl; TLS 1.2
// or later). The session first looks at the opening bytes: a TLS ClientHello goes on to the
// handshake, anything else (plain HTTP to the HTTPS port) is answered 400 in plain text and
// closed, with a warning in the log naming the peer. A failed handshake (the client does not
// trust the certificate, speaks an old protocol) is logged with OpenSSL's reason and closes
// that connection only. Client certificates are not asked for (browsers hold none).
//
// Thread-safety: Start and Stop from one thread; handlers run on the server's threads and may
// reply from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/http/router.h"

namespace sparsescale::coordinator::http {

// Decides whether a request may use a route: `bearer_token` is what follows "Bearer " in the
// Authorization header ("" when there is none). OK to allow; Unauthenticated or
// PermissionDenied to refuse. Called on a server thread; must not block.
using Authorizer = std::function<absl::Status(const std::string& bearer_token, Role role)>;

// Allows every request.
Authorizer AllowAll();

struct HttpServerOptions {
  std::string listen;  // HOST:PORT; port 0 picks a free port
  int threads = 2;
  int64_t max_header_bytes = 16 << 10;
  int64_t max_body_bytes = 1 << 20;
  int max_connections = 256;  // beyond this, new connections are closed at once
  std::chrono::milliseconds read_timeout{60'000};    // a whole request, idle time included
  std::chrono::milliseconds write_timeout{300'000};  // a whole response (checkpoints are large)
  // HTTPS: the certificate chain and its private key (PEM files; the coordinator passes its
  // --tls-cert and --tls-key). Both empty: plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class HttpServer {
 public:
  // Binds and starts serving. InvalidArgument for a malformed `listen`, for only one of the TLS
  // files, or for a certificate or key that cannot be loaded (naming --tls-cert or --tls-key and
  // OpenSSL's reason); Unavailable when it cannot be bound. `router` must outlive the server.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           const Router* router,
                                                           Authorizer authorizer = AllowAll());
  // Stops (as Stop) and frees everything.
  ~HttpServer();

  // Stops accepting, closes every connection (event streams included) and joins the threads.
  // Replies that arrive later are dropped. Idempotent.
  void Stop();

  int port() const;
  std::string address() const;  // HOST:PORT as bound
  bool tls() const;             // serving HTTPS

  struct Impl;  // the sessions of http_server.cc use it; not for callers

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sparsescale::coordinator::http
