// Gatekeeper: the one place where every RPC of both services is admitted or refused, and where
// mutating calls are audited. Each handler calls Admit() before anything else: it finds the
// RPC's rule (auth/roles.h), checks the caller's client certificate for worker calls when
// mutual TLS is on, the bearer token and its role (auth::TokenRegistry::Authorize), a worker
// token's binding to the worker id it names, and the token's rate limit on mutating calls.
// A refused call touches no table except the audit log (as a summarised row). After a mutating
// call ends, Finished() queues its audit row; a flusher thread writes queued rows, and tokens'
// last use, through the store's writer every flush period (one operation per flush, never on
// the caller's path).
//
// It also serves the admin RPCs CreateToken, ListTokens, RevokeToken and ListAudit, and on the
// first start with tokens on writes an admin token to a file (mode 0600).
//
// Thread-safety: thread-safe. It must be destroyed before the core it writes through.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"
#include "coordinator/auth/audit_buffer.h"
#include "coordinator/auth/rate_limiter.h"
#include "coordinator/auth/roles.h"
#include "coordinator/auth/token_registry.h"
#include "coordinator/core/core.h"

namespace sparsescale::coordinator {

struct AuthOptions {
  // Tokens required on every call (--auth tokens). Off: every caller is admitted (as an
  // anonymous admin); calls are still audited.
  bool tokens = false;
  // Worker-service calls must come with a client certificate that the server verified against
  // --tls-client-ca (mutual TLS for workers).
  bool worker_client_certs = false;
  auth::RateLimit rate;
  // Where the first start with tokens on writes the admin token; "" = "<db>.admin-token".
  std::string admin_token_file;
  std::chrono::milliseconds audit_flush_period{500};
};

class Gatekeeper {
 public:
  struct Caller {
    auth::Principal principal;
    const auth::RpcRule* rule = nullptr;
  };

  // Loads the tokens; with tokens on and none stored, creates the admin token and writes its
  // file (Internal naming the file when it cannot be written).
  static absl::StatusOr<std::unique_ptr<Gatekeeper>> Start(CoordinatorCore* core,
                                                           const AuthOptions& options);
  // Writes what is queued and stops the flusher.
  ~Gatekeeper();

  // `method` is "ClientService.SubmitJob"; `request` may be null (client streams). Errors:
  // UNAUTHENTICATED, PERMISSION_DENIED (naming the role needed), RESOURCE_EXHAUSTED.
  absl::StatusOr<Caller> Admit(grpc::CallbackServerContext* ctx, std::string_view method,
                               const google::protobuf::Message* request);
  // PermissionDenied when `caller` is a worker token that did not register `worker_id`.
  absl::Status CheckWorker(const Caller& caller, const std::string& worker_id) const;
  // PermissionDenied, naming the job, attempt and holder, when `caller` is a worker token that
  // did not register `holder`, the worker holding the lease of the attempt `request` names.
  absl::Status CheckRendezvous(const Caller& caller, const v1::RendezvousRequest& request,
                               const std::string& holder) const;
  // Audits a mutating call that was admitted (object: from the request, else the response);
  // after a RegisterWorker by a worker token, binds the new worker id to the token.
  void Finished(const Caller& caller, const google::protobuf::Message* request,
                const google::protobuf::Message* response, const absl::Status& status);

  // Admin RPCs. `done` runs once, on any thread.
  void CreateToken(const v1::CreateTokenRequest& request, v1::CreateTokenResponse* response,
                   CoordinatorCore::Done done);
  void ListTokens(v1::ListTokensResponse* response, CoordinatorCore::Done done);
  void RevokeToken(const v1::RevokeTokenRequest& request, v1::RevokeTokenResponse* response,
                   CoordinatorCore::Done done);
  void ListAudit(const v1::ListAuditRequest& request, v1::ListAuditResponse* response,
                 CoordinatorCore::Done done);

  auth::TokenRegistry& registry() { return *registry_; }
  const AuthOptions& options() const { return options_; }
  // Writes the queued audit rows now; `done` after their commit.
  void Flush(CoordinatorCore::Done done);

 private:
  Gatekeeper(CoordinatorCore* core, const AuthOptions& options);
  absl::Status Bootstrap();
  void Refused(const Caller& caller, std::string_view method, const absl::Status& status);
  void FlushLoop();

  CoordinatorCore* const core_;
  const AuthOptions options_;
  std::unique_ptr<auth::TokenRegistry> registry_;
  auth::RateLimiter limiter_;
  auth::AuditBuffer audit_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread flusher_;
};

// The object a call acted on: the request's id, job_id, sweep_id or worker_id field, else the
// response's (or its job, sweep or token's id). "" when there is none.
std::string ObjectOf(const google::protobuf::Message* request,
                     const google::protobuf::Message* response);

}  // namespace sparsescale::coordinator
